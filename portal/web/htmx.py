"""One render(): a fragment for targeted htmx requests, the full page otherwise; plus toasts."""

from __future__ import annotations

import json
from collections.abc import Mapping

from flask import Response, flash, g, make_response, render_template
from werkzeug.urls import iri_to_uri

from portal.extensions import htmx


def is_targeted_htmx() -> bool:
    """An htmx request that swaps part of a page (not a boosted navigation or history restore)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def is_targeting(target: str) -> bool:
    """A targeted htmx request that swaps the element with this id (HX-Target)."""
    return is_targeted_htmx() and htmx.target == target


def notify(message: str, level: str = "success", *, key: str = "", sticky: bool = False) -> None:
    """Queue a toast: sent as an HX-Trigger event to htmx, or flashed for a full page.

    A `key` makes a later toast with the same key replace this one (progress, then its end);
    a `sticky` toast stays until replaced or closed."""
    toast: dict[str, object] = {"message": str(message), "level": level}
    if key:
        toast["key"] = key
    if sticky:
        toast["sticky"] = True
    g.setdefault("toasts", []).append(toast)


def render(
    template: str,
    partials: str | Mapping[str, str] | None = None,
    *,
    status: int = 200,
    **context: object,
) -> Response:
    """Render a page, or for a targeted htmx request the partial it asks for.

    `partials` is either one partial template or a mapping from HX-Target element id to the
    partial that renders that element, so one view can serve several targets of its page.
    """
    name = template
    if partials and is_targeted_htmx():
        name = partials if isinstance(partials, str) else partials.get(htmx.target or "", template)
    if name == template:
        context.setdefault("is_full_page", True)
    response = make_response(render_template(name, **context), status)
    return finish(response)


def finish(response: Response) -> Response:
    """Attach pending toasts and the Vary header every page/fragment response needs."""
    response.vary.add("HX-Request")
    toasts = g.pop("toasts", [])
    if not toasts:
        return response
    if bool(htmx) and not htmx.history_restore_request:
        # One toast as an object, several as a list (portal.js shows each).
        trigger = {"showToast": toasts[-1] if len(toasts) == 1 else toasts}
        existing = response.headers.get("HX-Trigger")
        if existing:
            trigger.update(json.loads(existing))
        # Header values must be ASCII: json escapes Chinese as \\uXXXX, which htmx decodes.
        response.headers["HX-Trigger"] = json.dumps(trigger)
    else:
        for toast in toasts:
            flash(toast["message"], toast["level"])
    return response


def hx_redirect(url: str) -> Response:
    """Redirect the whole browser: HX-Redirect for htmx, a 303 otherwise."""
    # Header values travel as Latin-1: a non-ASCII path or query (a `next` with 中文) is
    # percent-encoded, as werkzeug does for Location, instead of failing in the server.
    url = iri_to_uri(url)
    if bool(htmx):
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
    else:
        response = make_response("", 303)
        response.headers["Location"] = url
    return finish(response)


def no_swap(status: int = 200) -> Response:
    """An htmx answer that changes nothing on the page (the toast carries the message)."""
    response = make_response("", status)
    response.headers["HX-Reswap"] = "none"
    return finish(response)


def with_trigger(response: Response, event: str, detail: object = True) -> Response:
    """Add an htmx event to HX-Trigger without dropping the toasts already in it."""
    existing = response.headers.get("HX-Trigger")
    trigger = json.loads(existing) if existing else {}
    trigger[event] = detail
    response.headers["HX-Trigger"] = json.dumps(trigger)
    return response

"""Login sessions: cookies carry a per-user epoch; unauthorised requests go to the login page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, make_response, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from portal.domain.accounts import user_with_shop
from portal.extensions import htmx, login_manager
from portal.models import User


def configure_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(unauthorized)


def load_user(session_id: str) -> User | None:
    """Sessions are `<user id>:<epoch>`; a bumped epoch (logout, new password) ends them all."""
    user_id, _, epoch = session_id.partition(":")
    if not (user_id.isdigit() and epoch.isdigit()):
        return None
    # The user's shop (its own or its owner's) comes in the same query: every desk request
    # asks for it.
    user = user_with_shop(int(user_id))
    if user is None or user.session_epoch != int(epoch) or not user.active:
        return None
    return user


def safe_next(target: str | None) -> str | None:
    """Accept only a path on this site: no scheme, no host, no protocol-relative tricks."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return None
    if target.startswith(("//", "/\\")) or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


def _current_page() -> str | None:
    """For htmx, the page the user is on (HX-Current-URL), not the fragment's URL."""
    if htmx and htmx.current_url:
        parts = urlsplit(htmx.current_url)
        if parts.netloc == request.host:
            return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
        return None
    if request.method == "GET":
        return safe_next(request.full_path.rstrip("?"))
    return None


def unauthorized() -> Response:
    if request.blueprint and request.blueprint.split(".")[0] == "api":
        response = jsonify(error={"code": "unauthorized", "message": str(_l("请先登录"))})
        response.status_code = 401
        return response
    login_url = url_for("auth.login", next=_current_page())
    if htmx:
        # Never swap the login page into a fragment: send the whole browser there.
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login_url
        response.vary.add("HX-Request")
        return response
    return redirect(login_url)

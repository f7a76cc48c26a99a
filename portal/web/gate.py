"""The role gate each blueprint installs, and the current tenant's profile (web side; the
tenant scope of queries is portal.domain.authz)."""

from __future__ import annotations

from flask import Blueprint, abort, g, request, url_for
from flask_login import current_user

from portal.domain.permissions import may_use_endpoint
from portal.extensions import login_manager
from portal.models import Merchant, Supplier
from portal.models.accounts import ROLE_MERCHANT, ROLE_SUPPLIER
from portal.web.htmx import hx_redirect

PROFILE_TYPES = {ROLE_MERCHANT: Merchant, ROLE_SUPPLIER: Supplier}
# A member whose password someone else chose may only change it (or log out) until they do.
FIRST_LOGIN_ENDPOINTS = {"account.change_password"}


def install_role_gate(bp: Blueprint, role: str | None) -> None:
    """Every route of `bp` needs a logged-in user; with `role`, exactly that role (else 403);
    and the route's permission (portal/domain/permissions.py) for the user's place in its shop."""

    @bp.before_request
    def role_gate() -> object:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        user = current_user._get_current_object()
        if user.must_change_password and request.endpoint not in FIRST_LOGIN_ENDPOINTS:
            return hx_redirect(url_for("account.change_password"))
        if role is not None:
            if user.role is None:
                return hx_redirect(url_for("account.choose_role"))
            if user.role != role:
                abort(403)
            g.profile = user.shop_profile
            # role set but profile row missing: never serve tenant data
            if not isinstance(g.profile, PROFILE_TYPES[role]):
                abort(403)
        if not may_use_endpoint(user, request.endpoint):
            abort(403)
        return None


def current_merchant() -> Merchant:
    profile = g.get("profile")
    if not isinstance(profile, Merchant):
        abort(403)
    return profile


def current_supplier() -> Supplier:
    profile = g.get("profile")
    if not isinstance(profile, Supplier):
        abort(403)
    return profile


def home_endpoint_for(user: object) -> str:
    role = getattr(user, "role", None)
    if role == ROLE_MERCHANT:
        return "merchant.dashboard"
    if role == ROLE_SUPPLIER:
        return "supplier.dashboard"
    return "account.choose_role"


def current_user_may(endpoint: str) -> bool:
    """For templates: show a link, button or form only to members who may use the route it
    calls — the same table (portal/domain/permissions.py) the route's gate checks.

    Answered once per endpoint, user and request: a desk asks it for every row."""
    user = current_user._get_current_object()
    cached: tuple[object, dict[str, bool]] | None = g.get("_may")
    if cached is None or cached[0] is not user:  # a login or logout within the request
        cached = g._may = (user, {})
    answers = cached[1]
    answer = answers.get(endpoint)
    if answer is None:
        answer = answers[endpoint] = bool(
            user.is_authenticated and may_use_endpoint(user, endpoint)
        )
    return answer

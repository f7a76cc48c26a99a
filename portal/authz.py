"""Authorization: the role gate each blueprint installs, and the current tenant's profile."""

from __future__ import annotations

from flask import Blueprint, abort, g, url_for
from flask_login import current_user

from portal.extensions import login_manager
from portal.htmx import hx_redirect
from portal.models import Merchant, Supplier
from portal.models.accounts import ROLE_MERCHANT, ROLE_SUPPLIER


def install_role_gate(bp: Blueprint, role: str | None) -> None:
    """Every route of `bp` needs a logged-in user; with `role`, exactly that role (else 403)."""

    @bp.before_request
    def role_gate() -> object:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if role is None:
            return None
        if current_user.role is None:
            return hx_redirect(url_for("account.choose_role"))
        if current_user.role != role:
            abort(403)
        g.profile = current_user.merchant if role == ROLE_MERCHANT else current_user.supplier
        if g.profile is None:  # role set but profile row missing: never serve tenant data
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

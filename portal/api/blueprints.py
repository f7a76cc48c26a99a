"""The /api/v1 blueprint and the role blueprints nested in it (each with its role gate)."""

from __future__ import annotations

from flask import Blueprint

from portal.api.base import API_PREFIX, authenticate_request, install_api_role_gate
from portal.models.accounts import ROLE_MERCHANT, ROLE_SUPPLIER

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
bp.before_request(authenticate_request)

merchant_bp = Blueprint("merchant", __name__)
install_api_role_gate(merchant_bp, ROLE_MERCHANT)

supplier_bp = Blueprint("supplier", __name__)
install_api_role_gate(supplier_bp, ROLE_SUPPLIER)

bp.register_blueprint(merchant_bp)
bp.register_blueprint(supplier_bp)

"""API endpoints for both roles, and the parent blueprint the role-specific ones nest in."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from portal import bindings
from portal.api import allocation as allocation_api  # noqa: F401  (registers on both role blueprints)
from portal.api import analytics as analytics_api  # noqa: F401  (registers on both role blueprints)
from portal.api import dispatch as dispatch_api  # noqa: F401  (registers its routes on merchant_api.bp)
from portal.api import merchant as merchant_api
from portal.api import orders as orders_api  # noqa: F401  (registers its routes on merchant_api.bp)
from portal.api import prices as prices_api  # noqa: F401  (registers on supplier_api.bp)
from portal.api import serializers
from portal.api import supplier as supplier_api
from portal.api import supplier_orders as supplier_orders_api  # noqa: F401  (registers on supplier_api.bp)
from portal.api.base import api_user, authenticate_request, list_answer
from portal.api.openapi import build_spec
from portal.extensions import db
from portal.models import Merchant

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(authenticate_request)
bp.register_blueprint(merchant_api.bp)
bp.register_blueprint(supplier_api.bp)
from portal.api import statements as statements_api  # noqa: E402, F401  (needs bp: 对账单 routes register on bp and both role blueprints)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec())


@bp.get("/me")
def me() -> Response:
    return jsonify(serializers.me(api_user()))


@bp.get("/bindings")
def binding_list() -> Response:
    return list_answer(bindings.bindings_query(g.profile), serializers.binding)


@bp.delete("/bindings/<int:binding_id>")
def binding_end(binding_id: int) -> Response:
    profile = g.profile
    if isinstance(profile, Merchant):
        binding = bindings.get_binding_for_merchant(profile, binding_id)
    else:
        binding = bindings.get_binding_for_supplier(profile, binding_id)
    cancelled = bindings.end_binding(binding, api_user().role)
    db.session.commit()
    return jsonify(status=binding.status, cancelled_assignments=cancelled)

"""API endpoints for suppliers (factories)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from portal import bindings
from portal.api import serializers
from portal.api.base import install_api_role_gate
from portal.authz import current_supplier
from portal.extensions import db
from portal.models.accounts import ROLE_SUPPLIER

bp = Blueprint("supplier", __name__)
install_api_role_gate(bp, ROLE_SUPPLIER)


@bp.post("/bindings/<int:binding_id>/accept")
def binding_accept(binding_id: int) -> Response:
    binding = bindings.accept_binding(current_supplier(), binding_id)
    db.session.commit()
    return jsonify(serializers.binding(binding))


@bp.post("/bindings/<int:binding_id>/reject")
def binding_reject(binding_id: int) -> Response:
    binding = bindings.reject_binding(current_supplier(), binding_id)
    db.session.commit()
    return jsonify(serializers.binding(binding))

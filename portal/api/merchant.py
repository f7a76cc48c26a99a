"""API endpoints for merchants."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from portal import accounts, bindings
from portal.api import serializers
from portal.api.base import install_api_role_gate, items_answer, json_body, string_field
from portal.authz import current_merchant
from portal.extensions import db
from portal.models.accounts import ROLE_MERCHANT

bp = Blueprint("merchant", __name__)
install_api_role_gate(bp, ROLE_MERCHANT)


@bp.post("/bindings")
def binding_create() -> Response:
    body = json_body()
    binding = bindings.apply_for_binding(
        current_merchant(),
        string_field(body, "supplier_shop_id"),
        string_field(body, "message", required=False),
    )
    db.session.commit()
    return jsonify(serializers.binding(binding)), 201


@bp.get("/return-addresses")
def return_address_list() -> Response:
    return items_answer(
        accounts.list_return_addresses(current_merchant()), serializers.return_address
    )


@bp.post("/return-addresses")
def return_address_create() -> Response:
    body = json_body()
    make_default = body.get("is_default", False)
    if not isinstance(make_default, bool):
        make_default = False
    address = accounts.add_return_address(
        current_merchant(),
        accounts.AddressInput(
            contact_name=string_field(body, "contact_name"),
            phone=string_field(body, "phone"),
            province=string_field(body, "province"),
            city=string_field(body, "city"),
            district=string_field(body, "district", required=False),
            detail=string_field(body, "detail"),
        ),
        make_default=make_default,
    )
    db.session.commit()
    return jsonify(serializers.return_address(address)), 201

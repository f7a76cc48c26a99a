"""API endpoints for merchants: binding applications and return addresses."""

from __future__ import annotations

from flask import Response, jsonify

from portal import accounts, bindings
from portal.api import schemas, serializers
from portal.api.base import endpoint, items_answer
from portal.api.blueprints import merchant_bp as bp
from portal.authz import current_merchant
from portal.extensions import db


@bp.post("/bindings")
@endpoint(
    schemas.Binding,
    status=201,
    errors={409: "already_bound", 422: "invalid_shop_id，或 validation_error"},
)
def binding_create(json: schemas.BindingInput) -> tuple[Response, int]:
    """商家按厂家店铺ID申请绑定"""
    binding = bindings.apply_for_binding(current_merchant(), json.supplier_shop_id, json.message)
    db.session.commit()
    return jsonify(serializers.binding(binding)), 201


@bp.get("/return-addresses")
@endpoint(schemas.ReturnAddressList)
def return_address_list() -> Response:
    """退货地址列表"""
    return items_answer(
        accounts.list_return_addresses(current_merchant()), serializers.return_address
    )


@bp.post("/return-addresses")
@endpoint(schemas.ReturnAddress, status=201)
def return_address_create(json: schemas.ReturnAddressInput) -> tuple[Response, int]:
    """新增退货地址"""
    address = accounts.add_return_address(
        current_merchant(),
        accounts.AddressInput(
            contact_name=json.contact_name,
            phone=json.phone,
            province=json.province,
            city=json.city,
            district=json.district,
            detail=json.detail,
        ),
        make_default=json.is_default,
    )
    db.session.commit()
    return jsonify(serializers.return_address(address)), 201

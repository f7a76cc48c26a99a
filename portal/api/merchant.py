"""API endpoints for merchants: binding applications, return addresses and label settings."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask.views import MethodView

from portal.api import schemas, serializers
from portal.api.base import endpoint, items_answer
from portal.api.blueprints import merchant_bp as bp
from portal.domain import accounts, bindings
from portal.extensions import db
from portal.web.gate import current_merchant


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


def _label_settings() -> Response:
    merchant = current_merchant()
    return jsonify({"label_style": merchant.label_style, "slip_prices": merchant.slip_prices})


@bp.get("/label-settings")
@endpoint(schemas.LabelSettings)
def label_settings_get() -> Response:
    """面单与发货单设置：隐私面单、发货单是否显示价格"""
    return _label_settings()


@bp.patch("/label-settings")
@endpoint(schemas.LabelSettings)
def label_settings_patch(json: schemas.LabelSettingsPatch) -> Response:
    """修改面单与发货单设置（只改给出的字段）"""
    merchant = current_merchant()
    accounts.update_merchant_settings(
        merchant,
        label_style=json.label_style or merchant.label_style,
        auto_dispatch=merchant.auto_dispatch,
        slip_prices=json.slip_prices,
    )
    db.session.commit()
    return _label_settings()


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


def _own_address() -> None:
    """Another merchant's (or an archived) address is a 404, whatever the body says."""
    accounts.current_return_address(current_merchant(), request.view_args["address_id"])


class ReturnAddressView(MethodView):
    """PATCH and DELETE on one rule: with a rule per method, an id beyond the column range
    (refused by the id converter) would be answered 405 for the method werkzeug tried second."""

    @endpoint(
        schemas.ReturnAddress,
        errors={
            404: "不存在或不属于当前商家",
            422: "validation_error、invalid_phone、invalid_region",
        },
        guard=_own_address,
    )
    def patch(self, address_id: int, json: schemas.ReturnAddressPatch) -> Response:
        """修改退货地址（字段同新增，均可省略）；已发货订单用过的地址会存档并换成新地址（新 id）"""
        merchant = current_merchant()
        address = accounts.current_return_address(merchant, address_id)
        sent = json.model_dump(exclude={"is_default"})
        values = {name: getattr(address, name) if v is None else v for name, v in sent.items()}
        updated = accounts.update_return_address(
            merchant, address.id, accounts.AddressInput(**values), make_default=json.is_default
        )
        db.session.commit()
        return jsonify(serializers.return_address(updated))

    @endpoint(status=204, errors={404: "不存在或不属于当前商家"})
    def delete(self, address_id: int) -> Response:
        """删除退货地址；已发货订单用过的地址会存档，这些订单保留原地址"""
        accounts.delete_return_address(current_merchant(), address_id)
        db.session.commit()
        return Response(status=204)


bp.add_url_rule(
    "/return-addresses/<int:address_id>",
    view_func=ReturnAddressView.as_view("return_address"),
    methods=["PATCH", "DELETE"],
)

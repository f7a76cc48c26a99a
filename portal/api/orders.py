"""API endpoints for a merchant's orders and their allocation to bound suppliers (DESIGN §8.2).

Registered on the merchant API blueprint, so its role gate covers every route here.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import false
from sqlalchemy.orm import joinedload

from portal import allocation
from portal.api import serializers
from portal.api.base import api_user, json_body, string_field, walk_answer
from portal.api.merchant import bp
from portal.authz import current_merchant
from portal.bindings import find_supplier_by_shop_id
from portal.errors import DomainError
from portal.extensions import db
from portal.imports.platform_export import ImportFileError, open_platform_export
from portal.keyring import current_keyring
from portal.models import Merchant, Order, Supplier
from portal.orders.inputs import parse_orders
from portal.orders.queries import (
    TAB_ALL,
    TABS,
    OrderFilters,
    get_order_for_merchant,
    orders_query,
    receiver_for_merchant,
)
from portal.orders.upsert import upsert_orders
from portal.pagination import since_arg
from portal.tracking import tracking_numbers_for
from portal.transactions import commit_batch, read_upload_lazily

MAX_ORDERS_PER_UPSERT = 1000
MAX_ORDER_NOS_PER_BATCH = 10_000


def _order_answer(
    merchant: Merchant, order: Order, tracking: dict[int, list[tuple[str, str]]] | None = None
) -> dict[str, Any]:
    """Decrypts the receiver: call it only for orders actually sent back."""
    if tracking is None:
        tracking = tracking_numbers_for([order.id])
    return serializers.order(
        order,
        receiver_for_merchant(current_keyring(), merchant, order),
        tracking.get(order.id, []),
    )


def _page_answers(merchant: Merchant, orders: list[Order]) -> list[dict[str, Any]]:
    """A page of orders with their tracking numbers loaded in one query for the page."""
    tracking = tracking_numbers_for([order.id for order in orders])
    return [_order_answer(merchant, order, tracking) for order in orders]


def _array_field(body: dict[str, Any], name: str, limit: int, too_many: str | None) -> list:
    value = body.get(name)
    if value is None:
        raise DomainError("validation_error", f"缺少字段 {name}", field=name)
    if not isinstance(value, list):
        raise DomainError("validation_error", f"字段 {name} 必须是数组", field=name)
    if len(value) > limit:
        raise DomainError("too_many_orders", too_many, field=name)
    return value


def _order_nos(body: dict[str, Any]) -> list[str]:
    order_nos = _array_field(
        body,
        "order_nos",
        MAX_ORDER_NOS_PER_BATCH,
        f"一次最多提交 {MAX_ORDER_NOS_PER_BATCH} 个订单号",
    )
    for index, value in enumerate(order_nos):
        if not isinstance(value, str):
            path = f"order_nos[{index}]"
            raise DomainError("validation_error", f"{path} 必须是字符串（订单号）", field=path)
    if not order_nos:
        raise DomainError("nothing_selected", field="order_nos")
    return order_nos


@bp.post("/orders")
def order_upsert() -> Response:
    items = _array_field(
        json_body(per_item_text_checks=True), "orders", MAX_ORDERS_PER_UPSERT, None
    )
    parsed = parse_orders(items)
    result = upsert_orders(current_keyring(), current_merchant(), parsed.orders)
    db.session.commit()
    return jsonify(serializers.upsert_result(result, parsed.rejected))


@bp.post("/orders/import")
def order_import() -> Response:
    upload = request.files.get("file")
    if upload is None:
        raise DomainError(
            "validation_error", "请以 multipart/form-data 上传文件，字段名为 file", field="file"
        )
    filename = upload.filename or ""
    try:
        # Read through once before anything is written, outside any transaction: a file-level
        # error found late imports nothing, and parsing never holds the write lock. Then import
        # in batches, each committed (as the background import does).
        for _row in read_upload_lazily(lambda: open_platform_export(upload.stream, filename)):
            pass
        upload.stream.seek(0)
        rows = open_platform_export(upload.stream, filename)
        result = upsert_orders(
            current_keyring(), current_merchant(), rows, after_batch=commit_batch
        )
    except ImportFileError as error:
        code = "missing_columns" if error.code == "missing_columns" else "invalid_file"
        raise DomainError(code, error.message, field="file", columns=error.columns) from None
    db.session.commit()
    return jsonify(serializers.upsert_result(result))


@bp.get("/orders")
def order_list() -> Response:
    merchant = current_merchant()
    stage = request.args.get("stage", TAB_ALL)
    if stage not in TABS:
        raise DomainError("validation_error", f"stage 必须是 {'、'.join(TABS)} 之一", field="stage")
    shop_id = request.args.get("supplier_shop_id", "").strip()
    supplier = find_supplier_by_shop_id(shop_id) if shop_id else None
    filters = OrderFilters(
        tab=stage, supplier_id=supplier.id if supplier else None, q=request.args.get("q", "")
    )
    query = orders_query(current_keyring(), merchant, filters).options(
        joinedload(Order.supplier).joinedload(Supplier.user)
    )
    if shop_id and supplier is None:
        query = query.where(false())  # no such supplier: no orders, without saying more
    since = since_arg()
    if since is not None:
        query = query.where(Order.updated_at >= since)
    return walk_answer(
        query,
        Order.id,
        lambda order: order.id,
        lambda orders: _page_answers(merchant, orders),
        entities=True,
    )


@bp.get("/orders/<order_no>")
def order_detail(order_no: str) -> Response:
    merchant = current_merchant()
    return jsonify(_order_answer(merchant, get_order_for_merchant(merchant, order_no)))


@bp.post("/orders/<order_no>/acknowledge-address")
def order_acknowledge_address(order_no: str) -> Response:
    merchant = current_merchant()
    order = get_order_for_merchant(merchant, order_no)
    if not allocation.acknowledge_address(merchant, order, api_user()):
        raise DomainError("no_address_change")
    db.session.commit()
    return jsonify(_order_answer(merchant, order))


@bp.post("/allocations")
def allocation_create() -> Response:
    body = json_body()
    order_nos = _order_nos(body)
    # Unknown, not a supplier, or not actively bound: every order is refused `not_bound`.
    supplier = find_supplier_by_shop_id(string_field(body, "supplier_shop_id"))
    result = allocation.assign_orders(current_merchant(), order_nos, supplier, api_user())
    db.session.commit()
    return jsonify(
        assigned=result.done, refused=[serializers.refusal(item) for item in result.refused]
    )


@bp.post("/allocations/cancel")
def allocation_cancel() -> Response:
    order_nos = _order_nos(json_body())
    result = allocation.cancel_assignments(current_merchant(), order_nos, api_user())
    db.session.commit()
    return jsonify(
        cancelled=result.done, refused=[serializers.refusal(item) for item in result.refused]
    )

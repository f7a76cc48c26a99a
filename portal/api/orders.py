"""API endpoints for a merchant's orders and their allocation to bound suppliers (DESIGN §8.2).

Registered on the merchant API blueprint, so its role gate covers every route here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request
from pydantic import ValidationError

from portal.api import schemas, serializers
from portal.api.base import api_user, endpoint, json_path, uploaded_file, walk_answer
from portal.api.blueprints import merchant_bp as bp
from portal.domain import allocation
from portal.domain.authz import get_or_404
from portal.domain.bindings import find_supplier_by_shop_id, shop_refs
from portal.domain.errors import DomainError
from portal.domain.imports.mappings import saved_mappings
from portal.domain.imports.platform_export import ImportFileError, open_platform_export
from portal.domain.keyring import current_keyring
from portal.domain.orders.edits import edit_receiver, set_note
from portal.domain.orders.inputs import InputError, parse_orders, parse_receiver_patch
from portal.domain.orders.lines import GoodsLine, lines_by_order
from portal.domain.orders.queries import (
    OrderFilters,
    orders_of_supplier_shop_query,
    receiver_for_merchant,
)
from portal.domain.orders.upsert import upsert_orders
from portal.domain.tracking import ParcelMates, parcel_mates_by_order, tracking_numbers_for
from portal.extensions import db
from portal.models import Merchant, Order
from portal.transactions import commit_batch, read_upload_lazily
from portal.web.gate import current_merchant
from portal.web.pagination import since_arg

NOT_FOUND = {404: "不存在或不属于当前账号"}
FILE_ERRORS = {
    413: "文件超过 20 MB",
    422: "missing_columns（缺少必需的列，message 列出列名）或 invalid_file（无法读取）；"
    "这两种情况下不导入任何内容",
}
BATCH_ERRORS = {
    422: "order_nos 缺失、为空（nothing_selected）或超过上限（too_many_orders），"
    "或字段类型不对（validation_error）"
}


def _order_answer(
    merchant: Merchant,
    order: Any,
    tracking: dict[int, list[tuple[str, str]]] | None = None,
    lines: dict[int, list[GoodsLine]] | None = None,
    mates: dict[int, ParcelMates] | None = None,
    suppliers: Mapping[int, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Decrypts the receiver: call it only for orders actually sent back. `order` is an Order,
    or a row of its columns with the page's `suppliers` (shop_ref by id)."""
    if suppliers is None:
        suppliers = (
            {order.supplier_id: serializers.shop_ref(order.supplier)} if order.supplier_id else {}
        )
    if tracking is None:
        tracking = tracking_numbers_for([order.id])
    if lines is None:
        lines = lines_by_order([order])
    if mates is None:
        mates = parcel_mates_by_order(merchant, [order.id]) if tracking.get(order.id) else {}
    return serializers.order(
        order,
        receiver_for_merchant(current_keyring(), merchant, order),
        tracking.get(order.id, []),
        lines.get(order.id),
        mates.get(order.id),
        suppliers.get(order.supplier_id) if order.supplier_id else None,
    )


def _page_answers(merchant: Merchant, orders: list[Any]) -> list[dict[str, Any]]:
    """A page of orders with their tracking numbers, goods lines and parcel mates, one query
    each (the mates only for orders with a tracking number)."""
    tracking = tracking_numbers_for([order.id for order in orders])
    lines = lines_by_order(orders)
    mates = parcel_mates_by_order(merchant, [order.id for order in orders if order.id in tracking])
    suppliers = shop_refs(merchant, {order.supplier_id for order in orders if order.supplier_id})
    return [_order_answer(merchant, order, tracking, lines, mates, suppliers) for order in orders]


def _unknown_fields(item: object, path: str) -> None:
    """An order with a field the schema does not know is refused (per order, named)."""
    try:
        schemas.OrderInput.model_validate(item)
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            if problem["type"] == "extra_forbidden":
                field = json_path([path, *problem["loc"]])
                raise InputError("validation_error", field, f"未知字段 {field}") from None


@bp.post("/orders")
@endpoint(schemas.UpsertResult, raw_text=True)
def order_upsert(json: schemas.OrderBatch) -> Response:
    """批量新增或更新订单（按订单号）

    每个订单独立校验；同一订单再次提交且内容未变计为 unchanged。已分配未回传的订单出现售后、
    审核或取消时自动取消分配；收货信息变化时阻止打单，直到商家确认新地址。
    """
    parsed = parse_orders(json.orders, precheck=_unknown_fields)
    result = upsert_orders(current_keyring(), current_merchant(), parsed.orders)
    db.session.commit()
    return jsonify(serializers.upsert_result(result, parsed.rejected))


def import_file_error(error: ImportFileError) -> DomainError:
    code = "missing_columns" if error.code == "missing_columns" else "invalid_file"
    return DomainError(code, error.message, field="file", columns=error.columns)


@bp.post("/orders/import")
@endpoint(schemas.UpsertResult, errors=FILE_ERRORS)
def order_import(form: schemas.Upload) -> Response:
    """导入平台订单导出文件（CSV 或 XLSX）

    UTF-8、UTF-8 BOM、GBK/GB18030 编码的 CSV 或 .xlsx；逐行校验，被拒绝的行带 row 行号。
    """
    upload = uploaded_file(form)
    filename = upload.filename or ""
    try:
        # Read through once before anything is written, outside any transaction: a file-level
        # error found late imports nothing, and parsing never holds the write lock. Then import
        # in batches, each committed (as the background import does).
        mappings = saved_mappings(current_merchant())
        for _row in read_upload_lazily(
            lambda: open_platform_export(upload.stream, filename, mappings=mappings)
        ):
            pass
        upload.stream.seek(0)
        rows = open_platform_export(upload.stream, filename, mappings=mappings)
        result = upsert_orders(
            current_keyring(), current_merchant(), rows, after_batch=commit_batch
        )
    except ImportFileError as error:
        raise import_file_error(error) from None
    db.session.commit()
    return jsonify({**serializers.upsert_result(result), "platform": rows.platform})


@bp.get("/orders")
@endpoint(schemas.OrderList)
def order_list(query: schemas.OrderQuery) -> Response:
    """订单列表（含完整收货信息）"""
    merchant = current_merchant()
    filters = OrderFilters(tab=query.stage, q=query.q, flag=query.flag, updated_since=since_arg())
    orders = orders_of_supplier_shop_query(
        current_keyring(), merchant, filters, query.supplier_shop_id.strip()
    )
    return walk_answer(
        orders,
        Order.id,
        lambda order: order.id,
        lambda page: _page_answers(merchant, page),
        query,
        entities=False,
    )


@bp.get("/orders/<order_no>")
@endpoint(schemas.Order, errors=NOT_FOUND)
def order_detail(order_no: str) -> Response:
    """订单详情"""
    merchant = current_merchant()
    return jsonify(_order_answer(merchant, get_or_404(Order, merchant, order_no=order_no)))


@bp.post("/orders/<order_no>/acknowledge-address")
@endpoint(
    schemas.Order,
    errors={**NOT_FOUND, 409: "no_address_change：没有待确认的地址变更"},
)
def order_acknowledge_address(order_no: str) -> Response:
    """确认收货信息变更（厂家可重新打单）"""
    merchant = current_merchant()
    order = get_or_404(Order, merchant, order_no=order_no)
    if not allocation.acknowledge_address(merchant, order, api_user()):
        raise DomainError("no_address_change")
    db.session.commit()
    return jsonify(_order_answer(merchant, order))


def _own_order() -> None:
    """Another merchant's order is 404 whatever the body says (endpoint's guard)."""
    get_or_404(Order, current_merchant(), order_no=request.view_args["order_no"])


@bp.patch("/orders/<order_no>/receiver")
@endpoint(
    schemas.Order,
    errors={
        **NOT_FOUND,
        409: "tracking_returned：厂家已回传运单号，不能再修改收货信息",
        422: "invalid_phone、field_too_long（error.field 为字段名）",
    },
    guard=_own_order,
)
def order_receiver_update(order_no: str, json: schemas.ReceiverPatch) -> Response:
    """修改收货信息

    与导入相同的校验、加密和脱敏；已分配的订单视为商家已确认的地址变更（厂家看到「地址已修改」，
    已打印的面单需要重新打印）。厂家回传运单号后拒绝（409 tracking_returned）。
    """
    merchant = current_merchant()
    order = get_or_404(Order, merchant, order_no=order_no)
    try:
        changes = parse_receiver_patch(json.model_dump(exclude_none=True))
    except InputError as error:
        raise DomainError(error.code, error.message, field=error.path) from None
    edit_receiver(current_keyring(), merchant, order, changes, api_user())
    db.session.commit()
    return jsonify(_order_answer(merchant, order))


@bp.put("/orders/<order_no>/note")
@endpoint(schemas.Order, errors=NOT_FOUND, guard=_own_order)
def order_note_put(order_no: str, json: schemas.NoteInput) -> Response:
    """给厂家的备注与旗帜

    备注 ≤ 200 字，厂家在工作台和面单上看到的是手机号、姓名样文字打码后的版本；旗帜 0–5
    只在商家自己的订单列表中显示，可按旗帜筛选（GET /orders?flag=）。
    """
    merchant = current_merchant()
    order = get_or_404(Order, merchant, order_no=order_no)
    set_note(current_keyring(), merchant, order, json.note, json.flag)
    db.session.commit()
    return jsonify(_order_answer(merchant, order))


@bp.post("/allocations")
@endpoint(schemas.AllocationResult, errors=BATCH_ERRORS)
def allocation_create(json: schemas.AllocationInput) -> Response:
    """批量分配订单给已绑定的厂家

    逐单结果，每个拒绝带原因码；未知或未绑定的厂家：所有订单以 not_bound 拒绝。
    """
    supplier = find_supplier_by_shop_id(json.supplier_shop_id)
    result = allocation.assign_orders(current_merchant(), json.order_nos, supplier, api_user())
    db.session.commit()
    return jsonify(
        assigned=result.done, refused=[serializers.refusal(item) for item in result.refused]
    )


@bp.post("/allocations/cancel")
@endpoint(schemas.CancelResult, errors=BATCH_ERRORS)
def allocation_cancel(json: schemas.CancelInput) -> Response:
    """取消分配（厂家回传运单号之前）"""
    result = allocation.cancel_assignments(current_merchant(), json.order_nos, api_user())
    db.session.commit()
    return jsonify(
        cancelled=result.done, refused=[serializers.refusal(item) for item in result.refused]
    )

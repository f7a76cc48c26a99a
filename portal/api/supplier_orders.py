"""API endpoints for a supplier's orders, print jobs and tracking numbers (DESIGN §6, §8.2).

Registered on the supplier API blueprint, so its role gate covers every route here. Orders are
read through the masked queries of the factory desk: no ciphertext is ever loaded here, except
by the print-job render, which puts the receiver on the waybill PDF (and is audited).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Bundle

from portal import tracking
from portal.api import serializers
from portal.api.base import api_user, json_body, walk_answer
from portal.api.supplier import bp
from portal.authz import current_supplier
from portal.bindings import normalize_shop_id
from portal.errors import DomainError
from portal.extensions import db
from portal.imports.tracking_file import ImportFileError, RowError, TrackingRow, open_tracking_file
from portal.keyring import current_keyring
from portal.models import Assignment, Merchant, Order, PrintJob, PrintJobOrder, Supplier, User
from portal.models.orders import STAGE_ASSIGNED
from portal.orders.search import order_search
from portal.pagination import since_arg
from portal.printing.jobs import (
    confirm_print_job,
    create_print_job,
    get_print_job_for_supplier,
    render_print_job,
    void_print_job,
)
from portal.printing.labels import DEFAULT_LABEL_SIZE
from portal.supplier_orders import (
    TAB_CANCELLED,
    TAB_DISPATCHED,
    TAB_PRINTED,
    TAB_RETURNED,
    TAB_TO_PRINT,
    TABS,
    SupplierFilters,
    masked_select,
    orders_query,
    tab_condition,
)
from portal.transactions import read_upload, writes_on_get

MAX_ORDER_NOS_PER_PRINT_JOB = 1000
MAX_TRACKING_ITEMS = 1000

# The API's stages over the desk's tabs: "assigned" is 待打印 + 已打印; no stage is every order
# the supplier currently holds. The desk's tab names are accepted as they are.
STAGE_TABS: dict[str, tuple[str, ...]] = {
    "": (TAB_TO_PRINT, TAB_PRINTED, TAB_RETURNED, TAB_DISPATCHED),
    "assigned": (TAB_TO_PRINT, TAB_PRINTED),
    **{tab: (tab,) for tab in TABS},
}
STAGES = tuple(stage for stage in STAGE_TABS if stage)


# --- request parsing ---------------------------------------------------------------------------


def _text(value: object, path: str, *, required: bool = True) -> str:
    """A JSON string the database can take (no lone surrogate, no NUL), else a 422 naming it."""
    if value is None:
        if required:
            raise DomainError("validation_error", f"缺少 {path}", field=path)
        return ""
    if not isinstance(value, str):
        raise DomainError("validation_error", f"{path} 必须是字符串", field=path)
    if "\x00" in value or _has_lone_surrogate(value):
        raise DomainError("validation_error", f"{path} 含有无效字符", field=path)
    return value


def _has_lone_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _array(body: dict[str, Any], name: str, limit: int) -> list[Any]:
    value = body.get(name)
    if value is None:
        raise DomainError("validation_error", f"缺少字段 {name}", field=name)
    if not isinstance(value, list):
        raise DomainError("validation_error", f"字段 {name} 必须是数组", field=name)
    if not value:
        raise DomainError("nothing_selected", field=name)
    if len(value) > limit:
        raise DomainError("too_many_orders", f"{name} 一次最多 {limit} 个", field=name)
    return value


def _tracking_items(body: dict[str, Any]) -> list[tracking.TrackingItem]:
    items = []
    for index, item in enumerate(_array(body, "items", MAX_TRACKING_ITEMS)):
        path = f"items[{index}]"
        if not isinstance(item, dict):
            raise DomainError("validation_error", f"{path} 必须是对象", field=path)
        extras = item.get("extra_tracking_nos")
        if extras is not None and not isinstance(extras, list):
            field = f"{path}.extra_tracking_nos"
            raise DomainError("validation_error", f"{field} 必须是字符串数组", field=field)
        items.append(
            tracking.TrackingItem(
                order_no=_text(item.get("order_no"), f"{path}.order_no").strip(),
                courier=_text(item.get("courier"), f"{path}.courier"),
                tracking_no=_text(item.get("tracking_no"), f"{path}.tracking_no"),
                extra_tracking_nos=tuple(
                    _text(number, f"{path}.extra_tracking_nos[{i}]")
                    for i, number in enumerate(extras or ())
                ),
            )
        )
    return items


# --- orders ------------------------------------------------------------------------------------


def _stage_query(supplier: Supplier, stage: str, now: datetime) -> Select[Any]:
    tabs = STAGE_TABS[stage]
    if len(tabs) == 1:
        query = orders_query(supplier, SupplierFilters(tab=tabs[0]), now)
        if tabs[0] == TAB_CANCELLED:
            query = query.add_columns(Assignment.assigned_at.label("assignment_assigned_at"))
        return query
    # Several tabs at once: the same masked columns and order as the desk's single tabs.
    return (
        masked_select(supplier)
        .where(or_(*(tab_condition(supplier, tab) for tab in tabs)))
        .order_by(Order.promise_ship_at.asc().nulls_last(), Order.id)
    )


@bp.get("/supplier/orders")
def order_list() -> Response:
    supplier = current_supplier()
    stage = request.args.get("stage", "").strip()
    if stage not in STAGE_TABS:
        message = f"stage 必须是 {'、'.join(STAGES)} 之一"
        raise DomainError("validation_error", message, field="stage")
    query = (
        _stage_query(supplier, stage, datetime.now(UTC))
        .join(User, User.id == Merchant.user_id)
        .add_columns(User.shop_id.label("merchant_shop_id"))
    )
    # An unknown merchant, or one never bound, simply matches nothing.
    shop_id = normalize_shop_id(request.args.get("merchant_shop_id")).replace("\x00", "")
    if shop_id:
        query = query.where(User.shop_id == shop_id)
    search = order_search((request.args.get("q") or "").replace("\x00", ""))
    if search is not None:
        query = query.where(search)
    since = since_arg()
    if since is not None:
        query = query.where(Order.updated_at >= since)
    cancelled = stage == TAB_CANCELLED

    def serialize_page(rows: list[Any]) -> list[dict[str, Any]]:
        numbers = {} if cancelled else tracking.tracking_numbers_for([row.id for row in rows])
        return [
            serializers.supplier_order(row, numbers.get(row.id, []), cancelled=cancelled)
            for row in rows
        ]

    # By cursor the cancelled tab walks assignments (an order may have been taken back twice).
    return walk_answer(
        query,
        Assignment.id if cancelled else Order.id,
        (lambda row: row.assignment_id) if cancelled else (lambda row: row.id),
        serialize_page,
        entities=False,
        # db.paginate yields the first column of each row: the whole masked row as one.
        page_query=query.with_only_columns(Bundle("order", *query.selected_columns)),
    )


# --- print jobs --------------------------------------------------------------------------------


def _print_job(supplier: Supplier, job: PrintJob) -> dict[str, Any]:
    lines = db.session.execute(
        select(
            PrintJobOrder.seq,
            PrintJobOrder.tracking_no.label("job_tracking_no"),
            Order.id.label("order_id"),
            Order.order_no,
            Order.stage,
            (Order.supplier_id == supplier.id).label("current"),
        )
        .join(Order, Order.id == PrintJobOrder.order_id)
        .where(PrintJobOrder.job_id == job.id)
        .order_by(PrintJobOrder.seq)
    ).all()
    numbers = tracking.tracking_numbers_for([line.order_id for line in lines if line.current])
    return serializers.print_job(job, lines, numbers)


@bp.post("/supplier/print-jobs")
def print_job_create() -> Response:
    body = json_body()
    order_nos = [
        _text(value, f"order_nos[{index}]")
        for index, value in enumerate(_array(body, "order_nos", MAX_ORDER_NOS_PER_PRINT_JOB))
    ]
    result = create_print_job(
        current_supplier(),
        order_nos,
        _text(body.get("courier"), "courier"),
        _text(body.get("label_size"), "label_size", required=False) or DEFAULT_LABEL_SIZE,
        _text(body.get("start_tracking_no"), "start_tracking_no", required=False),
        api_user(),
    )
    db.session.commit()
    # Nothing printable is an answer, not an error: every order is listed with its refusal.
    return jsonify(serializers.print_job_created(result)), 201 if result.job else 200


@bp.get("/supplier/print-jobs/<int:job_id>")
def print_job_detail(job_id: int) -> Response:
    supplier = current_supplier()
    return jsonify(_print_job(supplier, get_print_job_for_supplier(supplier, job_id)))


@bp.get("/supplier/print-jobs/<int:job_id>/pdf")
@writes_on_get
def print_job_pdf(job_id: int) -> Response:
    supplier = current_supplier()
    job = get_print_job_for_supplier(supplier, job_id)
    pdf, skipped = render_print_job(current_keyring(), supplier, job, api_user())
    db.session.commit()  # the render is audited and counted on the orders
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="print-job-{job.id}.pdf"'
    response.headers["Cache-Control"] = "no-store"  # the labels carry buyer data
    if skipped:  # blocked since the job was made: left out of this PDF
        response.headers["X-Skipped-Orders"] = ",".join(item.order_no for item in skipped)
    return response


@bp.post("/supplier/print-jobs/<int:job_id>/confirm")
def print_job_confirm(job_id: int) -> Response:
    supplier = current_supplier()
    job = get_print_job_for_supplier(supplier, job_id)
    result = confirm_print_job(supplier, job, api_user())
    db.session.commit()
    return jsonify(serializers.tracking_result(result))


@bp.post("/supplier/print-jobs/<int:job_id>/void")
def print_job_void(job_id: int) -> Response:
    supplier = current_supplier()
    job = get_print_job_for_supplier(supplier, job_id)
    void_print_job(job)
    db.session.commit()
    return jsonify(_print_job(supplier, job))


# --- tracking numbers --------------------------------------------------------------------------


@bp.post("/supplier/tracking")
def tracking_return() -> Response:
    items = _tracking_items(json_body())
    result = tracking.return_tracking(current_supplier(), items, api_user())
    db.session.commit()
    return jsonify(serializers.tracking_result(result))


def _remember_row_messages(
    rows: Iterator[TrackingRow | RowError], messages: dict[int, str]
) -> Iterator[TrackingRow | RowError]:
    """Pass the rows on, keeping the reader's own message for each row it refused."""
    for row in rows:
        if isinstance(row, RowError):
            messages[row.row] = row.message
        yield row


@bp.post("/supplier/tracking/import")
def tracking_import() -> Response:
    upload = request.files.get("file")
    if upload is None:
        raise DomainError(
            "validation_error", "请以 multipart/form-data 上传文件，字段名为 file", field="file"
        )
    messages: dict[int, str] = {}
    try:
        # The file is read to its end before anything is saved (a file-level error found late
        # returns nothing), and not inside a transaction (no write lock held while parsing).
        rows = read_upload(lambda: open_tracking_file(upload.stream, upload.filename or ""))
        result = tracking.return_tracking_file(
            current_supplier(), _remember_row_messages(rows, messages), api_user()
        )
    except ImportFileError as error:
        code = "missing_columns" if error.code == "missing_columns" else "invalid_file"
        raise DomainError(code, error.message, field="file", columns=error.columns) from None
    db.session.commit()
    return jsonify(serializers.tracking_result(result, messages))


@bp.delete("/supplier/tracking/<order_no>")
def tracking_cancel(order_no: str) -> Response:
    if "\x00" in order_no:
        raise DomainError("not_found")
    tracking.cancel_return(current_supplier(), order_no)
    db.session.commit()
    return jsonify(order_no=order_no, stage=STAGE_ASSIGNED)

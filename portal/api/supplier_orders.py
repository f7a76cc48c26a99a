"""API endpoints for a supplier's orders, print jobs and tracking numbers (DESIGN §6, §8.2).

Registered on the supplier API blueprint, so its role gate covers every route here. Orders are
read through the masked queries of the factory desk: no ciphertext is ever loaded here, except
by the print-job render, which puts the receiver on the waybill PDF (and is audited).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify

from portal.api import schemas, serializers
from portal.api.base import api_user, endpoint, uploaded_file, walk_answer
from portal.api.blueprints import supplier_bp as bp
from portal.api.orders import FILE_ERRORS, NOT_FOUND, import_file_error
from portal.domain import tracking
from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError
from portal.domain.imports.tracking_file import (
    ImportFileError,
    RowError,
    TrackingRow,
    open_tracking_file,
)
from portal.domain.keyring import current_keyring
from portal.domain.orders.lines import lines_by_order
from portal.domain.printing.jobs import (
    LabelRender,
    confirm_print_job,
    create_print_job,
    render_packing_slips,
    render_print_job,
    update_print_settings,
    void_print_job,
)
from portal.domain.printing.pick_list import pick_list_for_job
from portal.domain.supplier_orders import (
    TAB_CANCELLED,
    print_job_rows,
    stage_orders_query,
)
from portal.extensions import db
from portal.models import Assignment, Order, PrintJob, Supplier
from portal.models.base import utcnow
from portal.models.orders import STAGE_ASSIGNED
from portal.transactions import read_upload, writes_on_get
from portal.web.downloads import PDF_TYPE, PICK_LIST_TYPES, pick_list_response
from portal.web.gate import current_supplier
from portal.web.pagination import since_arg

DECIDED = {409: "print_job_decided：任务已确认或作废（只有待确认的任务可以）"}

# --- orders ------------------------------------------------------------------------------------


@bp.get("/supplier/orders")
@endpoint(schemas.SupplierOrderList)
def order_list(query: schemas.SupplierOrderQuery) -> Response:
    """厂家的订单（仅掩码收货信息）

    按承诺发货时间排序（cancelled 按取消先后，新的在前）。
    """
    supplier = current_supplier()
    rows = stage_orders_query(
        supplier,
        query.stage,
        datetime.now(UTC),
        merchant_shop_id=query.merchant_shop_id,
        q=query.q,
        updated_since=since_arg(),
    )
    cancelled = query.stage == TAB_CANCELLED

    def serialize_page(page: list[Any]) -> list[dict[str, Any]]:
        numbers = {} if cancelled else tracking.tracking_numbers_for([row.id for row in page])
        lines = lines_by_order(page)
        return [
            serializers.supplier_order(
                row, numbers.get(row.id, []), cancelled=cancelled, lines=lines[row.id]
            )
            for row in page
        ]

    # By cursor the cancelled tab walks assignments (an order may have been taken back twice).
    return walk_answer(
        rows,
        Assignment.id if cancelled else Order.id,
        (lambda row: row.assignment_id) if cancelled else (lambda row: row.id),
        serialize_page,
        query,
        entities=False,
    )


# --- print jobs --------------------------------------------------------------------------------


def _print_job(supplier: Supplier, job: PrintJob) -> dict[str, Any]:
    lines = print_job_rows(supplier, job)
    numbers = tracking.tracking_numbers_for([line.id for line in lines if line.is_current])
    return serializers.print_job(job, lines, numbers)


def _print_settings(supplier: Supplier) -> Response:
    return jsonify({"pick_order": supplier.pick_order, "print_order": supplier.print_order})


@bp.get("/supplier/print-settings")
@endpoint(schemas.PrintSettings)
def print_settings_get() -> Response:
    """打单设置：拣货单排序、默认面单顺序"""
    return _print_settings(current_supplier())


@bp.patch("/supplier/print-settings")
@endpoint(schemas.PrintSettings)
def print_settings_patch(json: schemas.PrintSettingsPatch) -> Response:
    """修改打单设置（只改给出的字段）"""
    supplier = current_supplier()
    update_print_settings(supplier, pick_order=json.pick_order, print_order=json.print_order)
    db.session.commit()
    return _print_settings(supplier)


@bp.post("/supplier/print-jobs")
@endpoint(
    schemas.PrintJobCreated,
    status=201,
    also={
        200: (
            schemas.PrintJobCreated,
            "没有可打印的订单：不创建任务（id 为 null），每个订单的拒绝原因在 refused 中",
        )
    },
    errors={
        409: "duplicate_tracking_no：起始单号段中有已使用的单号",
        422: "validation_error、nothing_selected、too_many_orders、unknown_courier、"
        "invalid_tracking_no（起始单号）",
    },
)
def print_job_create(json: schemas.PrintJobInput) -> tuple[Response, int]:
    """创建打印任务（打单）

    售后中、审核中、地址变更待确认、已发货、未分配或已取消分配的订单被拒绝，其余订单打印。
    """
    result = create_print_job(
        current_supplier(),
        json.order_nos,
        json.courier,
        json.label_size,
        json.start_tracking_no,
        api_user(),
        json.merchant_shop_id,
        json.print_order,
        json.packing_slips,
        json.merge_parcels,
    )
    db.session.commit()
    # Nothing printable is an answer, not an error: every order is listed with its refusal.
    return jsonify(serializers.print_job_created(result)), 201 if result.job else 200


@bp.get("/supplier/print-jobs/<int:job_id>")
@endpoint(schemas.PrintJob, errors=NOT_FOUND)
def print_job_detail(job_id: int) -> Response:
    """打印任务详情"""
    supplier = current_supplier()
    return jsonify(_print_job(supplier, get_or_404(PrintJob, supplier, id=job_id)))


@bp.get("/supplier/print-jobs/<int:job_id>/pdf")
@writes_on_get
@endpoint(
    files={"pdf": "application/pdf"},
    errors={
        **NOT_FOUND,
        409: "print_job_voided：任务已作废；nothing_printable：订单都已不可打印",
    },
)
def print_job_pdf(job_id: int) -> Response:
    """下载面单 PDF（每单一页）

    面单含完整收货信息（商家选择隐私面单时姓名、电话为掩码）；每次生成都会记录并计入订单的
    打印次数。生成后才被阻止的订单不在其中，其订单号列在响应头 X-Skipped-Orders（逗号分隔）。
    """
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    labels = render_print_job(current_keyring(), supplier, job, api_user())
    db.session.commit()  # the render is audited and counted on the orders …
    return _job_pdf_response(job, labels, "print-job")  # … before the drawing, which holds no lock


def _job_pdf_response(job: PrintJob, labels: LabelRender, name: str) -> Response:
    pdf, skipped = labels.pdf(), labels.skipped
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{job.id}.pdf"'
    response.headers["Cache-Control"] = "no-store"  # the pages carry buyer data
    if skipped:  # blocked since the job was made: left out of this PDF
        response.headers["X-Skipped-Orders"] = ",".join(item.order_no for item in skipped)
    return response


@bp.get("/supplier/print-jobs/<int:job_id>/slips")
@writes_on_get
@endpoint(
    files=PDF_TYPE,
    errors={
        **NOT_FOUND,
        409: "print_job_voided：任务已作废；nothing_printable：订单都已不可打印",
    },
)
def print_job_slips(job_id: int) -> Response:
    """下载发货单 PDF（每单一页，单独成 PDF）

    每单列出全部商品；商家选择隐私面单时收货信息为掩码、不含买家留言；商家设置显示价格时才有
    商品总价与实付。每次生成都会记录（不计入面单打印次数）。生成后才被阻止的订单不在其中，其订单号
    列在响应头 X-Skipped-Orders。
    """
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    slips = render_packing_slips(current_keyring(), supplier, job, api_user())
    db.session.commit()  # the render is audited before the drawing, which holds no lock
    return _job_pdf_response(job, slips, "packing-slips")


@bp.get("/supplier/print-jobs/<int:job_id>/pick-list")
@endpoint(files=PICK_LIST_TYPES, errors=NOT_FOUND)
def print_job_pick_list(job_id: int, query: schemas.PickListQuery) -> Response:
    """下载打印任务的拣货单（PDF 或 XLSX）

    每个商家 SKU 一行：库位、商品、规格、商家编码、厂家编码、商家、件数、订单数，末行合计；按 sort
    排序（不填按厂家设置）。只有商品，不含收货信息。
    """
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    pick = pick_list_for_job(supplier, job.id, query.sort or "")
    return pick_list_response(
        pick, query.format, f"pick-list-job-{job.id}", supplier.factory_name, utcnow()
    )


@bp.post("/supplier/print-jobs/<int:job_id>/confirm")
@endpoint(schemas.TrackingResult, errors={**NOT_FOUND, **DECIDED})
def print_job_confirm(job_id: int) -> Response:
    """确认纸质面单打印无误：分配的单号记为回传"""
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    result = confirm_print_job(supplier, job, api_user())
    db.session.commit()
    return jsonify(serializers.tracking_result(result))


@bp.post("/supplier/print-jobs/<int:job_id>/void")
@endpoint(schemas.PrintJob, errors={**NOT_FOUND, **DECIDED})
def print_job_void(job_id: int) -> Response:
    """作废待确认的打印任务（单号不记为回传）"""
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    void_print_job(job)
    db.session.commit()
    return jsonify(_print_job(supplier, job))


# --- tracking numbers --------------------------------------------------------------------------


@bp.post("/supplier/tracking")
@endpoint(
    schemas.TrackingResult,
    errors={409: "duplicate_tracking_no：该运单号刚被另一个请求用于其他收件人，整个请求未保存"},
)
def tracking_return(json: schemas.TrackingInput) -> Response:
    """回传运单号

    同一运单号只能用于同一收件人（receiver_key 相同）的订单；已回传的订单再次回传即替换单号；
    已发货的订单被拒绝。
    """
    items = [
        tracking.TrackingItem(
            order_no=item.order_no.strip(),
            courier=item.courier,
            tracking_no=item.tracking_no,
            extra_tracking_nos=tuple(item.extra_tracking_nos or ()),
            merchant_shop_id=item.merchant_shop_id,
        )
        for item in json.items
    ]
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
@endpoint(schemas.TrackingResult, errors=FILE_ERRORS)
def tracking_import(form: schemas.Upload) -> Response:
    """批量回传运单号（CSV 或 XLSX：订单号、快递公司、快递单号，可选 额外运单号）

    逐行校验，被拒绝的行带 row 行号。
    """
    upload = uploaded_file(form)
    messages: dict[int, str] = {}
    try:
        # The file is read to its end before anything is saved (a file-level error found late
        # returns nothing), and not inside a transaction (no write lock held while parsing).
        rows = read_upload(lambda: open_tracking_file(upload.stream, upload.filename or ""))
        result = tracking.return_tracking_file(
            current_supplier(), _remember_row_messages(rows, messages), api_user()
        )
    except ImportFileError as error:
        raise import_file_error(error) from None
    db.session.commit()
    return jsonify(serializers.tracking_result(result, messages))


@bp.delete("/supplier/tracking/<order_no>")
@endpoint(
    schemas.TrackingCancelled,
    errors={
        **NOT_FOUND,
        409: "dispatched：已发货；not_returned：还没有回传运单号；"
        "binding_not_active：绑定已解除，订单留给商家发货；"
        "ambiguous_order_no：两个商家使用该订单号，请加 merchant_shop_id",
    },
)
def tracking_cancel(order_no: str, query: schemas.TrackingCancelQuery) -> Response:
    """撤回已回传的运单号（商家发货前）"""
    if "\x00" in order_no:
        raise DomainError("not_found")
    tracking.cancel_return(current_supplier(), order_no, query.merchant_shop_id, actor=api_user())
    db.session.commit()
    return jsonify(order_no=order_no, stage=STAGE_ASSIGNED)

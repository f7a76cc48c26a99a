"""Factory order desk (代发订单): masked orders by tab, inline tracking return, print jobs.

Supplier views read only masked columns (portal.domain.supplier_orders); the only plaintext a
supplier ever gets is inside the waybill PDF, rendered by the print-job service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Response, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from portal.domain import staff
from portal.domain import supplier_orders as queries
from portal.domain.authz import get_or_404
from portal.domain.couriers import MAX_EXTRA_TRACKING_NOS, find_courier
from portal.domain.errors import DomainError, message_for
from portal.domain.formatting import CANCEL_REASON_LABELS
from portal.domain.keyring import current_keyring
from portal.domain.orders.lines import GoodsLine, lines_by_order
from portal.domain.orders.rules import address_changed_since_print, print_blockers
from portal.domain.printing.jobs import (
    PACKING_SLIP_LABELS,
    PRINT_ORDER_LABELS,
    LabelRender,
    PrintJobResult,
    confirm_print_job,
    create_print_job,
    label_couriers,
    render_packing_slips,
    render_print_job,
    void_print_job,
)
from portal.domain.printing.labels import DEFAULT_LABEL_SIZE, LABEL_SIZES
from portal.domain.sku_codes import codes_by_sku_key, codes_for
from portal.domain.statements.clock import now_utc
from portal.domain.supplier_orders import SupplierFilters
from portal.domain.tracking import (
    MAX_CORRECTIONS,
    OrderRef,
    TrackingItem,
    cancel_return,
    correct_tracking,
    correction_refusal,
    return_tracking,
    tracking_numbers_for,
)
from portal.extensions import db
from portal.models import PrintJob, Supplier
from portal.models.base import utcnow
from portal.models.orders import STAGE_ASSIGNED, STAGE_DISPATCHED
from portal.models.printing import (
    JOB_CONFIRMED,
    JOB_PENDING,
    JOB_PRINTED,
    JOB_VOIDED,
    PACKING_SLIPS,
    PRINT_ORDERS,
)
from portal.supplier.order_row import courier_options, supplier_order_row
from portal.supplier.views import bp
from portal.transactions import writes_on_get
from portal.web.args import id_arg, text_arg
from portal.web.desk import (
    HOLD_LABELS,
    ORDERS_CHANGED,
    PER_PAGE,
    Desk,
    Outcome,
    UrlTemplate,
    date_range,
    outcome_for,
    refuse,
    row_words,
)
from portal.web.downloads import pdf_response
from portal.web.gate import current_supplier, current_user_may
from portal.web.htmx import hx_redirect, is_targeted_htmx, notify, render, with_trigger
from portal.web.pagination import CountedPagination, PageArgs, page_args, paginate

JOBS_PER_PAGE = 20
# One PDF is rendered in the request: keep a job to what renders in seconds.
MAX_PRINT_ORDERS = 1000
# Ids beyond the database's integer range are simply not found (SQLite would overflow).
RECEIVER_KEY_RE = re.compile(r"[0-9a-f]{32}")
EXTRA_SPLIT_RE = re.compile(r"[\s,，;；、]+")

TAB_LABELS = (
    (queries.TAB_TO_PRINT, _l("待打印")),
    (queries.TAB_PRINTED, _l("已打印")),
    (queries.TAB_RETURNED, _l("已回传")),
    (queries.TAB_DISPATCHED, _l("已发货")),
    (queries.TAB_CANCELLED, _l("已取消")),
)
PRINT_TABS = {queries.TAB_TO_PRINT, queries.TAB_PRINTED}
DUE_LABELS = (("soon", _l("12 小时内到期")), ("overdue", _l("已超时")))
SORT_LABELS = (("", _l("按承诺发货时间")), (queries.SORT_RECEIVER, _l("同收件人排在一起")))
LABEL_SIZE_LABELS = (("100x180", _l("100×180 mm")), ("76x130", _l("76×130 mm")))
# Short badges for print blockers (the refusal messages in portal.domain.errors are sentences).
BLOCKER_LABELS = {
    **HOLD_LABELS,
    "address_changed": _l("地址变更待商家确认"),
}
JOB_STATUS = {
    JOB_PRINTED: (_l("已生成"), "success"),
    JOB_PENDING: (_l("待确认运单号"), "warning"),
    JOB_CONFIRMED: (_l("已确认"), "info"),
    JOB_VOIDED: (_l("已作废"), "muted"),
}

GOODS_LINES = 200  # 备货汇总 lists the specs with the most pieces first, this many at most
JOB_PARTIALS = {"print-job": "supplier/_print_job_detail.html"}
JOB_LIST_PARTIALS = {"print-job-list": "supplier/_print_jobs_list.html"}


# --- parsing ----------------------------------------------------------------------------------


def _choice(value: str | None, choices: Iterable[str]) -> str:
    text = text_arg(value, 20)
    return text if text in choices else ""


def parse_filters(values: Mapping[str, str]) -> SupplierFilters:
    """The desk's filters from query arguments or the hidden inputs of a batch post."""
    tab = values.get("tab", "")
    assigned_from, assigned_to = date_range(values, "assigned_from", "assigned_to")
    group = text_arg(values.get("group"), 32).lower()
    return SupplierFilters(
        tab=tab if tab in queries.TABS else queries.TAB_TO_PRINT,
        merchant_id=id_arg(values.get("merchant_id")),
        sku=text_arg(values.get("sku"), 200),
        assigned_from=assigned_from,
        assigned_to=assigned_to,
        due=_choice(values.get("due"), queries.DUE_FILTERS),
        q=text_arg(values.get("q"), 64),
        group=group if RECEIVER_KEY_RE.fullmatch(group) else "",
        sort=_choice(values.get("sort"), (queries.SORT_RECEIVER,)),
    )


def filter_args(filters: SupplierFilters) -> dict[str, object]:
    """The filters (without tab and page) as URL arguments, so links keep them."""
    args = {
        "merchant_id": filters.merchant_id,
        "sku": filters.sku,
        "assigned_from": filters.assigned_from.isoformat() if filters.assigned_from else None,
        "assigned_to": filters.assigned_to.isoformat() if filters.assigned_to else None,
        "due": filters.due,
        "q": filters.q,
        "group": filters.group,
        "sort": filters.sort,
    }
    return {name: value for name, value in args.items() if value}


DESK = Desk.of("supplier", TAB_LABELS, filter_args, count_tones={queries.TAB_TO_PRINT: "warn"})
bp.add_app_template_global(supplier_order_row)


@dataclass(frozen=True)
class TrackingEntry:
    """What the inline return form holds, kept to re-fill the form after a refusal."""

    courier: str = ""
    tracking_no: str = ""
    extra: str = ""

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> TrackingEntry:
        return cls(
            courier=text_arg(form.get("courier"), 20),
            tracking_no=text_arg(form.get("tracking_no"), 64),
            extra=text_arg(form.get("extra_tracking_nos"), 1000),
        )

    @property
    def extra_numbers(self) -> tuple[str, ...]:
        return tuple(n for n in EXTRA_SPLIT_RE.split(self.extra) if n)

    def problem(self) -> str:
        """A missing field, said before the service is asked."""
        if not self.courier:
            return _("请选择快递公司")
        if not self.tracking_no:
            return _("请填写运单号")
        return ""


# --- what the templates show ------------------------------------------------------------------


@dataclass
class DeskRow:
    order: Any  # a masked row (portal.domain.supplier_orders.MASKED_COLUMNS), never an Order
    deadline: str = ""  # "", "warn" or "danger"
    blockers: list[str] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (courier name, tracking no)
    group_size: int = 0
    cancel_reason: str | None = None  # set on the 已取消 tab: this order must not ship
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    entry: TrackingEntry = field(default_factory=TrackingEntry)
    supplier_code: str = ""  # the factory's own code for the order's SKU (厂家编码)
    lines: list[GoodsLine] = field(default_factory=list)  # every goods line (DESIGN §10.2)
    line_codes: list[str] = field(default_factory=list)  # 厂家编码 per line
    # A dispatched order whose number may still be corrected (seed 001), and how often more.
    correctable: bool = False
    corrections_left: int = 0

    @property
    def cancelled(self) -> bool:
        return self.cancel_reason is not None

    @property
    def address_changed(self) -> bool:
        return not self.cancelled and address_changed_since_print(self.order)

    @property
    def printable(self) -> bool:
        return not self.cancelled and self.order.stage == STAGE_ASSIGNED

    @property
    def tab(self) -> str:
        return queries.TAB_CANCELLED if self.cancelled else queries.tab_of(self.order)


def _courier_name(code: str) -> str:
    courier = find_courier(code)
    return courier.name if courier else code


def desk_rows(supplier: Supplier, rows: Sequence[Any], now: datetime) -> list[DeskRow]:
    """Rows with what they need on screen: three queries for the whole page, none per row."""
    current = [r for r in rows if not queries.is_cancelled_row(r)]
    unshipped = [r for r in current if r.stage != STAGE_DISPATCHED]
    numbers = tracking_numbers_for([r.id for r in current])
    groups = queries.receiver_group_sizes(supplier, [r.receiver_key for r in unshipped])
    printed = [r.id for r in current if r.stage == STAGE_ASSIGNED and r.print_count]
    # The return form starts on the courier the label was printed for.
    label_courier = label_couriers(supplier, printed)
    lines = lines_by_order(rows)
    codes = codes_for(
        supplier.id, ((r.merchant_id, line.sku_key) for r in current for line in lines[r.id])
    )
    shown = []
    for row in rows:
        if queries.is_cancelled_row(row):
            # The order may be with another supplier now: nothing of its present state shows.
            reason = row.cancel_reason or ""
            shown.append(
                DeskRow(
                    row,
                    cancel_reason=str(CANCEL_REASON_LABELS.get(reason, reason)),
                    lines=lines[row.id],
                )
            )
            continue
        shown.append(
            DeskRow(
                row,
                deadline=queries.deadline_state(row, now),
                blockers=[str(BLOCKER_LABELS.get(c, message_for(c))) for c in print_blockers(row)],
                numbers=[(_courier_name(c), n) for c, n in numbers.get(row.id, [])],
                group_size=groups.get(row.receiver_key, 0) if row.receiver_key else 0,
                entry=TrackingEntry(courier=label_courier.get(row.id, "")),
                supplier_code=codes.get((row.merchant_id, row.sku_key), ""),
                lines=lines[row.id],
                line_codes=[codes.get((row.merchant_id, ln.sku_key), "") for ln in lines[row.id]],
                correctable=row.bound and correction_refusal(row, now) is None,
                corrections_left=MAX_CORRECTIONS - row.tracking_corrections,
            )
        )
    return shown


# The words every row repeats, translated once per page rather than 50 times (those with a
# value of the row are %-formats the row template fills).
ROW_TEXT = {
    "do_not_ship": _l("请勿发货"),
    "unstated": _l("未注明"),
    "cancelled_at": _l("取消于"),
    "assigned_at": _l("分配"),
    "group_hint": _l("同一收件人的未发货订单，可合并发货"),
    "courier": _l("快递公司"),
    "tracking_no": _l("运单号"),
    "extra_nos": _l("其他运单号"),
    "extra_hint": _l("多包裹：其他运单号，逗号分隔（最多 %(n)d 个）", n=MAX_EXTRA_TRACKING_NOS),
    "return": _l("回传"),
    "cancel_return": _l("取消回传"),
    "cancel_return_confirm": _l("取消回传订单 %(no)s 的运单号？"),
    "same_receiver": _l("同收件人 %(n)d 单"),
    "printed_times": _l("打印 %(n)d 次"),
    "cancel_reason": _l("取消原因：%(reason)s"),
    "supplier_code": _l("厂家编码"),
    "correct": _l("修改运单号"),
    "correct_hint": _l("发货后 5 天内、每单最多可修改 2 次"),
    "save": _l("保存"),
    "address_changed": _l("地址已修改"),
    "merchant_note": _l("商家备注"),
    "address_changed_hint": _l("商家修改了收货信息，请重新打印面单"),
}
TAB_TONES = {
    queries.TAB_TO_PRINT: "warning",
    queries.TAB_PRINTED: "info",
    queries.TAB_RETURNED: "success",
    queries.TAB_DISPATCHED: "muted",
}


def _row_context() -> dict[str, object]:
    """What rows and the print toolbar share, built once per page (`d` in the templates)."""
    return {
        "d": {
            "tab_labels": {tab: str(label) for tab, label in TAB_LABELS},
            "tab_tones": TAB_TONES,
            "text": row_words(ROW_TEXT),
            "return_url": UrlTemplate("supplier.order_tracking_return", "order_no"),
            "cancel_return_url": UrlTemplate("supplier.order_tracking_cancel", "order_no"),
            "correct_url": UrlTemplate("supplier.order_tracking_correct", "order_no"),
            "group_urls": {
                tab: UrlTemplate("supplier.order_list", "group", tab=tab) for tab in queries.TABS
            },
            "courier_options": courier_options(),
            "csrf": generate_csrf(),
            "label_sizes": LABEL_SIZE_LABELS,
            "default_label_size": DEFAULT_LABEL_SIZE,
            # The rows' return forms, asked once per page (the route's gate asks again).
            "may": {"tracking_return": current_user_may("supplier.order_tracking_return")},
        }
    }


def desk_context(
    supplier: Supplier,
    filters: SupplierFilters,
    page_number: int = 1,
    *,
    outcome: Outcome | None = None,
) -> dict[str, object]:
    now = utcnow()
    # Only the shown tab is counted here (its pages need it): the tab bar loads the others.
    counts = queries.tab_counts(supplier, filters, now, tabs=(filters.tab,))
    page = CountedPagination(
        queries.orders_query(supplier, filters, now),
        PageArgs(page_number, PER_PAGE),
        counts[filters.tab],
        rows=True,
    )
    return {
        **DESK.tabs_context(filters, counts),
        "page": page,
        "rows": desk_rows(supplier, page.items, now),
        "merchants": queries.bound_merchants(supplier),
        "due_labels": DUE_LABELS,
        "sort_labels": SORT_LABELS,
        "can_print": filters.tab in PRINT_TABS,
        "print_orders": PRINT_ORDER_LABELS,
        "packing_slip_choices": PACKING_SLIP_LABELS,
        "default_print_order": supplier.print_order,
        "outcome": outcome,
        **_row_context(),
    }


# --- the desk ---------------------------------------------------------------------------------


@bp.get("/orders")
def order_list() -> Response:
    filters = parse_filters(request.args)
    page = page_args(PER_PAGE, PER_PAGE).page
    return DESK.list_response(filters, page, desk_context(current_supplier(), filters, page))


@bp.get("/orders/goods")
def order_goods() -> Response:
    """备货汇总 under the desk's filters: read when the factory opens the panel, not per page."""
    filters = parse_filters(request.args)
    lines = queries.goods_summary(current_supplier(), filters, utcnow(), limit=GOODS_LINES + 1)
    return render(
        "supplier/_orders_goods.html",
        filters=filters,
        args=filter_args(filters),
        codes=codes_by_sku_key(current_supplier().id, [line.sku_key for line in lines]),
        goods=lines[:GOODS_LINES],
        more=len(lines) > GOODS_LINES,
    )


@bp.get("/orders/counts")
def order_counts() -> Response:
    """The tab bar alone: it polls this every 30 s and after every action (ordersChanged)."""
    filters = parse_filters(request.args)
    counts = queries.tab_counts(current_supplier(), filters, utcnow())
    return render("_partials/desk_tabs.html", **DESK.tabs_context(filters, counts))


def _row_or_404(supplier: Supplier, order_no: str, merchant_shop_id: str = "") -> Any:
    row = queries.find_order_row(supplier, order_no, merchant_shop_id)
    if row is None:
        raise DomainError("not_found")
    return row


def _row_merchant() -> str:
    """The merchant the row's form names: a number two merchants use is one row per merchant."""
    return text_arg(request.form.get("merchant_shop_id"), 40)


def _row_answer(
    supplier: Supplier,
    order_no: str,
    merchant_shop_id: str = "",
    *,
    status: int = 200,
    error: str = "",
    warnings: Sequence[str] = (),
    entry: TrackingEntry | None = None,
) -> Response:
    """The order's row again (its new state, or the refusal next to the form)."""
    if not is_targeted_htmx():
        # A plain form post: back to the desk, the message travels as a flash.
        if error:
            notify(error, "error")
        return hx_redirect(url_for("supplier.order_list"))
    row = desk_rows(supplier, [_row_or_404(supplier, order_no, merchant_shop_id)], utcnow())[0]
    row.error, row.warnings = error, list(warnings)
    row.entry = entry or row.entry
    return render("supplier/_orders_row.html", status=status, row=row, **_row_context())


@bp.post("/orders/<order_no>/tracking")
def order_tracking_return(order_no: str) -> Response:
    supplier = current_supplier()
    shop = _row_merchant()
    order_no = _row_or_404(supplier, order_no, shop).order_no
    entry = TrackingEntry.from_form(request.form)
    if problem := entry.problem():
        return _row_answer(supplier, order_no, shop, status=422, error=problem, entry=entry)
    item = TrackingItem(
        order_no, entry.courier, entry.tracking_no, entry.extra_numbers, merchant_shop_id=shop
    )
    result = return_tracking(supplier, [item], current_user._get_current_object())
    if result.refused:
        db.session.rollback()
        refusal = result.refused[0]
        error = message_for(refusal.code)
        if refusal.tracking_no:
            error = _("%(message)s（运单号 %(no)s）", message=error, no=refusal.tracking_no)
        return _row_answer(supplier, order_no, shop, status=422, error=error, entry=entry)
    db.session.commit()
    warnings = [w.message for w in result.warnings]
    if warnings:
        notify(_("已回传，但请核对：%(w)s", w="；".join(warnings)), "warning")
    else:
        notify(_("已回传 %(no)s 的运单号", no=order_no))
    return with_trigger(_row_answer(supplier, order_no, shop, warnings=warnings), ORDERS_CHANGED)


@bp.post("/orders/<order_no>/tracking/cancel")
def order_tracking_cancel(order_no: str) -> Response:
    supplier = current_supplier()
    shop = _row_merchant()
    order_no = _row_or_404(supplier, order_no, shop).order_no
    try:
        cancel_return(supplier, order_no, shop, actor=current_user._get_current_object())
    except DomainError as error:
        db.session.rollback()
        return _row_answer(supplier, order_no, shop, status=422, error=error.message)
    db.session.commit()
    notify(_("已取消回传 %(no)s 的运单号", no=order_no), "info")
    return with_trigger(_row_answer(supplier, order_no, shop), ORDERS_CHANGED)


@bp.post("/orders/<order_no>/tracking/correct")
def order_tracking_correct(order_no: str) -> Response:
    """修改运单号 on a dispatched order (within 5 days of dispatch, at most twice)."""
    supplier = current_supplier()
    shop = _row_merchant()
    order_no = _row_or_404(supplier, order_no, shop).order_no
    entry = TrackingEntry.from_form(request.form)
    try:
        result = correct_tracking(
            supplier,
            order_no,
            entry.courier,
            entry.tracking_no,
            current_user._get_current_object(),
            now_utc(),
            merchant_shop_id=shop,
        )
    except DomainError as error:
        if error.status == 404:
            raise
        db.session.rollback()
        return _row_answer(supplier, order_no, shop, status=error.status, error=error.message)
    db.session.commit()
    notify(
        _(
            "已修改 %(no)s 的运单号，还可修改 %(n)d 次；商家与接口回调会收到新运单号",
            no=order_no,
            n=result.corrections_left,
        )
    )
    warnings = [w.message for w in result.warnings]
    return with_trigger(_row_answer(supplier, order_no, shop, warnings=warnings), ORDERS_CHANGED)


# --- print jobs -------------------------------------------------------------------------------


def selected_orders(
    supplier: Supplier, filters: SupplierFilters, limit: int | None = None
) -> list[OrderRef]:
    """Every order the filters match ("select all N matching"; the first `limit` of them), or
    the ticked rows as (number, merchant shop ID): a row's box holds `shop ID:number`, since a
    number two merchants use is a row per merchant; a bare number still names an order only
    one merchant uses."""
    if request.form.get("all_matching") == "1":
        return queries.order_refs(supplier, filters, utcnow(), limit)
    refs = []
    for value in request.form.getlist("order_no"):
        shop, _colon, order_no = text_arg(value, 128).rpartition(":")  # numbers hold no colon
        if order_no:
            refs.append((order_no, shop))
    return refs


def print_outcome(result: PrintJobResult) -> Outcome:
    if result.job is None:
        summary = message_for("nothing_printable")
    else:
        summary = _("已生成打印任务 #%(id)d：%(n)d 单", id=result.job.id, n=len(result.printed))
    return outcome_for(summary, len(result.printed), result.refused, job=result.job)


@bp.post("/print-jobs")
def print_job_create() -> Response:
    supplier = current_supplier()
    filters = parse_filters(request.form)
    order_nos = selected_orders(supplier, filters, MAX_PRINT_ORDERS + 1)
    if not order_nos:
        return refuse(message_for("nothing_selected"))
    if len(order_nos) > MAX_PRINT_ORDERS:
        return refuse(message_for("too_many_orders"))
    courier = text_arg(request.form.get("print_courier"), 20)
    if not courier:
        return refuse(_("请选择快递公司"))
    label_size = text_arg(request.form.get("label_size"), 10) or DEFAULT_LABEL_SIZE
    if label_size not in LABEL_SIZES:
        return refuse(_("请选择面单尺寸"))
    result = create_print_job(
        supplier,
        order_nos,
        courier,
        label_size,
        text_arg(request.form.get("start_tracking_no"), 64),
        current_user._get_current_object(),
        print_order=_choice(request.form.get("print_order"), PRINT_ORDERS) or None,
        packing_slips=_choice(request.form.get("packing_slips"), PACKING_SLIPS),
        merge_parcels=request.form.get("merge_parcels") == "1",
    )
    db.session.commit()
    outcome = print_outcome(result)
    return DESK.batch_response(filters, outcome, desk_context(supplier, filters, outcome=outcome))


@bp.get("/print-jobs")
def print_job_list() -> Response:
    page = paginate(
        queries.print_jobs_query(current_supplier()), page_args(JOBS_PER_PAGE, JOBS_PER_PAGE)
    )
    return render(
        "supplier/print_jobs.html",
        JOB_LIST_PARTIALS,
        page=page,
        job_status=JOB_STATUS,
        courier_name=_courier_name,
        label_sizes=dict(LABEL_SIZE_LABELS),
        actors=staff.actor_labels(job.created_by for job in page.items),
    )


@dataclass(frozen=True)
class JobRow:
    order: Any  # masked row with seq, job_tracking_no, is_current
    state: str  # the desk tab it is on now; "" when no longer this supplier's
    blockers: list[str]


def job_context(
    supplier: Supplier, job: PrintJob, outcome: Outcome | None = None
) -> dict[str, object]:
    tab_labels = dict(TAB_LABELS)
    rows = [
        JobRow(
            r,
            str(tab_labels[queries.tab_of(r)]) if r.is_current else "",
            [str(BLOCKER_LABELS.get(c, message_for(c))) for c in print_blockers(r)],
        )
        for r in queries.print_job_rows(supplier, job)
    ]
    return {
        "job": job,
        "rows": rows,
        "status_label": JOB_STATUS.get(job.status, (job.status, "muted")),
        "courier_name": _courier_name(job.courier),
        "label_size": dict(LABEL_SIZE_LABELS).get(job.label_size, job.label_size),
        "print_order": dict(PRINT_ORDER_LABELS).get(job.print_order, ""),
        "packing_slips": dict(PACKING_SLIP_LABELS).get(job.packing_slips, ""),
        "outcome": outcome,
        "created_by": staff.actor_label(staff.actor_labels([job.created_by]), job.created_by),
    }


@bp.get("/print-jobs/<int:job_id>")
def print_job_detail(job_id: int) -> Response:
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    return render("supplier/print_job.html", JOB_PARTIALS, **job_context(supplier, job))


def _job_pdf(job_id: int, render: Callable[..., LabelRender], name: str) -> Response:
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    try:
        labels = render(current_keyring(), supplier, job, current_user._get_current_object())
    except DomainError as error:
        db.session.rollback()
        notify(error.message, "error")
        return hx_redirect(url_for("supplier.print_job_detail", job_id=job_id))
    db.session.commit()  # the render is audited and counted on the orders …
    return pdf_response(labels.pdf(), f"{name}-job-{job_id}.pdf")  # … before it is drawn


@bp.get("/print-jobs/<int:job_id>/pdf")
@writes_on_get
def print_job_pdf(job_id: int) -> Response:
    return _job_pdf(job_id, render_print_job, "waybills")


@bp.get("/print-jobs/<int:job_id>/slips")
@writes_on_get
def print_job_slips(job_id: int) -> Response:
    """The job's packing slips (发货单) as a PDF of their own."""
    return _job_pdf(job_id, render_packing_slips, "packing-slips")


def _job_answer(supplier: Supplier, job: PrintJob, outcome: Outcome | None = None) -> Response:
    response = render(
        "supplier/print_job.html", JOB_PARTIALS, **job_context(supplier, job, outcome)
    )
    return with_trigger(response, ORDERS_CHANGED)


@bp.post("/print-jobs/<int:job_id>/confirm")
def print_job_confirm(job_id: int) -> Response:
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    result = confirm_print_job(supplier, job, current_user._get_current_object())
    db.session.commit()
    outcome = outcome_for(
        _("已确认打印任务 #%(id)d，%(n)d 单运单号已回传", id=job.id, n=len(result.returned)),
        len(result.returned),
        result.refused,
        warnings=[w.message for w in result.warnings],
    )
    notify(outcome.summary, outcome.level)
    return _job_answer(supplier, job, outcome)


@bp.post("/print-jobs/<int:job_id>/void")
def print_job_void(job_id: int) -> Response:
    supplier = current_supplier()
    job = get_or_404(PrintJob, supplier, id=job_id)
    void_print_job(job)
    db.session.commit()
    notify(_("打印任务 #%(id)d 已作废，纸质面单号未回传", id=job.id), "info")
    return _job_answer(supplier, job)

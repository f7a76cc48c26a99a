"""The factory's scan station (扫描回传): what one scanned code means and does.

A scanned order number makes that order wait for its tracking number; the next scan returns
that number for it (tracking.return_tracking, the same rules as every return); a scanned
tracking number shows the order it was returned for; the last return can be taken back. Each
outcome is a ScanOutcome over masked rows only (supplier_orders.masked_select). The view
(portal.supplier.tracking_views) reads the form, commits a returned or undone scan and renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.domain import supplier_orders, tracking
from portal.domain.bindings import normalize_shop_id
from portal.domain.couriers import find_courier, normalize_tracking_no
from portal.domain.errors import DomainError, message_for
from portal.domain.orders.rules import TRACKING_RETURNABLE, print_blockers
from portal.domain.printing.jobs import label_couriers
from portal.extensions import db
from portal.models import Order, Supplier, User
from portal.models.base import utcnow
from portal.models.orders import STAGE_ASSIGNED, STAGE_DISPATCHED, STAGE_RETURNED

# A scanned code longer than any order or tracking number is not looked up.
MAX_CODE_LENGTH = 64

# What stops a supplier from shipping an order, phrased for the packing bench.
PRINT_BLOCKER_LABELS = {
    "after_sale": _l("售后中，请勿发货"),
    "audit_hold": _l("平台审核中，请勿发货"),
    "address_changed": _l("收货信息已变更，待商家确认后再发货"),
}
# A refusal after which the same order can take another scan (a wrong number or courier).
RETRYABLE_REFUSALS = frozenset(
    {"unknown_courier", "invalid_tracking_no", "duplicate_tracking_no", "too_many_tracking_nos"}
)


SCAN_FOUND = "found"
SCAN_CANCELLED = "cancelled"
SCAN_NOT_FOUND = "not_found"
SCAN_RETURNED = "returned"
SCAN_REFUSED = "refused"
SCAN_CHOOSE = "choose"  # two of the factory's merchants use the number: pick one
SCAN_UNDONE = "undone"  # the last return taken back: the order waits for its number again


@dataclass
class ScanOutcome:
    """What one scan did, for the result panel and the session log."""

    kind: str
    code: str
    order: Any = None  # a row of supplier_orders.MASKED_COLUMNS, never the ORM object
    by_tracking_no: bool = False
    numbers: list[tuple[str, str]] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    courier: str = ""
    tracking_no: str = ""
    # The order waiting for its tracking number after this scan ("" = scan an order number).
    pending_order_no: str = ""
    pending_merchant: str = ""  # its merchant's shop ID
    # SCAN_CHOOSE: the merchants using the scanned number, (shop ID, shop name).
    choices: list[tuple[str, str]] = field(default_factory=list)
    # SCAN_REFUSED answering an undo: what was refused is the undo, not a return.
    undo: bool = False
    at: Any = field(default_factory=utcnow)

    @property
    def signal(self) -> str:
        """What the scan means at a glance and by ear (portal.js plays one sound per signal):
        ok — returned, or an order ready for its tracking number; refused — nothing was
        returned and something is wrong; already — the order has its tracking number already."""
        if self.kind in (SCAN_NOT_FOUND, SCAN_CANCELLED, SCAN_REFUSED, SCAN_CHOOSE):
            return "refused"  # nothing happened: look at the screen
        if self.kind == SCAN_UNDONE:
            return "already"  # the two-tone "look here": the order waits for its number again
        if self.blockers:
            return "refused"
        order = self.order
        if self.kind == SCAN_FOUND and order is not None and order.stage != STAGE_ASSIGNED:
            return "already"  # returned or dispatched: it has its tracking number
        return "ok"

    @property
    def tone(self) -> str:
        """The colour: the signal's, or warn for a return whose number format needs a look."""
        signal = self.signal
        if self.kind == SCAN_CHOOSE:
            return "warn"
        if signal == "refused":
            return "bad"
        if signal == "ok" and self.warnings:
            return "warn"
        return signal

    @property
    def stage_label(self) -> str:
        return stage_label(self.order) if self.order is not None else ""

    @property
    def blocker_labels(self) -> list[str]:
        return [str(PRINT_BLOCKER_LABELS.get(code, message_for(code))) for code in self.blockers]


def stage_label(order: Any) -> str:
    """The factory's view of the stage: 待打印 / 已打印 split the assigned stage."""
    if order.stage == STAGE_ASSIGNED:
        return _("已打印") if order.print_count else _("待打印")
    if order.stage == STAGE_RETURNED:
        return _("已回传")
    if order.stage == STAGE_DISPATCHED:
        return _("已发货")
    return order.stage


def _masked_order(supplier: Supplier, order_id: int) -> Any:
    """The supplier's current order by id, masked columns only (scoped in the query)."""
    return db.session.execute(
        supplier_orders.masked_select(supplier).where(
            Order.id == order_id, Order.supplier_id == supplier.id
        )
    ).first()


def _cancelled_rows(supplier: Supplier, order_no: str, merchant_shop_id: str = "") -> list[Any]:
    """This supplier's cancelled assignments of `order_no` (masked rows of the 已取消 tab, the
    latest first), of that merchant when one is named."""
    if order_no not in tracking.cancelled_for_supplier(supplier, [order_no]):
        return []
    filters = supplier_orders.SupplierFilters(tab=supplier_orders.TAB_CANCELLED, q=order_no)
    query = supplier_orders.orders_query(supplier, filters, utcnow()).where(
        Order.order_no == order_no
    )
    shop = normalize_shop_id(merchant_shop_id)
    if shop:
        query = query.where(User.shop_id == shop)
    return list(db.session.execute(query))


def _cancelled_order(supplier: Supplier, order_no: str, merchant_shop_id: str = "") -> Any:
    """This supplier's latest cancelled assignment of `order_no` (masked), or None."""
    rows = _cancelled_rows(supplier, order_no, merchant_shop_id)
    return rows[0] if rows else None


def _taken_back(supplier: Supplier, order_no: str, shown: set[str]) -> list[tuple[str, str]]:
    """(shop ID, shop name) of the merchants not `shown` whose order of this number the
    supplier had and lost: its parcel may be the one scanned."""
    others = {
        row.merchant_shop_id: row.merchant_name
        for row in _cancelled_rows(supplier, order_no)
        if row.merchant_shop_id not in shown
    }
    return [(shop, _("%(name)s（已取消）", name=name)) for shop, name in others.items()]


def _describe(kind: str, code: str, order: Any, **extra: Any) -> ScanOutcome:
    numbers = tracking.tracking_numbers_for([order.id]).get(order.id, []) if order else []
    blockers = print_blockers(order) if order else []
    return ScanOutcome(kind, code, order, numbers=numbers, blockers=blockers, **extra)


def _merchants_using(supplier: Supplier, order_no: str) -> list[tuple[str, str]]:
    """(shop ID, shop name) of the supplier's merchants whose current order has this number."""
    rows = db.session.execute(
        supplier_orders.masked_select(supplier)
        .where(Order.supplier_id == supplier.id, Order.order_no == order_no)
        .order_by(Order.merchant_id)
    )
    return [(row.merchant_shop_id, row.merchant_name) for row in rows]


def lookup_scan(supplier: Supplier, code: str, merchant_shop_id: str = "") -> ScanOutcome:
    """Look a scanned code up: an order number makes that order wait for its tracking number;
    a tracking number shows the order it was returned for. A number two of the supplier's
    merchants use waits for the factory to pick the merchant (never a guess)."""
    if len(code) > MAX_CODE_LENGTH:
        return ScanOutcome(SCAN_NOT_FOUND, code[:MAX_CODE_LENGTH])
    try:
        found = tracking.scan_lookup(supplier, code, merchant_shop_id)
    except DomainError as error:
        if error.code != tracking.AMBIGUOUS:
            raise
        # Two merchants' current orders, or another merchant took its order back (its parcel
        # may be this one): never a guess.
        using = _merchants_using(supplier, code)
        choices = [*using, *_taken_back(supplier, code, {shop for shop, _name in using})]
        return ScanOutcome(SCAN_CHOOSE, code, message=error.message, choices=choices)
    if found is not None:
        order = _masked_order(supplier, found.id)
        if order is not None:
            by_order_no = order.order_no == code
            # Ready for its tracking number: the rule the return itself checks.
            waiting = by_order_no and TRACKING_RETURNABLE.allows(order)
            return _describe(
                SCAN_FOUND,
                code,
                order,
                by_tracking_no=not by_order_no,
                pending_order_no=order.order_no if waiting else "",
                pending_merchant=order.merchant_shop_id if waiting else "",
            )
    cancelled = _cancelled_order(supplier, code, merchant_shop_id)
    if cancelled is not None:
        return ScanOutcome(
            SCAN_CANCELLED, code, cancelled, message=message_for("assignment_cancelled")
        )
    return ScanOutcome(SCAN_NOT_FOUND, code)


def _is_order_no(supplier: Supplier, code: str) -> bool:
    return bool(
        tracking.find_orders_for_supplier(supplier, [(code, "")])
        or tracking.cancelled_for_supplier(supplier, [code])
    )


def return_scan(
    supplier: Supplier,
    order_no: str,
    courier: str,
    code: str,
    actor: User,
    merchant_shop_id: str = "",
) -> ScanOutcome:
    """Return a scanned tracking number for the waiting order (of `merchant_shop_id`; a
    scanned order number instead switches to that order). Flushes only: the view commits a
    SCAN_RETURNED outcome."""
    if len(code) > MAX_CODE_LENGTH or code == order_no or _is_order_no(supplier, code):
        return lookup_scan(supplier, code)
    number = normalize_tracking_no(code)
    shop = merchant_shop_id

    def waiting(order: Any) -> dict[str, str]:
        if order is None:
            return {"pending_order_no": "", "pending_merchant": ""}
        return {"pending_order_no": order_no, "pending_merchant": order.merchant_shop_id}

    # The courier the order's label was printed for: the one when none is chosen (scanner
    # only), and a warning when another one is.
    order = _current_order(supplier, order_no, shop)
    label_courier = label_couriers(supplier, [order.id]).get(order.id, "") if order else ""
    courier = courier or label_courier
    if not courier:
        return _describe(
            SCAN_REFUSED,
            code,
            order,
            message=_("请先选择快递公司，再扫描快递单号"),
            tracking_no=number,
            **waiting(order),
        )
    item = tracking.TrackingItem(order_no, courier, code, merchant_shop_id=shop)
    try:
        result = tracking.return_tracking(supplier, [item], actor)
    except tracking.TrackingRaceError:
        db.session.rollback()
        result = tracking.TrackingResult(
            refused=[tracking.TrackingRefusal(order_no, "duplicate_tracking_no")]
        )
    if result.returned:
        order = _current_order(supplier, order_no, shop)
        warnings = [w.message for w in result.warnings]
        chosen, printed = find_courier(courier), find_courier(label_courier)
        if printed is not None and chosen is not None and chosen.code != printed.code:
            warnings.append(
                _(
                    "面单打印的快递是%(printed)s，本次按%(chosen)s回传；如有误请撤销后重新扫描",
                    printed=printed.name,
                    chosen=chosen.name,
                )
            )
        return _describe(
            SCAN_RETURNED,
            code,
            order,
            courier=courier,
            tracking_no=number,
            warnings=list(dict.fromkeys(warnings)),
        )
    refusal = result.refused[0]
    if refusal.code == "assignment_cancelled":
        # Only what the cancelled tab shows: the order may be with another factory by now.
        cancelled = _cancelled_order(supplier, order_no)
        return ScanOutcome(SCAN_CANCELLED, code, cancelled, message=message_for(refusal.code))
    retry = refusal.code in RETRYABLE_REFUSALS
    order = _current_order(supplier, order_no, shop)
    return _describe(
        SCAN_REFUSED,
        code,
        order,
        message=message_for(refusal.code),
        courier=courier,
        tracking_no=refusal.tracking_no or number,
        **waiting(order if retry else None),
    )


def _current_order(supplier: Supplier, order_no: str, merchant_shop_id: str = "") -> Any:
    ref = (order_no, normalize_shop_id(merchant_shop_id))
    found = tracking.find_orders_for_supplier(supplier, [ref]).get(ref)
    return _masked_order(supplier, found.id) if found is not None else None


def last_courier(supplier: Supplier) -> str:
    """The courier of the supplier's latest return: the likely choice for the next scans."""
    return (
        db.session.scalar(
            select(Order.courier)
            .where(Order.supplier_id == supplier.id, Order.stage == STAGE_RETURNED)
            .order_by(Order.returned_at.desc())
            .limit(1)
        )
        or ""
    )


def undo_scan(
    supplier: Supplier, order_no: str, merchant_shop_id: str, tracking_no: str, actor: User
) -> ScanOutcome:
    """Take back the number the last scan returned, when it is still the order's number (a
    later scan or the desk may have changed it); the order then waits for its number again."""
    number = normalize_tracking_no(tracking_no)
    order = _current_order(supplier, order_no, merchant_shop_id)
    if order is None or not number or order.tracking_no != number:
        return _describe(
            SCAN_REFUSED,
            number,
            order,
            message=_("只能撤销最近一次扫描回传、且仍是该订单运单号的单号"),
            tracking_no=number,
            undo=True,
        )
    try:
        tracking.cancel_return(
            supplier,
            order_no,
            merchant_shop_id,
            actor=actor,
            with_label=True,
        )
    except DomainError as error:
        db.session.rollback()
        return _describe(
            SCAN_REFUSED, number, order, message=error.message, tracking_no=number, undo=True
        )
    order = _current_order(supplier, order_no, merchant_shop_id)
    return _describe(
        SCAN_UNDONE,
        number,
        order,
        tracking_no=number,
        pending_order_no=order_no,
        pending_merchant=order.merchant_shop_id,
    )

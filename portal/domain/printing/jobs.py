"""Print jobs (打单): blocked orders are refused with their reason, the rest get a label.

Every render of a job's PDF is audited and counted on the orders. With a starting number for
pre-printed paper waybills, the job hands out consecutive numbers in print order; they become
returned tracking numbers only when the supplier confirms the job printed correctly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, bindparam, func, insert, select, update
from sqlalchemy.orm import aliased

from portal.domain.bindings import actively_bound_merchant_ids, normalize_shop_id
from portal.domain.couriers import find_courier, is_valid_tracking_no, normalize_tracking_no
from portal.domain.errors import DomainError
from portal.domain.formatting import SHANGHAI, yuan
from portal.domain.orders.lines import GoodsLine, first_line, lines_by_order, total_quantity
from portal.domain.orders.rules import PRINTABLE_RULE
from portal.domain.printing.labels import LABEL_SIZES, Cover, Label, Slip, render_labels
from portal.domain.printing.pick_list import PICK_ORDERS
from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.masks import mask_free_text
from portal.domain.privacy.receiver import reveal_receiver
from portal.domain.sku_codes import codes_for, codes_for_rows
from portal.domain.tracking import (
    AMBIGUOUS,
    OrderRef,
    TrackingItem,
    TrackingResult,
    cancelled_for_supplier,
    find_orders_for_supplier,
    return_tracking,
)
from portal.extensions import db
from portal.models import (
    Merchant,
    Order,
    Parcel,
    PrintJob,
    PrintJobOrder,
    PrintRender,
    Supplier,
    User,
)
from portal.models.accounts import LABEL_PRIVATE
from portal.models.base import utcnow
from portal.models.orders import STAGE_ASSIGNED
from portal.models.printing import (
    JOB_CONFIRMED,
    JOB_PENDING,
    JOB_PRINTED,
    JOB_VOIDED,
    PACKING_SLIPS,
    PRINT_DESK,
    PRINT_ORDERS,
    PRINT_PROMISE,
    PRINT_SKU,
    SLIPS_AFTER,
    SLIPS_NONE,
    SLIPS_SEPARATE,
)

PACKING_SLIP_LABELS = (
    (SLIPS_NONE, _l("不打发货单")),
    (SLIPS_AFTER, _l("每张面单后附发货单")),
    (SLIPS_SEPARATE, _l("发货单单独成 PDF")),
)
PRINT_ORDER_LABELS = (
    (PRINT_DESK, _l("按列表顺序")),
    (PRINT_SKU, _l("按 SKU")),
    (PRINT_PROMISE, _l("按承诺发货时间")),
)
# The note line of a label: the buyer's note and the merchant's note to the factory.
LABEL_NOTE_CHARS = 90


@dataclass(frozen=True)
class PrintRefusal:
    order_no: str
    code: str


@dataclass
class PrintJobResult:
    job: PrintJob | None
    printed: list[str] = field(default_factory=list)
    refused: list[PrintRefusal] = field(default_factory=list)


def update_print_settings(
    supplier: Supplier, *, pick_order: str | None = None, print_order: str | None = None
) -> None:
    """打单设置: how the factory's pick lists are sorted and the order its labels come out in
    when a job does not choose (None keeps a setting)."""
    if pick_order is not None and pick_order not in PICK_ORDERS:
        raise DomainError("validation_error", field="pick_order")
    if print_order is not None and print_order not in PRINT_ORDERS:
        raise DomainError("validation_error", field="print_order")
    supplier.pick_order = pick_order or supplier.pick_order
    supplier.print_order = print_order or supplier.print_order


def sequential_numbers(start: str, count: int) -> list[str]:
    """`SF1000000000001` → SF1000000000001, SF1000000000002, … keeping the digit width."""
    number = normalize_tracking_no(start)
    match = re.fullmatch(r"(.*?)([0-9]+)", number)
    if not match or not is_valid_tracking_no(number):
        raise DomainError("invalid_tracking_no", field="start_tracking_no")
    prefix, digits = match.groups()
    first = int(digits)
    numbers = [f"{prefix}{first + i:0{len(digits)}d}" for i in range(count)]
    if any(len(n) != len(number) or not is_valid_tracking_no(n) for n in numbers):
        raise DomainError("invalid_tracking_no", field="start_tracking_no")
    return numbers


def _printability(
    supplier: Supplier, order_nos: Sequence[str | OrderRef], merchant_shop_id: str = ""
) -> tuple[list[Order], list[PrintRefusal]]:
    """The supplier's orders that may be printed now, in the order given; refusals with codes.
    An item is a number or a (number, merchant shop ID) pair (the desk's rows know their
    merchant); a number two of the supplier's merchants use needs the merchant, here or in
    `merchant_shop_id`, and is refused as ambiguous_order_no without it."""
    shop = normalize_shop_id(merchant_shop_id)
    refs = list(
        dict.fromkeys(
            (no.strip(), normalize_shop_id(ref_shop))
            for no, ref_shop in (
                (item, shop) if isinstance(item, str) else item for item in order_nos
            )
            if no and no.strip()
        )
    )
    found = find_orders_for_supplier(supplier, refs)
    missing = [no for no, ref_shop in refs if (no, ref_shop) not in found]
    cancelled = cancelled_for_supplier(supplier, missing) if missing else set()
    # one order named twice (by number alone and with its merchant) is printed once
    orders = list({o.id: o for ref in refs if (o := found.get(ref)) is not None}.values())
    printable, blocked = _printable_now(supplier, orders)
    # _printable_now refuses in the order it was given: pair each refusal with its order.
    printable_ids = {order.id for order in printable}
    refusals = dict(zip([o.id for o in orders if o.id not in printable_ids], blocked, strict=True))
    refused: list[PrintRefusal] = []
    for ref in refs:  # refusals in the order given
        no = ref[0]
        if ref not in found:
            code = "assignment_cancelled" if no in cancelled else "not_assigned"
            refused.append(PrintRefusal(no, code))
        elif (order := found[ref]) is None:
            refused.append(PrintRefusal(no, AMBIGUOUS))
        elif order.id in refusals:
            refused.append(refusals[order.id])
    return printable, refused


def _printable_now(
    supplier: Supplier, orders: Sequence[Order]
) -> tuple[list[Order], list[PrintRefusal]]:
    """Which of the supplier's current orders may be printed now, the others with their code."""
    bound = actively_bound_merchant_ids(supplier, {o.merchant_id for o in orders})
    printable: list[Order] = []
    refused: list[PrintRefusal] = []
    for order in orders:
        if order.supplier_id != supplier.id:
            refused.append(PrintRefusal(order.order_no, "assignment_cancelled"))
        elif order.merchant_id not in bound:
            # After the binding ended: no labels, so no receiver data of that merchant.
            refused.append(PrintRefusal(order.order_no, "not_bound"))
        elif code := PRINTABLE_RULE.blocker(order):
            refused.append(PrintRefusal(order.order_no, code))
        else:
            printable.append(order)
    return printable, refused


def _in_print_order(orders: list[Order], print_order: str) -> list[Order]:
    """Labels by SKU (then promise time) or by 承诺发货时间 (none last); else as given."""
    if print_order == PRINT_SKU:
        return sorted(
            orders,
            key=lambda o: (o.sku_code == "", o.sku_code or o.sku_key, o.goods_name, o.spec),
        )
    if print_order == PRINT_PROMISE:
        return sorted(orders, key=lambda o: (o.promise_ship_at is None, o.promise_ship_at or 0))
    return orders


def _merged_heads(orders: list[Order]) -> dict[int, int]:
    """order id → the id of the order whose label carries it: orders of one merchant to one
    receiver still waiting for a tracking number go on the label of the first of them (in
    print order), brought together there; the others keep their own label."""
    heads: dict[tuple[int, str], int] = {}
    carried: dict[int, int] = {}
    for order in orders:
        if order.stage != STAGE_ASSIGNED or not order.receiver_key:
            continue
        head = heads.setdefault((order.merchant_id, order.receiver_key), order.id)
        if head != order.id:
            carried[order.id] = head
    return carried


def _group_in_order(orders: list[Order], carried: dict[int, int]) -> list[Order]:
    """Each carried order right after its label's order (labels stay in print order)."""
    members: dict[int, list[Order]] = {}
    for order in orders:
        if order.id in carried:
            members.setdefault(carried[order.id], []).append(order)
    grouped: list[Order] = []
    for order in orders:
        if order.id not in carried:
            grouped += [order, *members.get(order.id, [])]
    return grouped


def create_print_job(
    supplier: Supplier,
    order_nos: Sequence[str | OrderRef],
    courier: str,
    label_size: str,
    start_tracking_no: str,
    actor: User | None,
    merchant_shop_id: str = "",
    print_order: str | None = None,
    packing_slips: str = SLIPS_NONE,
    merge_parcels: bool = False,
) -> PrintJobResult:
    """Labels in `print_order` (desk order as given, by SKU or by promise time; None: the
    factory's default). Sorting is stable: orders that tie keep the order given. With
    `merge_parcels`, orders of one merchant to one receiver share one label (one parcel)."""
    found = find_courier(courier)
    if found is None:
        raise DomainError("unknown_courier", field="courier")
    if label_size not in LABEL_SIZES:
        raise DomainError("validation_error", field="label_size")
    print_order = print_order or supplier.print_order
    if print_order not in PRINT_ORDERS:
        raise DomainError("validation_error", field="print_order")
    if packing_slips not in PACKING_SLIPS:
        raise DomainError("validation_error", field="packing_slips")
    printable, refused = _printability(supplier, order_nos, merchant_shop_id)
    printable = _in_print_order(printable, print_order)
    carried = _merged_heads(printable) if merge_parcels else {}
    printable = _group_in_order(printable, carried)
    result = PrintJobResult(job=None, refused=refused)
    if not printable:
        return result
    numbers: dict[int, str] = {}
    start = normalize_tracking_no(start_tracking_no)
    if start:
        # Only labels still waiting for a number take paper numbers, in print order; a
        # merged parcel's orders share their label's number.
        waiting = [o for o in printable if o.stage == STAGE_ASSIGNED and o.id not in carried]
        sequence = sequential_numbers(start, len(waiting))
        taken = db.session.scalars(
            select(Parcel.tracking_no).where(Parcel.tracking_no.in_(sequence))
        ).all()
        if taken:
            raise DomainError("duplicate_tracking_no", field="start_tracking_no", number=taken[0])
        numbers = {order.id: number for order, number in zip(waiting, sequence, strict=True)}
        numbers.update({order_id: numbers[head] for order_id, head in carried.items()})
    job = PrintJob(
        supplier_id=supplier.id,
        created_by=actor.id if actor else None,
        courier=found.code,
        label_size=label_size,
        start_tracking_no=start,
        status=JOB_PENDING if numbers else JOB_PRINTED,
        print_order=print_order,
        packing_slips=packing_slips,
        merge_parcels=bool(carried),
        order_count=len(printable),
    )
    db.session.add(job)
    db.session.flush()
    seqs = {o.id: i for i, o in enumerate(printable, start=1)}
    db.session.execute(
        insert(PrintJobOrder),
        [
            {
                "job_id": job.id,
                "order_id": o.id,
                "seq": seqs[o.id],
                "tracking_no": numbers.get(o.id, ""),
                "label_seq": seqs[carried[o.id]] if o.id in carried else 0,
            }
            for o in printable
        ],
    )
    result.job = job
    result.printed = [o.order_no for o in printable]
    return result


def _job_orders(job: PrintJob) -> list[tuple[Order, str]]:
    return list(
        db.session.execute(
            select(Order, PrintJobOrder.tracking_no)
            .join(PrintJobOrder, PrintJobOrder.order_id == Order.id)
            .where(PrintJobOrder.job_id == job.id)
            .order_by(PrintJobOrder.seq)
        )
    )


def carried_in_job(job_id: int) -> dict[int, int]:
    """A job's merged parcels: carried order id → the id of the order whose label carries it."""
    head = aliased(PrintJobOrder)
    rows = db.session.execute(
        select(PrintJobOrder.order_id, head.order_id)
        .join(head, and_(head.job_id == PrintJobOrder.job_id, head.seq == PrintJobOrder.label_seq))
        .where(PrintJobOrder.job_id == job_id, PrintJobOrder.label_seq > 0)
    )
    return {carried: head_id for carried, head_id in rows}


@dataclass(frozen=True)
class LabelRender:
    """A recorded render of a job: the labels to draw, and the orders left out of it."""

    labels: list[Label | Slip]
    label_size: str
    skipped: list[PrintRefusal]
    cover: Cover | None = None  # the first page: counts and pieces per SKU

    def pdf(self) -> bytes:
        return render_labels(self.labels, self.label_size, self.cover)


def _render_rows(
    supplier: Supplier, job: PrintJob
) -> tuple[list[tuple[Order, str]], list[PrintRefusal], dict[int, Merchant]]:
    """The job's orders printable now (in print order), the others refused, their merchants."""
    if job.status == JOB_VOIDED:
        raise DomainError("print_job_voided")
    rows = _job_orders(job)
    # The job's own orders (by id): a number another merchant also uses never swaps them.
    printable, refused = _printable_now(supplier, [order for order, _no in rows])
    allowed = {order.id for order in printable}
    rows = [(order, number) for order, number in rows if order.id in allowed]
    if not rows:
        raise DomainError("nothing_printable")
    merchants = {
        m.id: m
        for m in db.session.scalars(
            select(Merchant).where(Merchant.id.in_({order.merchant_id for order, _n in rows}))
        )
    }
    return rows, refused, merchants


def _audit(supplier: Supplier, job: PrintJob, actor: User | None, count: int) -> datetime:
    now = utcnow()
    db.session.add(
        PrintRender(
            job_id=job.id,
            supplier_id=supplier.id,
            user_id=actor.id if actor else None,
            label_count=count,
            created_at=now,
        )
    )
    return now


def render_print_job(
    keyring: KeyRing, supplier: Supplier, job: PrintJob, actor: User | None
) -> LabelRender:
    """Record a render (or re-render) of the job; orders blocked since the job was made are
    left out. The caller commits, then draws the PDF (`.pdf()`): drawing takes seconds for a
    big job, and SQLite's write lock, which this bookkeeping takes, must not wait on it.
    A job with packing slips `after` its labels has each order's slip after its label."""
    rows, refused, merchants = _render_rows(supplier, job)
    courier = find_courier(job.courier)
    codes = codes_for_rows(supplier.id, (order for order, _n in rows))
    slips = (
        _slips(keyring, merchants, [o for o, _n in rows], codes)
        if job.packing_slips == SLIPS_AFTER
        else {}
    )
    carried = carried_in_job(job.id) if job.merge_parcels else {}
    # An order whose label's order is blocked since gets its own label again.
    shown = {order.id for order, _n in rows}
    carried = {order_id: head for order_id, head in carried.items() if head in shown}
    on_label: dict[int, list[Order]] = {}
    for order, _n in rows:
        if order.id in carried:
            on_label.setdefault(carried[order.id], []).append(order)
    lines = lines_by_order([order for order, _n in rows])
    line_codes = codes_for(
        supplier.id,
        ((order.merchant_id, line.sku_key) for order, _n in rows for line in lines[order.id]),
    )

    def texts(order: Order, first: int = 0) -> list[str]:
        return [
            _goods_text(line, line_codes.get((order.merchant_id, line.sku_key), ""))
            for line in lines[order.id][first:]
        ]

    labels: list[Label | Slip] = []
    for order, number in rows:
        if order.id not in carried:  # a carried order is on its head's label, not its own
            mates = on_label.get(order.id, [])
            labels.append(
                _label(
                    keyring,
                    merchants[order.merchant_id],
                    order,
                    number,
                    courier.name,
                    codes.get((order.merchant_id, order.sku_key), ""),
                    [*texts(order, 1), *(text for mate in mates for text in texts(mate))],
                    [mate.order_no for mate in mates],
                )
            )
        if order.id in slips:
            labels.append(slips[order.id])
    now = _audit(supplier, job, actor, len(rows))
    ids = [order.id for order, _n in rows]
    db.session.execute(
        update(Order)
        .where(Order.id.in_(ids), Order.supplier_id == supplier.id)
        .values(print_count=Order.print_count + 1, last_printed_at=now)
    )
    job.render_count += 1
    db.session.flush()
    label_count = sum(1 for order, _n in rows if order.id not in carried)
    cover = _cover(job, [order for order, _n in rows], codes, label_count)
    return LabelRender(labels, job.label_size, refused, cover)


def _cover(
    job: PrintJob,
    orders: Sequence[Order],
    codes: dict[tuple[int, str], str],
    label_count: int | None = None,
) -> Cover:
    """Counts of the job's labels and pieces, and the pieces per SKU in print order."""
    per_sku: dict[tuple[int, str, str, str, str], list[int]] = {}
    lines = lines_by_order(orders)
    for order in orders:
        for line in lines[order.id]:
            key = (order.merchant_id, line.sku_key, line.sku_code, line.goods_name, line.spec)
            totals = per_sku.setdefault(key, [0, 0])
            totals[0] += line.quantity
            totals[1] += 1
    texts = []
    for (merchant_id, sku_key, code, name, spec), (pieces, count) in per_sku.items():
        own = codes.get((merchant_id, sku_key), "")
        text = " · ".join(p for p in (f"{name} {spec}".strip(), code, own) if p)
        texts.append(_("%(goods)s ×%(pieces)d（%(n)d 单）", goods=text, pieces=pieces, n=count))
    courier = find_courier(job.courier)
    return Cover(
        title=_("打印任务 #%(id)d", id=job.id),
        subtitle=" · ".join(
            (
                courier.name if courier else job.courier,
                f"{job.created_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}",
                str(dict(PRINT_ORDER_LABELS).get(job.print_order, "")),
            )
        ),
        counts=_(
            "订单 %(orders)d 单 · 面单 %(labels)d 张 · 共 %(pieces)d 件",
            orders=len(orders),
            labels=len(orders) if label_count is None else label_count,
            pieces=sum(total_quantity(lines[order.id]) for order in orders),
        ),
        lines=texts,
    )


def render_packing_slips(
    keyring: KeyRing, supplier: Supplier, job: PrintJob, actor: User | None
) -> LabelRender:
    """The job's packing slips as a PDF of their own (labels are not counted as printed); the
    render is audited like a label render (label_count 0: no label came out)."""
    rows, refused, merchants = _render_rows(supplier, job)
    orders = [order for order, _n in rows]
    codes = codes_for_rows(supplier.id, orders)
    slips = _slips(keyring, merchants, orders, codes)
    _audit(supplier, job, actor, 0)
    db.session.flush()
    return LabelRender([slips[o.id] for o in orders], job.label_size, refused)


def _receiver(keyring: KeyRing, merchant: Merchant, order: Order) -> tuple[str, str, str, str]:
    """(name, phone, detail, buyer note) for a printed page: plaintext, except that 隐私面单
    masks name and phone, and the note's phone-like text and names."""
    name, phone, detail = reveal_receiver(
        keyring, merchant.id, order.order_no, order.name_enc, order.phone_enc, order.detail_enc
    )
    note = order.buyer_note
    if merchant.label_style == LABEL_PRIVATE:
        # The note is free text the buyer wrote: it may repeat the name or a phone.
        note = mask_free_text(note, [name])
        name, phone = order.name_mask, order.phone_mask
    return name, phone, detail, note


def _slips(
    keyring: KeyRing,
    merchants: dict[int, Merchant],
    orders: Sequence[Order],
    codes: dict[tuple[int, str], str],
) -> dict[int, Slip]:
    """order id → its packing slip: every item of the order; under 隐私面单 the receiver is
    masked whole and the buyer's note left out (the slip travels inside the parcel, no courier
    needs it); amounts only when the merchant shows prices on slips."""
    lines = lines_by_order(orders)
    slips: dict[int, Slip] = {}
    for order in orders:
        merchant = merchants[order.merchant_id]
        name, phone, detail, note = _receiver(keyring, merchant, order)
        if merchant.label_style == LABEL_PRIVATE:
            detail, note = order.detail_mask, ""  # a buyer's note may repeat the address
        items = []
        for line in lines[order.id]:
            own = codes.get((order.merchant_id, line.sku_key), "")
            text = " · ".join(
                p for p in (f"{line.goods_name} {line.spec}".strip(), line.sku_code, own) if p
            )
            items.append(f"{text} ×{line.quantity}")
        amounts = ""
        if merchant.slip_prices:
            amounts = " · ".join(
                f"{label} ¥{yuan(fen)}"
                for label, fen in (
                    (_("商品总价"), order.goods_total_fen),
                    (_("实付"), order.paid_fen),
                )
                if fen is not None
            )
        slips[order.id] = Slip(
            order_no=order.order_no,
            shop_name=merchant.shop_name,
            receiver=f"{name}  {phone}",
            address=f"{order.province}{order.city}{order.district}{detail}",
            lines=items,
            amounts=amounts,
            note=note[:60],
        )
    return slips


def _label(
    keyring: KeyRing,
    merchant: Merchant,
    order: Order,
    job_number: str,
    courier_name: str,
    supplier_code: str = "",
    more_goods: Sequence[str] = (),
    merged: Sequence[str] = (),
) -> Label:
    """Plaintext only goes into the PDF; 隐私面单 keeps name and phone masked even there.
    The goods line carries the merchant's SKU code and the factory's own code beside it;
    an order with several items carries its other lines' texts in `more_goods`; a merged
    parcel also the goods of the `merged` orders, which its note names."""
    name, phone, detail, note = _receiver(keyring, merchant, order)
    if order.factory_note_mask:
        # The merchant's note to the factory, as the factory sees it (masked at write time).
        note = " ".join(p for p in (note, _("商家：%(note)s", note=order.factory_note_mask)) if p)
    note = note[:LABEL_NOTE_CHARS]
    if merged:
        numbers = "、".join(merged)
        together = _("合并包裹 %(n)d 单，另含 %(nos)s", n=len(merged) + 1, nos=numbers)
        note = f"{together} · {note}" if note else together
    return Label(
        order_no=order.order_no,
        courier_name=courier_name,
        tracking_no=order.tracking_no or job_number,
        sender_name=merchant.sender_name,
        sender_phone=merchant.sender_phone,
        sender_address=merchant.sender_address,
        receiver_name=name,
        receiver_phone=phone,
        receiver_address=f"{order.province}{order.city}{order.district}{detail}",
        goods=_goods_text(first_line(order), supplier_code),
        note=note,
        more_goods=tuple(more_goods),
    )


def _goods_text(line: GoodsLine, supplier_code: str) -> str:
    """商品 规格 ×数量 · 商家编码 · 厂家编码 (a label's goods line)."""
    goods = f"{line.goods_name} {line.spec} ×{line.quantity}".strip()
    codes = [line.sku_code, _("厂家编码 %(code)s", code=supplier_code) if supplier_code else ""]
    return " · ".join([goods, *(c for c in codes if c)])


def label_couriers(supplier: Supplier, order_ids: Sequence[int]) -> dict[int, str]:
    """order id → the courier of its latest label (the likely courier of its tracking number).

    One query for a page of rows; voided jobs printed nothing that will ship."""
    if not order_ids:
        return {}
    rows = db.session.execute(
        _label_couriers(), {"supplier_id": supplier.id, "order_ids": list(order_ids)}
    )
    return {order_id: courier for order_id, courier in rows}


@cache
def _label_couriers() -> Select[Any]:
    """Built once (a desk page of printed orders asks): building it cost more than running it."""
    latest = (
        select(PrintJobOrder.order_id, func.max(PrintJobOrder.job_id).label("job_id"))
        .join(PrintJob, PrintJob.id == PrintJobOrder.job_id)
        .where(
            PrintJobOrder.order_id.in_(bindparam("order_ids", expanding=True)),
            PrintJob.supplier_id == bindparam("supplier_id"),
            PrintJob.status != JOB_VOIDED,
        )
        .group_by(PrintJobOrder.order_id)
        .subquery()
    )
    return select(latest.c.order_id, PrintJob.courier).join(
        PrintJob, PrintJob.id == latest.c.job_id
    )


def confirm_print_job(supplier: Supplier, job: PrintJob, actor: User | None) -> TrackingResult:
    """The paper waybills printed correctly: their numbers become returned tracking numbers."""
    _decide(job, JOB_CONFIRMED)
    items = [
        TrackingItem(order.order_no, job.courier, number)
        for order, number in _job_orders(job)
        if number
    ]
    return return_tracking(supplier, items, actor)


def void_print_job(job: PrintJob) -> None:
    _decide(job, JOB_VOIDED)


def _decide(job: PrintJob, status: str) -> None:
    changed = db.session.execute(
        update(PrintJob)
        .where(PrintJob.id == job.id, PrintJob.status == JOB_PENDING)
        .values(status=status, decided_at=utcnow())
    ).rowcount
    if not changed:
        raise DomainError("print_job_decided")
    db.session.refresh(job)

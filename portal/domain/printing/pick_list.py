"""拣货单: what to take off the shelves for a selection of orders or a print job.

One line per merchant SKU (goods, spec, the merchant's code, the factory's own code and 库位)
with its pieces and orders, sorted the way the factory walks its store: by SKU, by goods name
or by storage location (its setting, or the one asked for). A pick list is about goods only: it
never carries a receiver, a phone, an address or an order's note.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import and_, func, select

from portal.domain.allocation import chunks
from portal.domain.formatting import SHANGHAI
from portal.domain.printing.labels import FONT, register_font
from portal.domain.tracking import OrderRef, find_orders_for_supplier
from portal.extensions import db
from portal.models import Merchant, Order, OrderLine, PrintJobOrder, Supplier, SupplierSkuCode

PICK_SKU = "sku"
PICK_GOODS = "goods"
PICK_LOCATION = "location"
PICK_ORDER_LABELS = (
    (PICK_SKU, _l("按商家编码")),
    (PICK_GOODS, _l("按商品名称")),
    (PICK_LOCATION, _l("按库位")),
)
PICK_ORDERS = tuple(value for value, _label in PICK_ORDER_LABELS)


@dataclass(frozen=True)
class PickLine:
    key: tuple[int, str]  # (merchant id, SKU key): one line per SKU of a merchant
    merchant_name: str
    goods_name: str
    spec: str
    sku_code: str  # the merchant's 商家编码 ("" when the SKU is keyed by goods id + spec)
    supplier_code: str  # the factory's own code, "" when none
    location: str  # 库位, "" when none
    quantity: int
    orders: int


@dataclass(frozen=True)
class PickList:
    title: str  # what it is for: 打印任务 #12, or 所选 30 单
    lines: list[PickLine]
    order_count: int
    sort: str

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


def _sort_key(sort: str) -> Callable[[PickLine], tuple]:
    def text(value: str) -> tuple[bool, str]:
        return (value == "", value)  # empty last

    def key(line: PickLine) -> tuple:
        goods = (line.goods_name, line.spec)
        if sort == PICK_GOODS:
            return (*goods, *text(line.sku_code), line.merchant_name)
        if sort == PICK_LOCATION:
            return (*text(line.location), *text(line.sku_code), *goods, line.merchant_name)
        return (*text(line.sku_code), *goods, line.merchant_name)

    return key


def _lines(supplier: Supplier, condition: object) -> tuple[list[PickLine], int]:
    """Aggregate the lines of the supplier's current orders matching `condition`, per merchant
    SKU (an order of several items counts once for each SKU it holds); and the orders. A SKU
    the platform listed under another title or spec since is still one line, named as one of
    its orders names it."""
    rows = db.session.execute(
        select(
            OrderLine.merchant_id,
            OrderLine.sku_key,
            Merchant.shop_name,
            func.max(OrderLine.goods_name),
            func.max(OrderLine.spec),
            func.max(OrderLine.sku_code),
            func.coalesce(func.max(SupplierSkuCode.supplier_code), ""),
            func.coalesce(func.max(SupplierSkuCode.location), ""),
            func.sum(OrderLine.quantity),
            func.count(func.distinct(Order.id)),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .join(Merchant, Merchant.id == Order.merchant_id)
        .outerjoin(
            SupplierSkuCode,
            and_(
                SupplierSkuCode.supplier_id == supplier.id,
                SupplierSkuCode.merchant_id == OrderLine.merchant_id,
                SupplierSkuCode.sku_key == OrderLine.sku_key,
            ),
        )
        .where(Order.supplier_id == supplier.id, condition)
        .group_by(OrderLine.merchant_id, OrderLine.sku_key, Merchant.shop_name)
    )
    lines = [
        PickLine(
            (merchant_id, sku_key), shop, name, spec, sku or "", code, location, int(qty), int(n)
        )
        for merchant_id, sku_key, shop, name, spec, sku, code, location, qty, n in rows
    ]
    orders = db.session.scalar(
        select(func.count(Order.id)).where(Order.supplier_id == supplier.id, condition)
    )
    return lines, int(orders or 0)


def _merge(lines: Iterable[PickLine]) -> list[PickLine]:
    """Lines of one SKU found in several chunks of a selection become one."""
    merged: dict[tuple[int, str], PickLine] = {}
    for line in lines:
        if (seen := merged.get(line.key)) is not None:
            line = replace(
                seen, quantity=seen.quantity + line.quantity, orders=seen.orders + line.orders
            )
        merged[line.key] = line
    return list(merged.values())


def pick_list_for_orders(supplier: Supplier, refs: Sequence[OrderRef], sort: str) -> PickList:
    """A selection on the desk: the supplier's current orders named by (number, merchant shop
    ID) — a number two merchants use counts only the order of the row that was ticked."""
    sort = sort if sort in PICK_ORDERS else supplier.pick_order
    found = find_orders_for_supplier(supplier, refs)
    order_ids = sorted({order.id for order in found.values() if order is not None})
    picked: list[PickLine] = []
    count = 0
    for chunk in chunks(order_ids):
        lines, orders = _lines(supplier, Order.id.in_(chunk))
        picked.extend(lines)
        count += orders
    lines = sorted(_merge(picked), key=_sort_key(sort))
    return PickList(_("所选 %(n)d 单", n=count), lines, count, sort)


def pick_list_for_job(supplier: Supplier, job_id: int, sort: str) -> PickList:
    """A print job's orders that are still the supplier's (a cancelled one is not packed)."""
    sort = sort if sort in PICK_ORDERS else supplier.pick_order
    in_job = Order.id.in_(select(PrintJobOrder.order_id).where(PrintJobOrder.job_id == job_id))
    lines, count = _lines(supplier, in_job)
    return PickList(
        _("打印任务 #%(id)d", id=job_id), sorted(lines, key=_sort_key(sort)), count, sort
    )


HEADER = (_l("序号"), _l("库位"), _l("商品"), _l("规格"), _l("商家编码"), _l("厂家编码"),
          _l("商家"), _l("件数"), _l("订单数"))  # fmt: skip


def pick_list_rows(pick: PickList) -> Iterator[list[object]]:
    """The header, one row per line, then the totals (for the XLSX)."""
    yield [str(h) for h in HEADER]
    for number, line in enumerate(pick.lines, start=1):
        yield [
            number,
            line.location,
            line.goods_name,
            line.spec,
            line.sku_code,
            line.supplier_code,
            line.merchant_name,
            line.quantity,
            line.orders,
        ]
    yield ["", "", _("合计"), "", "", "", "", pick.quantity, pick.order_count]


def render_pick_list(pick: PickList, factory_name: str, now: datetime) -> bytes:
    """An A4 PDF: a title with what it covers, then the lines as a table repeating its header."""
    register_font()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=10 * mm,
        bottomMargin=10 * mm,
        title=_("拣货单"),
    )
    title = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=20)
    small = ParagraphStyle("small", fontName=FONT, fontSize=9, leading=11)
    order_label = dict(PICK_ORDER_LABELS).get(pick.sort, "")
    story: list = [
        Paragraph(_("拣货单 · %(what)s", what=pick.title), title),
        Paragraph(
            _(
                "%(factory)s · %(when)s · %(sort)s · "
                "%(lines)d 个 SKU，%(pieces)d 件，%(orders)d 单",
                factory=factory_name,
                when=f"{now.astimezone(SHANGHAI):%Y-%m-%d %H:%M}",
                sort=order_label,
                lines=len(pick.lines),
                pieces=pick.quantity,
                orders=pick.order_count,
            ),
            small,
        ),
        Spacer(1, 4 * mm),
    ]
    rows = list(pick_list_rows(pick))
    data = [[Paragraph(str(cell), small) for cell in row] for row in rows]
    widths = [10, 18, 44, 30, 26, 24, 20, 12, 12]
    table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story.append(table)
    document.build(story)
    return buffer.getvalue()

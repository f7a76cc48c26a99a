"""Reader for the platforms' merchant order exports (CSV or XLSX) into ImportedOrder rows.

The header row tells which platform's export it is (`detect_platform`): Pinduoduo (one row per
order) or Douyin 抖店 (one row per sub-order, grouped into orders by 主订单编号).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import BinaryIO
from zoneinfo import ZoneInfo

from portal.domain.imports.tabular import (
    EXPORT_AVERAGE_COLUMNS,
    ORDER_NO,
    Column,
    FieldError,
    ImportFileError,
    RowError,
    Table,
    normalize_header,
    open_table,
    order_rows,
)
from portal.models.orders import MAX_ORDER_LINES

__all__ = [
    "COLUMNS",
    "ImportFileError",
    "ImportedLine",
    "ImportedOrder",
    "RowError",
    "open_platform_export",
    "read_platform_export",
]

# Times in the export are the platform's local time.
SHANGHAI = ZoneInfo("Asia/Shanghai")

GOODS = "商品"
STATUS = "订单状态"
QUANTITY = "商品数量(件)"
RECEIVER = "收货人"
PHONE = "手机"
PROVINCE = "省"
CITY = "市"
DISTRICT = "区"
DETAIL = "街道"
AFTER_SALE = "售后状态"
PAID_AT = "支付时间"
PROMISE_SHIP_AT = "承诺发货时间"
GOODS_ID = "商品id"
SPEC = "商品规格"
STYLE_ID = "样式ID"
SKU_CODE = "商家编码-SKU维度"
GOODS_CODE = "商家编码-商品维度"
TRACKING_NO = "快递单号"
COURIER = "快递公司"
MERCHANT_NOTE = "商家备注"
BUYER_NOTE = "买家留言"
AUDIT = "是否审核中"
GOODS_TOTAL = "商品总价(元)"
PAID = "用户实付金额(元)"
MERCHANT_RECEIVED = "商家实收金额(元)"

# Limits match what the order tables store; a longer cell is refused rather than cut.
COLUMNS: tuple[Column, ...] = (
    Column(ORDER_NO, required=True),
    Column(GOODS, required=True, max_length=200),
    Column(STATUS, required=True),
    Column(QUANTITY, required=True),
    Column(RECEIVER, required=True, max_length=50),
    Column(PHONE, required=True, max_length=40),
    Column(PROVINCE, required=True, max_length=50),
    Column(CITY, required=True, max_length=50),
    Column(DISTRICT, required=True, max_length=50),
    Column(DETAIL, required=True, max_length=200),
    Column(AFTER_SALE, required=True, max_length=100),
    Column(PAID_AT),
    Column(PROMISE_SHIP_AT),
    Column(GOODS_ID, max_length=64),
    Column(SPEC, max_length=100),
    Column(STYLE_ID, max_length=64),
    Column(SKU_CODE, max_length=64),
    Column(GOODS_CODE, max_length=64),
    Column(TRACKING_NO, max_length=64),
    Column(COURIER, max_length=50),
    Column(MERCHANT_NOTE, max_length=500),
    Column(BUYER_NOTE, max_length=500),
    Column(AUDIT),
    Column(GOODS_TOTAL),
    Column(PAID),
    Column(MERCHANT_RECEIVED),
)


def _status_key(text: str) -> str:
    # NFKC turns the full-width comma of 已发货，待签收 into ',', so both spellings match.
    return "".join(unicodedata.normalize("NFKC", text).split())


_PLATFORM_STATUSES = {
    _status_key(text): status
    for text, status in {
        "待支付": "pending_payment",
        "待发货": "awaiting_shipment",
        "已发货，待签收": "shipped",
        "已签收": "completed",
        "已取消": "cancelled",
        "未发货，退款成功": "cancelled",
        "已发货，退款成功": "cancelled",
        "已取消，退款成功": "cancelled",
    }.items()
}
_NO_AFTER_SALE = frozenset({"无售后或售后取消", "无售后"})
_YES = frozenset({"是", "y", "yes", "true", "1"})
_NO = frozenset({"", "否", "n", "no", "false", "0"})

_DATETIME = re.compile(
    r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})"
    r"(?:[ T]+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?)?"
)
_MAX_QUANTITY = 100_000
# Far above any real order, far below what a BIGINT column holds.
_MAX_AMOUNT_FEN = 10**12
_FEN = Decimal(100)


@dataclass(frozen=True, slots=True)
class ImportedLine:
    """One goods line of an order (DESIGN §10.2)."""

    goods_id: str
    goods_name: str
    spec: str
    style_id: str
    sku_code: str
    goods_code: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ImportedOrder:
    """One valid row of the platform export, ready for the order service to upsert."""

    row: int
    order_no: str
    platform_status: str
    platform_status_text: str
    after_sale_status: str
    after_sale_active: bool
    audit_hold: bool
    paid_at: datetime | None
    promise_ship_at: datetime | None
    receiver_name: str
    receiver_phone: str
    province: str
    city: str
    district: str
    detail: str
    goods_id: str
    goods_name: str
    spec: str
    style_id: str
    sku_code: str
    goods_code: str
    quantity: int
    tracking_no: str
    courier_name: str
    merchant_note: str
    buyer_note: str
    goods_total_fen: int | None
    paid_fen: int | None
    merchant_received_fen: int | None
    # The goods fields above are line 1; an order with several items carries the others here
    # (a Douyin order's later sub-orders, an API order's lines[1:]).
    more_lines: tuple[ImportedLine, ...] = ()

    @property
    def lines(self) -> tuple[ImportedLine, ...]:
        """Every goods line, line 1 first."""
        first = ImportedLine(
            self.goods_id,
            self.goods_name,
            self.spec,
            self.style_id,
            self.sku_code,
            self.goods_code,
            self.quantity,
        )
        return (first, *self.more_lines)


# Other platforms' order exports, told apart by headers only they have (all must be present).
# Named so a merchant knows what was uploaded when the portal cannot read it.
OTHER_PLATFORM_LAYOUTS = (
    ("淘宝/天猫（千牛）", ("订单编号", "买家会员名")),
    ("淘宝/天猫（千牛）宝贝", ("订单编号", "宝贝标题")),
    ("快手小店", ("订单号", "商品名称", "收货人电话", "达人ID")),
    ("京东", ("订单号", "客户姓名", "客户地址")),
)
_OTHER_LAYOUTS = tuple(
    (name, frozenset(normalize_header(h) for h in headers))
    for name, headers in OTHER_PLATFORM_LAYOUTS
)


def recognise_other_platform(headers: Sequence[str]) -> ImportFileError | None:
    """A refusal naming the platform whose export this is, if the headers tell."""
    present = set(headers)
    for name, signature in _OTHER_LAYOUTS:
        if signature <= present:
            return ImportFileError(
                "unsupported_platform",
                f"这是{name}导出的订单文件，门户目前能读取拼多多和抖店的订单导出。"
                "请在拼多多或抖店商家后台导出订单后上传。",
            )
    return None


PLATFORM_PDD = "pdd"
PLATFORM_DOUYIN = "douyin"


@dataclass(frozen=True)
class Layout:
    """A platform's export layout: its columns, how a row becomes an order, and (Douyin) how
    rows of one order are put together."""

    platform: str
    columns: tuple[Column, ...]
    build: Callable[[int, str, Mapping[str, str]], ImportedOrder]
    group: Callable[[Iterator[ImportedOrder | RowError]], Iterator[ImportedOrder | RowError]]
    # A saved mapping names the header of each column itself (None: not in the file).
    keys: Mapping[str, str | None] | None = None


class PlatformRows(Iterator[ImportedOrder | RowError]):
    """The orders of an opened export, and which platform's export it is (`platform`)."""

    def __init__(self, rows: Iterator[ImportedOrder | RowError], platform: str) -> None:
        self._rows = rows
        self.platform = platform

    def __next__(self) -> ImportedOrder | RowError:
        return next(self._rows)

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()


def detect_platform(headers: Sequence[str], mappings: Sequence[SavedMapping] = ()) -> Layout:
    """The one place that tells a platform's export from its (normalised) header row.

    Douyin's 主订单编号 + 子订单编号 name it; Pinduoduo's required columns name it; otherwise a
    merchant's saved mapping for exactly this header set (`mappings`) reads it. Anything else is
    read as Pinduoduo's, whose missing columns are then listed (or another platform named)."""
    present = set(headers)
    if present >= _DOUYIN_SIGNATURE:
        return DOUYIN_LAYOUT
    if _has_required(present, COLUMNS):
        return PDD_LAYOUT
    key = header_key(headers)
    for mapping in mappings:
        if mapping.header_key == key:
            return mapped_layout(mapping)
    return PDD_LAYOUT


def open_platform_export(
    stream: BinaryIO,
    filename: str,
    *,
    max_rows: int | None = None,
    mappings: Sequence[SavedMapping] = (),
) -> PlatformRows:
    """Check the file and its headers now (ImportFileError), then stream orders lazily.

    `mappings` are the merchant's saved column mappings (portal.domain.imports.mappings)."""
    table: Table = open_table(
        stream, filename, max_rows=max_rows, average_columns=EXPORT_AVERAGE_COLUMNS
    )
    layout = detect_platform(table.headers, mappings)
    rows = order_rows(
        table, layout.columns, layout.build, recognise_other_platform, keys=layout.keys
    )
    return PlatformRows(layout.group(rows), layout.platform)


def read_platform_export(
    stream: BinaryIO,
    filename: str,
    *,
    max_rows: int | None = None,
    mappings: Sequence[SavedMapping] = (),
) -> Iterator[ImportedOrder | RowError]:
    """Like open_platform_export, but nothing is read until the first next()."""
    yield from open_platform_export(stream, filename, max_rows=max_rows, mappings=mappings)


def _has_required(present: set[str], columns: Sequence[Column]) -> bool:
    return all(
        any(normalize_header(name) in present for name in (column.name, *column.aliases))
        for column in columns
        if column.required
    )


# --- a merchant's saved column mapping (any other layout: Taobao/Tmall, an ERP's export) -------

PLATFORM_MAPPING = "mapping"
# The order fields a mapping can fill: Pinduoduo's columns (the order's own field names) with
# what the form calls them; the required ones must be mapped. 订单状态 defaults to 待发货 and
# 售后状态 to none, so an ERP's list of orders to ship maps with the eight required fields.
MAPPING_FIELDS: tuple[tuple[str, str, bool], ...] = (
    (ORDER_NO, "订单号", True),
    (GOODS, "商品名称", True),
    (QUANTITY, "数量", True),
    (RECEIVER, "收货人", True),
    (PHONE, "手机/电话", True),
    (PROVINCE, "省", True),
    (CITY, "市", True),
    (DISTRICT, "区/县", False),
    (DETAIL, "详细地址（区县之后）", True),
    (STATUS, "订单状态（不选则为待发货）", False),
    (AFTER_SALE, "售后状态", False),
    (SPEC, "规格", False),
    (SKU_CODE, "商家编码（SKU）", False),
    (GOODS_ID, "商品ID", False),
    (GOODS_CODE, "商家编码（商品）", False),
    (PAID_AT, "支付时间", False),
    (PROMISE_SHIP_AT, "承诺发货时间", False),
    (BUYER_NOTE, "买家留言", False),
    (MERCHANT_NOTE, "商家备注", False),
    (GOODS_TOTAL, "商品总价（元）", False),
    (PAID, "实付金额（元）", False),
    (MERCHANT_RECEIVED, "商家实收（元）", False),
    (TRACKING_NO, "快递单号", False),
    (COURIER, "快递公司", False),
)
MAPPING_REQUIRED = frozenset(name for name, _label, required in MAPPING_FIELDS if required)
DEFAULT_MAPPED_STATUS = "待发货"
# Status words of the exports merchants map: Pinduoduo's, Douyin's and Taobao/Tmall's (千牛).
_TAOBAO_STATUSES = {
    _status_key(text): status
    for text, status in {
        "等待买家付款": "pending_payment",
        "买家已付款": "awaiting_shipment",
        "等待卖家发货": "awaiting_shipment",
        "等待发货": "awaiting_shipment",
        "卖家已发货": "shipped",
        "等待买家确认收货": "shipped",
        "交易成功": "completed",
        "交易关闭": "cancelled",
        "交易已关闭": "cancelled",
    }.items()
}
_NO_AFTER_SALE_WORDS = frozenset(
    {_status_key(t) for t in (*_NO_AFTER_SALE, "没有申请退款", "无退款", "-")}
)


@dataclass(frozen=True)
class SavedMapping:
    """A saved mapping as the reader uses it: its name, the header set it is for, and the
    header (normalised) of each mapped field."""

    name: str
    header_key: str
    fields: Mapping[str, str]


def header_key(headers: Sequence[str]) -> str:
    """One digest per header set (order and spelling variants do not matter)."""
    names = sorted({normalize_header(h) for h in headers if normalize_header(h)})
    return hashlib.sha256("\x1f".join(names).encode()).hexdigest()


def mapped_layout(mapping: SavedMapping) -> Layout:
    keys = {column.name: mapping.fields.get(column.name) for column in COLUMNS}
    return Layout(
        f"{PLATFORM_MAPPING}:{mapping.name}",
        COLUMNS,
        _build_mapped_order,
        _one_row_per_order,
        keys,
    )


def _build_mapped_order(row: int, order_no: str, cells: Mapping[str, str]) -> ImportedOrder:
    """A row of a mapped file: Pinduoduo's reader after the other platforms' status words."""
    status_text = cells[STATUS] or DEFAULT_MAPPED_STATUS
    status = _platform_status(status_text, _MAPPED_STATUSES)
    after_sale = cells[AFTER_SALE]
    if _status_key(after_sale) in _NO_AFTER_SALE_WORDS:
        after_sale = ""
    values = {**cells, STATUS: _PDD_STATUS_WORDS[status], AFTER_SALE: after_sale}
    return replace(_build_order(row, order_no, values), platform_status_text=status_text[:30])


def _platform_status(text: str, statuses: Mapping[str, str]) -> str:
    """The status code of a platform's status words, or FieldError."""
    status = statuses.get(_status_key(text))
    if status is None:
        raise FieldError("unknown_status", f"订单状态“{text}”无法识别" if text else "订单状态为空")
    return status


def _build_order(row: int, order_no: str, cells: Mapping[str, str]) -> ImportedOrder:
    status_text = cells[STATUS]
    status = _platform_status(status_text, _PLATFORM_STATUSES)
    if not cells[GOODS]:
        raise FieldError("missing_goods", "商品名称为空")
    after_sale = cells[AFTER_SALE]
    if _status_key(after_sale) in _NO_AFTER_SALE:
        after_sale = ""
    return ImportedOrder(
        row=row,
        order_no=order_no,
        platform_status=status,
        platform_status_text=status_text,
        after_sale_status=after_sale,
        after_sale_active=bool(after_sale),
        audit_hold=_parse_flag(cells[AUDIT], AUDIT),
        paid_at=parse_datetime(cells[PAID_AT], PAID_AT),
        promise_ship_at=parse_datetime(cells[PROMISE_SHIP_AT], PROMISE_SHIP_AT),
        receiver_name=cells[RECEIVER],
        receiver_phone=cells[PHONE],
        province=cells[PROVINCE],
        city=cells[CITY],
        district=cells[DISTRICT],
        detail=cells[DETAIL],
        goods_id=cells[GOODS_ID],
        goods_name=cells[GOODS],
        spec=cells[SPEC],
        style_id=cells[STYLE_ID],
        sku_code=cells[SKU_CODE],
        goods_code=cells[GOODS_CODE],
        quantity=_parse_quantity(cells[QUANTITY]),
        tracking_no=cells[TRACKING_NO],
        courier_name=cells[COURIER],
        merchant_note=cells[MERCHANT_NOTE],
        buyer_note=cells[BUYER_NOTE],
        goods_total_fen=_parse_fen(cells[GOODS_TOTAL], GOODS_TOTAL),
        paid_fen=_parse_fen(cells[PAID], PAID),
        merchant_received_fen=_parse_fen(cells[MERCHANT_RECEIVED], MERCHANT_RECEIVED),
    )


def _parse_quantity(text: str, column: str = QUANTITY) -> int:
    if not text:
        raise FieldError("invalid_quantity", f"“{column}”为空")
    try:
        value = Decimal(unicodedata.normalize("NFKC", text))
    except InvalidOperation:
        value = Decimal("NaN")
    # "2.0" is still two pieces; "1.5", "0" and "-1" are not a quantity.
    if not value.is_finite() or value != value.to_integral_value() or value < 1:
        raise FieldError("invalid_quantity", f"“{column}”应为不小于 1 的整数，本行为“{text}”")
    if value > _MAX_QUANTITY:
        raise FieldError("invalid_quantity", f"“{column}”{text} 超过上限 {_MAX_QUANTITY}")
    return int(value)


def parse_datetime(text: str, column: str) -> datetime | None:
    if not text:
        return None
    match = _DATETIME.fullmatch(unicodedata.normalize("NFKC", text))
    try:
        if match is None:
            raise ValueError(text)
        year, _, month, day, hour, minute, second = match.groups()
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=SHANGHAI,
        )
    except ValueError:
        raise FieldError(
            "invalid_datetime",
            f"“{column}”的时间“{text}”无法识别，应为 YYYY-MM-DD HH:MM:SS 格式",
        ) from None
    return local.astimezone(UTC)


def _parse_fen(text: str, column: str) -> int | None:
    if not text:
        return None
    # Exporters and people write ¥1,234.50; NFKC turns the full-width ￥ into ¥.
    cleaned = unicodedata.normalize("NFKC", text).replace(",", "").lstrip("¥").strip()
    try:
        yuan = Decimal(cleaned)
    except InvalidOperation:
        yuan = Decimal("NaN")
    if not yuan.is_finite() or yuan < 0 or yuan * _FEN >= _MAX_AMOUNT_FEN:
        raise FieldError("invalid_amount", f"“{column}”的金额“{text}”不是有效的非负金额")
    # Half-up to the fen absorbs float noise from XLSX (83.60000000000001).
    return int((yuan * _FEN).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _parse_flag(text: str, column: str) -> bool:
    value = text.casefold()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise FieldError("invalid_audit_hold", f"“{column}”应为“是”或“否”，本行为“{text}”")


def _one_row_per_order(
    rows: Iterator[ImportedOrder | RowError],
) -> Iterator[ImportedOrder | RowError]:
    return rows


PDD_LAYOUT = Layout(PLATFORM_PDD, COLUMNS, _build_order, _one_row_per_order)


# --- Douyin (抖店): one row per sub-order --------------------------------------------------

DY_ORDER_NO = "主订单编号"
DY_SUB_ORDER_NO = "子订单编号"
DY_GOODS = "选购商品"
DY_QUANTITY = "商品数量"
DY_GOODS_ID = "商品ID"
DY_SKU_CODE = "商家编码"
DY_UNIT_PRICE = "商品单价"
DY_PAYABLE = "订单应付金额"
DY_RECEIVER = "收件人"
DY_PHONE = "收件人手机号"
DY_DETAIL = "详细地址"
DY_PAID_AT = "支付完成时间"
DY_COURIER = "快递公司"
DY_TRACKING_NO = "快递单号"
_DOUYIN_SIGNATURE = frozenset(normalize_header(h) for h in (DY_ORDER_NO, DY_SUB_ORDER_NO))

DOUYIN_COLUMNS: tuple[Column, ...] = (
    # The order number is the main order's; each row is one sub-order of it.
    Column(ORDER_NO, required=True, aliases=(DY_ORDER_NO,)),
    Column(DY_SUB_ORDER_NO, required=True, max_length=40, names_order=True),
    Column(DY_GOODS, required=True, max_length=200),
    Column(SPEC, max_length=100),
    Column(DY_QUANTITY, required=True),
    Column(DY_GOODS_ID, max_length=64),
    Column(DY_SKU_CODE, max_length=64),
    Column(DY_UNIT_PRICE),
    Column(DY_PAYABLE),
    Column(DY_RECEIVER, required=True, max_length=50),
    Column(DY_PHONE, required=True, max_length=40),
    Column(PROVINCE, required=True, max_length=50),
    Column(CITY, required=True, max_length=50),
    Column(DISTRICT, required=True, max_length=50),
    Column(DETAIL, max_length=200),
    Column(DY_DETAIL, required=True, max_length=200),
    Column(BUYER_NOTE, max_length=500),
    Column(DY_PAID_AT),
    Column(STATUS, required=True),
    Column(AFTER_SALE, max_length=100),
    Column(PROMISE_SHIP_AT),
    Column(MERCHANT_NOTE, max_length=500),
    Column(DY_COURIER, max_length=50),
    Column(DY_TRACKING_NO, max_length=64),
)

_DOUYIN_STATUSES = {
    _status_key(text): status
    for text, status in {
        "待支付": "pending_payment",
        "待付款": "pending_payment",
        "待发货": "awaiting_shipment",
        "备货中": "awaiting_shipment",
        "部分发货": "shipped",
        "已发货": "shipped",
        "已完成": "completed",
        "已签收": "completed",
        "已关闭": "cancelled",
        "已取消": "cancelled",
    }.items()
}
# Douyin's words for an after-sale that is not (or no longer) there.
_DOUYIN_NO_AFTER_SALE = frozenset(
    _status_key(text)
    for text in ("无售后", "售后关闭", "售后已关闭", "售后取消", "售后已取消", "-")
)


def _build_douyin_row(row: int, order_no: str, cells: Mapping[str, str]) -> ImportedOrder:
    """One sub-order row as a one-line order; `_group_sub_orders` puts an order together."""
    status_text = cells[STATUS]
    status = _platform_status(status_text, _DOUYIN_STATUSES)
    after_sale = cells[AFTER_SALE]
    if _status_key(after_sale) in _DOUYIN_NO_AFTER_SALE:
        after_sale = ""
    detail = cells[DETAIL] + cells[DY_DETAIL]
    if cells[DETAIL] and cells[DY_DETAIL].startswith(cells[DETAIL]):
        detail = cells[DY_DETAIL]
    if len(detail) > 200:
        raise FieldError("field_too_long", f"“{DETAIL}”与“{DY_DETAIL}”合计超过 200 个字符")
    quantity = _parse_quantity(cells[DY_QUANTITY], DY_QUANTITY)
    unit = _parse_fen(cells[DY_UNIT_PRICE], DY_UNIT_PRICE)
    return ImportedOrder(
        row=row,
        order_no=order_no,
        platform_status=status,
        platform_status_text=status_text,
        after_sale_status=after_sale,
        after_sale_active=bool(after_sale),
        audit_hold=False,
        paid_at=parse_datetime(cells[DY_PAID_AT], DY_PAID_AT),
        promise_ship_at=parse_datetime(cells[PROMISE_SHIP_AT], PROMISE_SHIP_AT),
        receiver_name=cells[DY_RECEIVER],
        receiver_phone=cells[DY_PHONE],
        province=cells[PROVINCE],
        city=cells[CITY],
        district=cells[DISTRICT],
        detail=detail,
        goods_id=cells[DY_GOODS_ID],
        goods_name=cells[DY_GOODS],
        spec=cells[SPEC],
        style_id="",
        sku_code=cells[DY_SKU_CODE],
        goods_code="",
        quantity=quantity,
        tracking_no=cells[DY_TRACKING_NO],
        courier_name=cells[DY_COURIER],
        merchant_note=cells[MERCHANT_NOTE],
        buyer_note=cells[BUYER_NOTE],
        goods_total_fen=None if unit is None else unit * quantity,
        paid_fen=_parse_fen(cells[DY_PAYABLE], DY_PAYABLE),
        merchant_received_fen=None,
    )


def _sum_fen(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _merge(order: ImportedOrder, sub: ImportedOrder) -> ImportedOrder:
    """Another sub-order of the same order: one more line; the order's amounts add up, an
    active after-sale on any line holds the whole order, and a line still awaiting shipment
    keeps the order awaiting (a closed sub-order beside it does not close the order)."""
    first = order if order.platform_status != "cancelled" else sub
    return replace(
        order,
        platform_status=first.platform_status,
        platform_status_text=first.platform_status_text,
        after_sale_status=order.after_sale_status or sub.after_sale_status,
        after_sale_active=order.after_sale_active or sub.after_sale_active,
        buyer_note=order.buyer_note or sub.buyer_note,
        merchant_note=order.merchant_note or sub.merchant_note,
        goods_total_fen=_sum_fen(order.goods_total_fen, sub.goods_total_fen),
        paid_fen=_sum_fen(order.paid_fen, sub.paid_fen),
        more_lines=(*order.more_lines, *sub.lines),
    )


def _group_sub_orders(
    rows: Iterator[ImportedOrder | RowError],
) -> Iterator[ImportedOrder | RowError]:
    """Adjacent rows with one 主订单编号 become one order with a line per sub-order.

    A bad row refuses its whole order (a partial order would ship too little): its own error
    keeps its row number, the order's other rows are refused naming it. The rows of an order
    must be adjacent, as the platform writes them; a straggler is refused by its row number.
    """
    current: ImportedOrder | None = None
    rows_of_current: list[int] = []
    failed: dict[str, int] = {}  # order number → the row that failed it
    finished: set[str] = set()
    try:
        for item in rows:
            order_no = item.order_no
            if current is not None and order_no != current.order_no:
                finished.add(current.order_no)
                yield current
                current, rows_of_current = None, []
            if order_no in failed:
                if isinstance(item, RowError):
                    yield item
                else:
                    yield _refused_with(item.row, order_no, failed[order_no])
                continue
            if isinstance(item, RowError):
                failed[order_no] = item.row
                yield item
                for row in rows_of_current:
                    yield _refused_with(row, order_no, item.row)
                current, rows_of_current = None, []
                continue
            if order_no in finished:
                yield RowError(
                    item.row,
                    order_no,
                    "sub_order_apart",
                    f"主订单编号 {order_no} 的子订单应与同一订单的其他行相邻，本行未导入",
                )
                continue
            if current is None:
                current = item
            elif len(current.more_lines) + 1 >= MAX_ORDER_LINES:
                failed[order_no] = item.row
                yield RowError(
                    item.row,
                    order_no,
                    "too_many_lines",
                    f"订单 {order_no} 超过 {MAX_ORDER_LINES} 个商品行，整单未导入",
                )
                for row in rows_of_current:
                    yield _refused_with(row, order_no, item.row)
                current, rows_of_current = None, []
                continue
            else:
                current = _merge(current, item)
            rows_of_current.append(item.row)
        if current is not None:
            yield current
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _refused_with(row: int, order_no: str, bad_row: int) -> RowError:
    return RowError(
        row,
        order_no,
        "order_row_invalid",
        f"同一订单（主订单编号 {order_no}）的第 {bad_row} 行有误，整单未导入",
    )


DOUYIN_LAYOUT = Layout(PLATFORM_DOUYIN, DOUYIN_COLUMNS, _build_douyin_row, _group_sub_orders)


_MAPPED_STATUSES = {**_TAOBAO_STATUSES, **_DOUYIN_STATUSES, **_PLATFORM_STATUSES}
# Pinduoduo's word for each status, for its reader.
_PDD_STATUS_WORDS = {
    "pending_payment": "待支付",
    "awaiting_shipment": "待发货",
    "shipped": "已发货，待签收",
    "completed": "已签收",
    "cancelled": "已取消",
}

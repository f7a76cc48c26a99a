"""Reader for the Pinduoduo merchant order export (CSV or XLSX) into ImportedOrder rows."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import BinaryIO
from zoneinfo import ZoneInfo

from portal.imports.tabular import (
    ORDER_NO,
    Column,
    FieldError,
    ImportFileError,
    RowError,
    normalize_header,
    open_order_rows,
)

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
# The portal reads Pinduoduo's; these are named so a merchant knows what was uploaded.
OTHER_PLATFORM_LAYOUTS = (
    ("抖店", ("主订单编号", "子订单编号")),
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
                f"这是{name}导出的订单文件，门户目前只能读取拼多多的订单导出。"
                "请在拼多多商家后台导出订单后上传。",
            )
    return None


def open_platform_export(
    stream: BinaryIO, filename: str, *, max_rows: int | None = None
) -> Iterator[ImportedOrder | RowError]:
    """Check the file and its headers now (ImportFileError), then stream rows lazily."""
    return open_order_rows(
        stream,
        filename,
        COLUMNS,
        _build_order,
        max_rows=max_rows,
        recognise=recognise_other_platform,
    )


def read_platform_export(
    stream: BinaryIO, filename: str, *, max_rows: int | None = None
) -> Iterator[ImportedOrder | RowError]:
    """Like open_platform_export, but nothing is read until the first next()."""
    yield from open_platform_export(stream, filename, max_rows=max_rows)


def _build_order(row: int, order_no: str, cells: Mapping[str, str]) -> ImportedOrder:
    status_text = cells[STATUS]
    status = _PLATFORM_STATUSES.get(_status_key(status_text))
    if status is None:
        raise FieldError(
            "unknown_status",
            f"订单状态“{status_text}”无法识别" if status_text else "订单状态为空",
        )
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
        paid_at=_parse_datetime(cells[PAID_AT], PAID_AT),
        promise_ship_at=_parse_datetime(cells[PROMISE_SHIP_AT], PROMISE_SHIP_AT),
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


def _parse_quantity(text: str) -> int:
    if not text:
        raise FieldError("invalid_quantity", f"“{QUANTITY}”为空")
    try:
        value = Decimal(unicodedata.normalize("NFKC", text))
    except InvalidOperation:
        value = Decimal("NaN")
    # "2.0" is still two pieces; "1.5", "0" and "-1" are not a quantity.
    if not value.is_finite() or value != value.to_integral_value() or value < 1:
        raise FieldError("invalid_quantity", f"“{QUANTITY}”应为不小于 1 的整数，本行为“{text}”")
    if value > _MAX_QUANTITY:
        raise FieldError("invalid_quantity", f"“{QUANTITY}”{text} 超过上限 {_MAX_QUANTITY}")
    return int(value)


def _parse_datetime(text: str, column: str) -> datetime | None:
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

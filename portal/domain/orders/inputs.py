"""Orders posted as JSON (API, ERPs, scripts), checked field by field into ImportedOrder rows.

JSON is typed, so a wrong type is refused rather than guessed at: `"2"` is not a quantity and
`123` is not an order number. Every refusal names the field by its path
(`orders[3].lines[0].quantity`), and one bad order never stops the others. Length limits are the
platform export reader's, so both ways in accept exactly what the order tables store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from portal.domain.demo_data import STATUS_TEXTS
from portal.domain.imports.platform_export import (
    AFTER_SALE,
    BUYER_NOTE,
    CITY,
    COLUMNS,
    DETAIL,
    DISTRICT,
    GOODS,
    GOODS_ID,
    MERCHANT_NOTE,
    PHONE,
    PROVINCE,
    RECEIVER,
    SKU_CODE,
    SPEC,
    ImportedLine,
    ImportedOrder,
)
from portal.domain.imports.tabular import FieldError, parse_order_no
from portal.domain.privacy.phones import is_valid_phone, normalize_phone
from portal.models import Order
from portal.models.orders import MAX_ORDER_LINES

__all__ = [
    "FIELD_LIMITS",
    "MAX_AMOUNT_FEN",
    "MAX_QUANTITY",
    "PLATFORM_STATUSES",
    "InputError",
    "OrderRejection",
    "ParsedOrders",
    "parse_order",
    "parse_orders",
    "parse_receiver_patch",
]

PLATFORM_STATUSES: tuple[str, ...] = tuple(STATUS_TEXTS)
# The same bounds as the platform export reader.
MAX_QUANTITY = 100_000
MAX_AMOUNT_FEN = 10**12
# The platform's words for "no after-sale" (the export reader treats them the same way).
NO_AFTER_SALE = frozenset({"无售后或售后取消", "无售后"})

_COLUMN_LIMITS = {c.name: c.max_length for c in COLUMNS if c.max_length is not None}
# Longest accepted text per field (after cleaning), keyed "field", "receiver.field", "line.field".
FIELD_LIMITS: Mapping[str, int] = {
    "platform_status_text": Order.__table__.c.platform_status_text.type.length,
    "after_sale_status": _COLUMN_LIMITS[AFTER_SALE],
    "buyer_note": _COLUMN_LIMITS[BUYER_NOTE],
    "merchant_note": _COLUMN_LIMITS[MERCHANT_NOTE],
    "receiver.name": _COLUMN_LIMITS[RECEIVER],
    "receiver.phone": _COLUMN_LIMITS[PHONE],
    "receiver.province": _COLUMN_LIMITS[PROVINCE],
    "receiver.city": _COLUMN_LIMITS[CITY],
    "receiver.district": _COLUMN_LIMITS[DISTRICT],
    # street is joined to detail, and the two together must fit
    "receiver.street": _COLUMN_LIMITS[DETAIL],
    "receiver.detail": _COLUMN_LIMITS[DETAIL],
    "line.goods_id": _COLUMN_LIMITS[GOODS_ID],
    "line.goods_name": _COLUMN_LIMITS[GOODS],
    "line.spec": _COLUMN_LIMITS[SPEC],
    "line.sku_code": _COLUMN_LIMITS[SKU_CODE],
}
# How much of a bad value is echoed back in a message.
_ECHO_CHARS = 64

# Control characters (tab and line breaks excepted) and invisible ones: NUL breaks PostgreSQL
# text columns, and zero-width characters make equal-looking values differ.
_NOISE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060\ufeff]")

_JSON_TYPES: Mapping[type, str] = {
    str: "字符串",
    bool: "布尔值",
    int: "数字",
    float: "数字",
    list: "数组",
    dict: "对象",
}


class InputError(Exception):
    """One field of a posted order is wrong: a stable code, the field's path, a Chinese message."""

    def __init__(self, code: str, path: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.path = path
        self.message = message


@dataclass(frozen=True)
class OrderRejection:
    """A posted order that was not taken, with the field at fault."""

    order_no: str
    code: str
    message: str
    field: str

    def as_dict(self) -> dict[str, str]:
        return {
            "order_no": self.order_no,
            "code": self.code,
            "message": self.message,
            "field": self.field,
        }


@dataclass
class ParsedOrders:
    orders: list[ImportedOrder] = field(default_factory=list)
    rejected: list[OrderRejection] = field(default_factory=list)


def parse_orders(
    items: Sequence[object],
    path: str = "orders",
    precheck: Callable[[object, str], None] | None = None,
) -> ParsedOrders:
    """Check every posted order; good ones become ImportedOrder, bad ones a rejection each.

    `precheck(item, path)` may refuse an item first by raising InputError (the API checks the
    item against its schema: unknown fields). An order number repeated in one request keeps its
    first good order; later ones are refused, as a repeated row of an export file is.
    """
    parsed = ParsedOrders()
    seen: set[str] = set()
    for index, item in enumerate(items):
        item_path = f"{path}[{index}]"
        try:
            if precheck is not None:
                precheck(item, item_path)
            order = parse_order(item, item_path)
            if order.order_no in seen:
                raise InputError(
                    "duplicate_in_request",
                    f"{item_path}.order_no",
                    f"订单号 {order.order_no} 在本次请求中重复出现，本条未导入",
                )
        except InputError as error:
            parsed.rejected.append(
                OrderRejection(_reported_order_no(item), error.code, error.message, error.path)
            )
            continue
        seen.add(order.order_no)
        parsed.orders.append(order)
    return parsed


def parse_order(item: object, path: str = "order") -> ImportedOrder:
    """One order in the API shape (DESIGN §8.2) → ImportedOrder, or InputError."""
    order = _Object(item, path)
    order_no = order.order_no("order_no")
    status = order.choice("platform_status", PLATFORM_STATUSES, code="unknown_status")
    status_text = order.text("platform_status_text") or STATUS_TEXTS[status]
    after_sale_status = order.text("after_sale_status")
    if after_sale_status in NO_AFTER_SALE:
        after_sale_status = ""
    after_sale_active = order.flag("after_sale_active")
    if after_sale_active is None:
        after_sale_active = bool(after_sale_status)

    receiver = order.child("receiver", kind="receiver")
    name = receiver.text("name")
    phone = _phone(receiver)
    detail = _street_and_detail(receiver)

    first, *more = [_line(line) for line in order.lines("lines", kind="line")]
    return ImportedOrder(
        row=0,
        order_no=order_no,
        platform_status=status,
        platform_status_text=status_text,
        after_sale_status=after_sale_status,
        after_sale_active=after_sale_active,
        audit_hold=order.flag("audit_hold") or False,
        paid_at=order.moment("paid_at"),
        promise_ship_at=order.moment("promise_ship_at"),
        receiver_name=name,
        receiver_phone=phone,
        province=receiver.text("province"),
        city=receiver.text("city"),
        district=receiver.text("district"),
        detail=detail,
        goods_id=first.goods_id,
        goods_name=first.goods_name,
        spec=first.spec,
        style_id="",
        sku_code=first.sku_code,
        goods_code="",
        quantity=first.quantity,
        more_lines=tuple(more),
        tracking_no="",
        courier_name="",
        merchant_note=order.text("merchant_note"),
        buyer_note=order.text("buyer_note"),
        goods_total_fen=order.amount("goods_total_fen"),
        paid_fen=order.amount("paid_fen"),
        merchant_received_fen=order.amount("merchant_received_fen"),
    )


def _line(line: _Object) -> ImportedLine:
    goods_name = line.text("goods_name")
    if not goods_name:
        raise InputError(
            "missing_goods", line.path_of("goods_name"), f"缺少 {line.path_of('goods_name')}"
        )
    quantity = line.integer("quantity", 1, MAX_QUANTITY, code="invalid_quantity", required=True)
    return ImportedLine(
        goods_id=line.text("goods_id"),
        goods_name=goods_name,
        spec=line.text("spec"),
        style_id="",
        sku_code=line.text("sku_code"),
        goods_code="",
        quantity=quantity or 1,
    )


RECEIVER_FIELDS = ("name", "phone", "province", "city", "district")


def parse_receiver_patch(item: Mapping[str, object], path: str = "") -> dict[str, str]:
    """A merchant's correction of a receiver: only the fields given (null is "not given"),
    cleaned and checked as the API's receiver is. `street` and `detail` come back as one
    `detail`, the whole line after the district, as an order stores it."""
    receiver = _Object(dict(item), path, kind="receiver")
    changes = {
        name: receiver.text(name)
        for name in RECEIVER_FIELDS
        if name != "phone" and item.get(name) is not None
    }
    if item.get("phone") is not None:
        changes["phone"] = _phone(receiver)
    if item.get("street") is not None or item.get("detail") is not None:
        changes["detail"] = _street_and_detail(receiver)
    return changes


def _phone(receiver: _Object) -> str:
    phone = receiver.text("phone")
    if phone and not is_valid_phone(normalize_phone(phone)):
        raise InputError(
            "invalid_phone",
            receiver.path_of("phone"),
            f"{receiver.path_of('phone')} 不是有效的手机号或固定电话：“{phone[:_ECHO_CHARS]}”",
        )
    return phone


def _street_and_detail(receiver: _Object) -> str:
    """The platform keeps the whole address line after the district in one field (街道).

    An ERP that splits it may send `street` apart; it is put back in front of `detail`, unless
    `detail` already starts with it.
    """
    limit = FIELD_LIMITS["receiver.detail"]
    street = receiver.text("street")
    detail = receiver.text("detail")
    if street and not detail.startswith(street):
        detail = street + detail
    if len(detail) > limit:
        raise InputError(
            "field_too_long",
            receiver.path_of("detail"),
            f"{receiver.path_of('street')} 与 {receiver.path_of('detail')} 合计超过 {limit} 个字符"
            f"（收到 {len(detail)} 个）",
        )
    return detail


def _reported_order_no(item: object) -> str:
    value = item.get("order_no") if isinstance(item, dict) else None
    return value[:_ECHO_CHARS] if isinstance(value, str) else ""


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), type(value).__name__)


class _Object:
    """A JSON object being read, with its path for messages. Unknown keys are ignored, so an
    order read from the API (with its read-only fields) can be posted back as it is."""

    def __init__(self, value: object, path: str, kind: str = "") -> None:
        if not isinstance(value, dict):
            raise InputError(
                "validation_error", path, f"{path} 必须是对象，收到的是{_json_type(value)}"
            )
        self.data: dict[str, Any] = value
        self.path = path
        self.kind = kind  # the prefix of this object's fields in FIELD_LIMITS

    def path_of(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _wrong_type(self, name: str, expected: str) -> InputError:
        path = self.path_of(name)
        actual = _json_type(self.data.get(name))
        return InputError("validation_error", path, f"{path} 必须是{expected}，收到的是{actual}")

    def _missing(self, name: str) -> InputError:
        return InputError("validation_error", self.path_of(name), f"缺少 {self.path_of(name)}")

    def text(self, name: str) -> str:
        """An optional string (absent or null is ""), cleaned of control characters and trimmed."""
        limit = FIELD_LIMITS[f"{self.kind}.{name}" if self.kind else name]
        value = self.data.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self._wrong_type(name, "字符串")
        path = self.path_of(name)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                "validation_error", path, f"{path} 含有无效的 Unicode 字符（孤立的代理项）"
            ) from None
        text = _NOISE.sub("", value).strip()
        if len(text) > limit:
            raise InputError(
                "field_too_long", path, f"{path} 超过 {limit} 个字符（收到 {len(text)} 个）"
            )
        return text

    def order_no(self, name: str) -> str:
        if self.data.get(name) is None:
            raise InputError("missing_order_no", self.path_of(name), f"缺少 {self.path_of(name)}")
        if not isinstance(self.data[name], str):
            raise self._wrong_type(name, "字符串")
        try:
            return parse_order_no(_NOISE.sub("", self.data[name]).strip())
        except FieldError as error:
            raise InputError(error.code, self.path_of(name), error.message) from None

    def choice(self, name: str, allowed: Sequence[str], *, code: str) -> str:
        value = self.data.get(name)
        if value is None:
            raise self._missing(name)
        if not isinstance(value, str):
            raise self._wrong_type(name, "字符串")
        if value not in allowed:
            path = self.path_of(name)
            raise InputError(
                code,
                path,
                f"{path} 必须是 {'、'.join(allowed)} 之一，收到“{value[:_ECHO_CHARS]}”",
            )
        return value

    def flag(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, bool):
            raise self._wrong_type(name, "布尔值 true 或 false")
        return value

    def integer(
        self, name: str, minimum: int, maximum: int, *, code: str, required: bool = False
    ) -> int | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self._missing(name)
            return None
        # bool is an int in Python, but `true` is not a number in JSON.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong_type(name, "整数")
        if not minimum <= value <= maximum:
            path = self.path_of(name)
            raise InputError(code, path, f"{path} 应在 {minimum} 到 {maximum} 之间，收到 {value}")
        return value

    def amount(self, name: str) -> int | None:
        """Optional money in integer fen."""
        return self.integer(name, 0, MAX_AMOUNT_FEN - 1, code="invalid_amount")

    def moment(self, name: str) -> datetime | None:
        """An ISO-8601 date-time with a UTC offset (or Z), kept in UTC; naive times are refused."""
        value = self.data.get(name)
        if value is None:
            return None
        path = self.path_of(name)
        example = "如 2026-11-21T10:00:00+08:00"
        if isinstance(value, datetime):  # Python callers (the demo generator) pass datetimes
            moment = value
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise InputError(
                    "invalid_datetime",
                    path,
                    f"{path} 不是 ISO-8601 时间（{example}），收到“{value[:_ECHO_CHARS]}”",
                ) from None
        else:
            raise self._wrong_type(name, f"ISO-8601 时间字符串（{example}）")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InputError(
                "invalid_datetime", path, f"{path} 缺少时区偏移（{example}，或以 Z 表示 UTC）"
            )
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise InputError("invalid_datetime", path, f"{path} 超出可表示的时间范围") from None

    def child(self, name: str, kind: str) -> _Object:
        value = self.data.get(name)
        if value is None:
            raise self._missing(name)
        return _Object(value, self.path_of(name), kind)

    def lines(self, name: str, kind: str) -> list[_Object]:
        """The goods lines: 1 to MAX_ORDER_LINES, all going to one factory (DESIGN §10.2)."""
        value = self.data.get(name)
        if value is None:
            raise self._missing(name)
        if not isinstance(value, list):
            raise self._wrong_type(name, "数组")
        if not 1 <= len(value) <= MAX_ORDER_LINES:
            path = self.path_of(name)
            raise InputError(
                "validation_error",
                path,
                f"{path} 应包含 1 到 {MAX_ORDER_LINES} 个商品行，收到 {len(value)} 个",
            )
        return [_Object(item, f"{self.path_of(name)}[{i}]", kind) for i, item in enumerate(value)]

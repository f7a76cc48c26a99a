"""结算价: a supplier's settlement prices per (merchant, SKU) — listing, setting, history, files.

A price row starts at `effective_from` and holds until the next row of the same SKU; a statement
line uses the price in force when its tracking number came back (statements.build.PriceBook).

Decisions, for the lead and for the README:

- The list shows every (merchant, SKU key) that has an order currently assigned to the supplier
  (any stage; cancelled assignments no longer carry the supplier) *and* every key that has a price
  but no such order any more (0 orders): a price set ahead of orders, or kept after the last
  order was reassigned, stays visible and editable. Missing prices first, then merchant, goods.
- A price may only be set for a merchant bound to the supplier now or before (active or ended
  binding: work done stays billable), else ``not_bound``; and only for a SKU key the supplier
  knows — one with an order of that merchant assigned to it, or a price already — else
  ``unknown_sku``, so a mistyped key in a file cannot create a price no order will ever use.
- ``effective_from`` defaults to now (statements.clock.now_utc, the injectable clock). An
  explicit time may lie in the past (backdating, e.g. the first price of a SKU whose orders were
  already returned) or up to a year ahead (a scheduled change). One exception makes the export →
  edit → import round trip safe: a time equal (to the second) to the start of the price in force is
  the time the listing showed, not a request to rewrite that price — a different price then starts
  now. A time equal to another existing row's start with a different price is refused
  (``price_time_taken``); nothing is ever overwritten.
- Setting the price already in force at that time creates nothing (``unchanged``).
- One batch (a file or an API call) holds one price per SKU: a repeated (merchant, SKU) is
  refused (``duplicate_sku``). In a file a row with an empty 结算价 is skipped, not refused, so an
  exported list of missing prices can be filled in part and imported.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from flask_babel import gettext as _
from sqlalchemy import (
    Integer,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from portal.domain import staff
from portal.domain.allocation import chunks
from portal.domain.bindings import normalize_shop_id
from portal.domain.errors import DomainError, message_for
from portal.domain.formatting import SHANGHAI, AmountError, parse_yuan, yuan
from portal.domain.imports.platform_export import parse_datetime
from portal.domain.imports.tabular import (
    Column,
    FieldError,
    ImportFileError,
    TableError,
    open_columns,
)
from portal.domain.statements.clock import now_utc
from portal.extensions import db
from portal.models import (
    Binding,
    Merchant,
    Order,
    OrderLine,
    Price,
    Supplier,
    SupplierSkuCode,
    User,
)
from portal.models.bindings import BINDING_ACTIVE, BINDING_ENDED
from portal.models.orders import SEVERAL_LINES

MAX_PRICE_FEN = 100_000_000  # 1 000 000 yuan: anything above is a typo, not a price
MAX_SKU_KEY = 200  # Price.sku_key / Order.sku_key
EARLIEST_EFFECTIVE = datetime(2000, 1, 1, tzinfo=UTC)
MAX_SCHEDULE_AHEAD = timedelta(days=366)
MAX_FILE_ROWS = 10_000

# Every code a price item may be refused with (the API documents exactly these).
PRICE_REFUSALS = (
    "invalid_price",
    "invalid_sku_key",
    "invalid_effective_from",
    "not_bound",
    "unknown_sku",
    "duplicate_sku",
    "price_time_taken",
)

CREATED = "created"
UNCHANGED = "unchanged"

# The file layout (export and import). Fixed Chinese headers: they are a format, not UI text.
SHOP_ID = "商家店铺ID"
MERCHANT_NAME = "商家"
GOODS_NAME = "商品"
SPEC = "规格"
SKU_KEY = "SKU键"
PRICE = "结算价(元)"
EFFECTIVE_FROM = "生效时间"
EXPORT_HEADER = (SHOP_ID, MERCHANT_NAME, GOODS_NAME, SPEC, SKU_KEY, PRICE, EFFECTIVE_FROM)
IMPORT_COLUMNS: tuple[Column, ...] = (
    Column(SHOP_ID, required=True, aliases=("店铺ID", "商家ID")),
    Column(SKU_KEY, required=True, aliases=("SKU", "SKU编码", "商家编码")),
    Column(PRICE, required=True, aliases=("结算价", "价格")),
    Column(EFFECTIVE_FROM),
)
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# --- parsing ---------------------------------------------------------------------------------


def _invalid_price(message: str) -> DomainError:
    return DomainError("invalid_price", message, field="price")


def parse_price(value: str | int) -> int:
    """A price as typed — "12.5", "12.50", "￥12.50", "1,234.5", "12元" — in fen.

    An int is taken as fen already (a caller's own value, never user text). Refused with
    ``invalid_price`` and a message saying why: empty, not a number, negative, more than two
    decimals (fen), above 1 000 000 yuan.
    """
    if isinstance(value, str):
        fen = _parse_yuan(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        fen = value
    else:
        # A float (a JSON number) would be ambiguous and inexact: yuan travel as text.
        raise _invalid_price(_('结算价请以文本填写，单位为元，例如 "12.50"'))
    if fen < 0:
        raise _invalid_price(_("结算价不能为负数"))
    if fen > MAX_PRICE_FEN:
        raise _invalid_price(_("结算价不能超过 1,000,000 元"))
    return fen


def _parse_yuan(original: str) -> int:
    try:
        fen = parse_yuan(original)
    except AmountError as error:
        if error.reason == "empty":
            raise _invalid_price(_("请填写结算价")) from None
        if error.reason == "too_precise":
            raise _invalid_price(_("结算价最多两位小数（精确到分）")) from None
        if error.reason == "too_large":
            raise _invalid_price(_("结算价不能超过 1,000,000 元")) from None
        raise _invalid_price(_("结算价“%(text)s”不是有效的金额", text=original[:32])) from None
    return fen


def price_text(fen: int | None) -> str:
    """Fen as a plain yuan string ("1234.50"): files and the API; no thousands separator."""
    return "" if fen is None else yuan(fen).replace(",", "")


def parse_effective_from(text: str | None) -> datetime | None:
    """An optional start time as typed: Asia/Shanghai "2026-11-21 09:00[:00]" (or 2026/11/21,
    or a date alone), or ISO 8601 with an offset. Empty → None (now)."""
    text = unicodedata.normalize("NFKC", text or "").strip()
    if not text:
        return None
    try:
        return parse_datetime(text, EFFECTIVE_FROM)
    except FieldError:
        pass
    except OverflowError:  # a calendar-edge time such as 0001-01-01 00:00 in Shanghai
        raise DomainError("invalid_effective_from", field="effective_from") from None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=SHANGHAI)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise DomainError("invalid_effective_from", field="effective_from") from None


def _check_effective_from(moment: datetime, now: datetime) -> None:
    if moment.tzinfo is None or not EARLIEST_EFFECTIVE <= moment <= now + MAX_SCHEDULE_AHEAD:
        raise DomainError("invalid_effective_from", field="effective_from")


def _clean_sku_key(value: str) -> str:
    key = value.strip() if isinstance(value, str) else ""
    if not key or len(key) > MAX_SKU_KEY or "\x00" in key:
        raise DomainError("invalid_sku_key", field="sku_key")
    return key


# --- the list ----------------------------------------------------------------------------------


def _scope(
    merchant_column: Any, sku_column: Any, merchant_id: int | None, sku_key: str | None
) -> list[Any]:
    conditions = []
    if merchant_id is not None:
        conditions.append(merchant_column == merchant_id)
    if sku_key is not None:
        conditions.append(sku_column == sku_key)
    return conditions


def _keys(supplier_id: int, merchant_id: int | None, sku_key: str | None) -> Any:
    """(merchant, SKU) with the supplier's order count and latest order: keys with orders, plus
    keys that only have prices (0 orders). An order counts once per SKU it holds, on whichever
    lines. Line 1 is read from the order row alone — (supplier_id, merchant_id, sku_key, id),
    which ix_orders_supplier_merchant_sku answers without touching the table —; the other lines
    only of the supplier's orders with several (ix_orders_supplier_several_lines), each by the
    (order_id, line_no) key of order_lines."""
    with_orders = (
        select(
            Order.merchant_id.label("merchant_id"),
            Order.sku_key.label("sku_key"),
            func.count().label("order_count"),
            func.max(Order.id).label("last_order_id"),
        )
        .where(
            Order.supplier_id == supplier_id,
            *_scope(Order.merchant_id, Order.sku_key, merchant_id, sku_key),
        )
        .group_by(Order.merchant_id, Order.sku_key)
    )
    with_prices = (
        select(
            Price.merchant_id,
            Price.sku_key,
            literal(0).label("order_count"),
            cast(null(), Integer).label("last_order_id"),
        )
        .where(
            Price.supplier_id == supplier_id,
            *_scope(Price.merchant_id, Price.sku_key, merchant_id, sku_key),
        )
        .group_by(Price.merchant_id, Price.sku_key)
    )
    # The other lines of the supplier's multi-item orders (line 1 is on the order row above):
    # a price is kept per SKU, whichever line it is on (DESIGN §10.2). An order already counted
    # above for its line 1 is not counted again, nor twice for a SKU on two later lines.
    with_other_lines = (
        select(
            OrderLine.merchant_id,
            OrderLine.sku_key,
            func.count(OrderLine.order_id.distinct()).label("order_count"),
            func.max(OrderLine.order_id).label("last_order_id"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.supplier_id == supplier_id,
            SEVERAL_LINES,  # ix_orders_supplier_several_lines holds just these
            OrderLine.line_no > 1,
            OrderLine.sku_key != Order.sku_key,
            *_scope(OrderLine.merchant_id, OrderLine.sku_key, merchant_id, sku_key),
        )
        .group_by(OrderLine.merchant_id, OrderLine.sku_key)
    )
    both = union_all(with_orders, with_other_lines, with_prices).subquery("price_keys_all")
    return (
        select(
            both.c.merchant_id,
            both.c.sku_key,
            func.sum(both.c.order_count).label("order_count"),
            func.max(both.c.last_order_id).label("last_order_id"),
        )
        .group_by(both.c.merchant_id, both.c.sku_key)
        .subquery("price_keys")
    )


def _ranked_prices(
    supplier_id: int,
    merchant_id: int | None,
    sku_key: str | None,
    condition: Any,
    latest_first: bool,
    name: str,
) -> Any:
    """One price per SKU among those matching `condition`: the latest or the earliest start."""
    order = (
        (Price.effective_from.desc(), Price.id.desc())
        if latest_first
        else (Price.effective_from.asc(), Price.id.asc())
    )
    return (
        select(
            Price.merchant_id,
            Price.sku_key,
            Price.price_fen,
            Price.effective_from,
            func.row_number()
            .over(partition_by=(Price.merchant_id, Price.sku_key), order_by=order)
            .label("rank"),
        )
        .where(
            Price.supplier_id == supplier_id,
            condition,
            *_scope(Price.merchant_id, Price.sku_key, merchant_id, sku_key),
        )
        .subquery(name)
    )


def price_rows(
    supplier: Supplier,
    merchant_id: int | None = None,
    missing_only: bool = False,
    q: str = "",
    *,
    sku_key: str | None = None,
    now: datetime | None = None,
) -> Select[Any]:
    """The supplier's SKUs with their current price, as one set-based SELECT (paginate with
    pagination.paginate_rows). Missing prices first, then merchant, goods name, SKU key.

    Row columns: merchant_id, merchant_shop_id, merchant_name, sku_key, goods_name, spec,
    sku_code, goods_id (from a line of the SKU in its latest order; "" for a key without
    orders), order_count (orders holding the SKU on any line),
    price_fen and effective_from (the price in force, None when missing), next_price_fen and
    next_effective_from (the earliest scheduled change, if any), supplier_code and location (the
    factory's own code and 库位, "" when none).
    """
    now = now or now_utc()
    keys = _keys(supplier.id, merchant_id, sku_key)
    current = _ranked_prices(
        supplier.id, merchant_id, sku_key, Price.effective_from <= now, True, "current_price"
    )
    upcoming = _ranked_prices(
        supplier.id, merchant_id, sku_key, Price.effective_from > now, False, "next_price"
    )
    # The goods and spec come from a line carrying the SKU in its latest order (line 1 of that
    # order may be another product): its first such line, by the (order_id, line_no) key.
    sample = aliased(OrderLine, name="sample_line")
    sample_line_no = (
        select(func.min(OrderLine.line_no))
        .where(OrderLine.order_id == keys.c.last_order_id, OrderLine.sku_key == keys.c.sku_key)
        .scalar_subquery()
    )
    goods_name = func.coalesce(sample.goods_name, "")
    spec = func.coalesce(sample.spec, "")
    query = (
        select(
            keys.c.merchant_id,
            User.shop_id.label("merchant_shop_id"),
            Merchant.shop_name.label("merchant_name"),
            keys.c.sku_key,
            goods_name.label("goods_name"),
            spec.label("spec"),
            # What people call the SKU (the key itself is internal: code or "goods id|spec").
            func.coalesce(sample.sku_code, "").label("sku_code"),
            func.coalesce(sample.goods_id, "").label("goods_id"),
            keys.c.order_count,
            current.c.price_fen,
            current.c.effective_from,
            upcoming.c.price_fen.label("next_price_fen"),
            upcoming.c.effective_from.label("next_effective_from"),
            func.coalesce(SupplierSkuCode.supplier_code, "").label("supplier_code"),
            func.coalesce(SupplierSkuCode.location, "").label("location"),
        )
        .join(Merchant, Merchant.id == keys.c.merchant_id)
        .join(User, User.id == Merchant.user_id)
        .outerjoin(
            sample,
            and_(sample.order_id == keys.c.last_order_id, sample.line_no == sample_line_no),
        )
        .outerjoin(
            SupplierSkuCode,
            and_(
                SupplierSkuCode.supplier_id == supplier.id,
                SupplierSkuCode.merchant_id == keys.c.merchant_id,
                SupplierSkuCode.sku_key == keys.c.sku_key,
            ),
        )
        .outerjoin(
            current,
            and_(
                current.c.merchant_id == keys.c.merchant_id,
                current.c.sku_key == keys.c.sku_key,
                current.c.rank == 1,
            ),
        )
        .outerjoin(
            upcoming,
            and_(
                upcoming.c.merchant_id == keys.c.merchant_id,
                upcoming.c.sku_key == keys.c.sku_key,
                upcoming.c.rank == 1,
            ),
        )
    )
    if missing_only:
        query = query.where(current.c.price_fen.is_(None))
    q = (q or "").strip()
    if q:
        query = query.where(
            keys.c.sku_key.icontains(q, autoescape=True)
            | sample.goods_name.icontains(q, autoescape=True)
            | sample.spec.icontains(q, autoescape=True)
            | SupplierSkuCode.supplier_code.icontains(q, autoescape=True)
        )
    return query.order_by(
        case((current.c.price_fen.is_(None), 0), else_=1),
        Merchant.shop_name,
        keys.c.merchant_id,
        goods_name,
        keys.c.sku_key,
    )


def price_row(supplier: Supplier, merchant_id: int, sku_key: str) -> Any | None:
    """One (merchant, SKU) of the list, or None when the supplier has no such key."""
    return db.session.execute(price_rows(supplier, merchant_id, sku_key=sku_key)).first()


def missing_count(supplier: Supplier, merchant_id: int | None = None) -> int:
    """How many SKUs have no price in force (the badge)."""
    rows = price_rows(supplier, merchant_id, missing_only=True).order_by(None).subquery()
    return int(db.session.scalar(select(func.count()).select_from(rows)) or 0)


def price_merchants(supplier: Supplier) -> list[Any]:
    """Merchants whose prices the supplier keeps (bound now or before): id, shop_id, shop_name."""
    return list(
        db.session.execute(
            select(Merchant.id, User.shop_id, Merchant.shop_name)
            .join(User, User.id == Merchant.user_id)
            .join(Binding, Binding.merchant_id == Merchant.id)
            .where(
                Binding.supplier_id == supplier.id,
                Binding.status.in_((BINDING_ACTIVE, BINDING_ENDED)),
            )
            .distinct()
            .order_by(Merchant.shop_name, Merchant.id)
        )
    )


def price_rows_of_shop(
    supplier: Supplier,
    merchant_shop_id: str,
    missing_only: bool = False,
    q: str = "",
    *,
    sku_key: str | None = None,
) -> Select[Any]:
    """price_rows, of one merchant when a shop ID is given: one of price_merchants, else no
    rows at all (unknown, not a merchant, never bound: the same empty answer, so shop IDs
    cannot be probed)."""
    merchant_id = None
    if merchant_shop_id:
        merchants = price_merchants(supplier)
        merchant_id = next((row.id for row in merchants if row.shop_id == merchant_shop_id), None)
        if merchant_id is None:
            return price_rows(supplier, None, missing_only, q, sku_key=sku_key).where(false())
    return price_rows(supplier, merchant_id, missing_only, q, sku_key=sku_key)


def row_dom_id(merchant_id: int, sku_key: str) -> str:
    """A stable HTML id for a list row (SKU keys hold any character)."""
    digest = hashlib.sha256(sku_key.encode("utf-8")).hexdigest()[:16]
    return f"price-{merchant_id}-{digest}"


# --- setting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceItem:
    """One price to set, as an import row or an API item gives it."""

    merchant_shop_id: str
    sku_key: str
    price: str | int
    effective_from: datetime | None = None
    row: int | None = None


@dataclass(frozen=True)
class PriceChange:
    """A price that went in (created) or was already in force (unchanged)."""

    merchant_id: int
    merchant_shop_id: str
    sku_key: str
    price_fen: int
    effective_from: datetime
    status: str  # CREATED | UNCHANGED
    row: int | None = None

    @property
    def created(self) -> bool:
        return self.status == CREATED


@dataclass(frozen=True)
class PriceRefusal:
    merchant_shop_id: str
    sku_key: str
    code: str
    message: str
    row: int | None = None


@dataclass
class PriceResult:
    created: list[PriceChange] = field(default_factory=list)
    unchanged: list[PriceChange] = field(default_factory=list)
    refused: list[PriceRefusal] = field(default_factory=list)
    skipped: int = 0  # file rows with an empty 结算价

    def sort_refusals(self) -> None:
        self.refused.sort(key=lambda r: (r.row is None, r.row or 0))


@dataclass(frozen=True)
class _Wanted:
    merchant_id: int
    merchant_shop_id: str
    sku_key: str
    price_fen: int
    effective_from: datetime | None
    row: int | None


def _bound_merchants(
    supplier: Supplier, *, ids: Iterable[int] = (), shop_ids: Iterable[str] = ()
) -> dict[int, str]:
    """{merchant_id: shop_id} of the given merchants bound to the supplier now or before."""
    found: dict[int, str] = {}
    base = (
        select(Merchant.id, User.shop_id)
        .join(User, User.id == Merchant.user_id)
        .join(Binding, Binding.merchant_id == Merchant.id)
        .where(
            Binding.supplier_id == supplier.id,
            Binding.status.in_((BINDING_ACTIVE, BINDING_ENDED)),
        )
        .distinct()
    )
    for chunk in chunks(sorted(set(ids))):
        found.update(db.session.execute(base.where(Merchant.id.in_(chunk))).all())
    for chunk in chunks(sorted(set(shop_ids))):
        found.update(db.session.execute(base.where(User.shop_id.in_(chunk))).all())
    return {merchant_id: shop_id or "" for merchant_id, shop_id in found.items()}


def _by_merchant(keys: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for merchant_id, sku_key in keys:
        grouped.setdefault(merchant_id, []).append(sku_key)
    return grouped


def _known_keys(supplier: Supplier, keys: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """The keys the supplier has an order or a price for."""
    known: set[tuple[int, str]] = set()
    for merchant_id, skus in _by_merchant(keys).items():
        for chunk in chunks(sorted(set(skus))):
            for model in (Order, Price):
                known.update(
                    (merchant_id, sku)
                    for sku in db.session.scalars(
                        select(model.sku_key)
                        .where(
                            model.supplier_id == supplier.id,
                            model.merchant_id == merchant_id,
                            model.sku_key.in_(chunk),
                        )
                        .distinct()
                    )
                )
            # SKUs on the other lines of multi-item orders.
            known.update(
                (merchant_id, sku)
                for sku in db.session.scalars(
                    select(OrderLine.sku_key)
                    .join(Order, Order.id == OrderLine.order_id)
                    .where(
                        Order.supplier_id == supplier.id,
                        OrderLine.merchant_id == merchant_id,
                        OrderLine.sku_key.in_(chunk),
                    )
                    .distinct()
                )
            )
    return known


def _histories(
    supplier: Supplier, keys: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], list[tuple[datetime, int]]]:
    """Each key's price rows, oldest first: (effective_from, price_fen)."""
    history: dict[tuple[int, str], list[tuple[datetime, int]]] = {}
    for merchant_id, skus in _by_merchant(keys).items():
        for chunk in chunks(sorted(set(skus))):
            rows = db.session.execute(
                select(Price.sku_key, Price.effective_from, Price.price_fen)
                .where(
                    Price.supplier_id == supplier.id,
                    Price.merchant_id == merchant_id,
                    Price.sku_key.in_(chunk),
                )
                .order_by(Price.sku_key, Price.effective_from, Price.id)
            )
            for sku_key, effective_from, price_fen in rows:
                history.setdefault((merchant_id, sku_key), []).append((effective_from, price_fen))
    return history


def _in_force(
    history: Sequence[tuple[datetime, int]], moment: datetime
) -> tuple[datetime, int] | None:
    found = None
    for entry in history:
        if entry[0] > moment:
            break
        found = entry
    return found


def _decide(
    wanted: _Wanted, history: Sequence[tuple[datetime, int]], now: datetime
) -> tuple[str, datetime]:
    """CREATED / UNCHANGED / "price_time_taken", and the start of the row that holds it."""
    start, explicit = wanted.effective_from or now, wanted.effective_from is not None
    current = _in_force(history, now)
    if explicit and current is not None and _second(start) == _second(current[0]):
        if wanted.price_fen == current[1]:
            return UNCHANGED, current[0]
        # The time the listing (export, API) showed: the new price starts now.
        start, explicit = now, False
    for effective_from, price_fen in history:
        # A typed time has whole seconds at most; "now" collides only with itself.
        same = _second(effective_from) == _second(start) if explicit else effective_from == start
        if same:
            return (UNCHANGED if price_fen == wanted.price_fen else "price_time_taken"), start
    prior = _in_force(history, start)
    if prior is not None and prior[1] == wanted.price_fen:
        return UNCHANGED, prior[0]
    return CREATED, start


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _apply(
    supplier: Supplier,
    wanted: Sequence[_Wanted],
    actor: User | None,
    result: PriceResult,
    now: datetime,
) -> None:
    """The set-based part: which keys exist, their histories, one INSERT for what is new."""
    known = _known_keys(supplier, ((w.merchant_id, w.sku_key) for w in wanted))
    histories = _histories(supplier, known)
    first_row: dict[tuple[int, str], int | None] = {}
    new_rows: list[dict[str, object]] = []

    def refuse(w: _Wanted, code: str, message: str | None = None) -> None:
        result.refused.append(
            PriceRefusal(w.merchant_shop_id, w.sku_key, code, message or message_for(code), w.row)
        )

    for w in wanted:
        key = (w.merchant_id, w.sku_key)
        if key in first_row:
            earlier = first_row[key]
            refuse(
                w,
                "duplicate_sku",
                _("同一商家的 SKU 重复出现（第 %(row)s 行已有），本行未导入", row=earlier)
                if earlier
                else None,
            )
            continue
        first_row[key] = w.row
        if key not in known:
            refuse(w, "unknown_sku")
            continue
        if w.effective_from is not None:
            try:
                _check_effective_from(w.effective_from, now)
            except DomainError as error:
                refuse(w, error.code)
                continue
        outcome, start = _decide(w, histories.get(key, []), now)
        if outcome not in (CREATED, UNCHANGED):
            refuse(w, outcome)
            continue
        change = PriceChange(
            w.merchant_id, w.merchant_shop_id, w.sku_key, w.price_fen, start, outcome, w.row
        )
        if outcome == UNCHANGED:
            result.unchanged.append(change)
            continue
        result.created.append(change)
        new_rows.append(
            {
                "supplier_id": supplier.id,
                "merchant_id": w.merchant_id,
                "sku_key": w.sku_key,
                "price_fen": w.price_fen,
                "effective_from": start,
                "created_by": actor.id if actor else None,
                "created_at": now,
            }
        )
    if not new_rows:
        return
    try:
        # Another request may have set the same start in between: refuse, never overwrite.
        with db.session.begin_nested():
            for batch in chunks(new_rows):
                db.session.execute(insert(Price), list(batch))
    except IntegrityError:
        raise DomainError("price_conflict") from None


def set_price(
    supplier: Supplier,
    merchant_id: int,
    sku_key: str,
    price: str | int,
    actor: User | None,
    effective_from: datetime | None = None,
) -> PriceChange:
    """Set one price (the inline edit). Flushes; raises DomainError: invalid_price,
    invalid_sku_key, invalid_effective_from, not_bound, unknown_sku, price_time_taken,
    price_conflict."""
    now = now_utc()
    fen = parse_price(price)
    key = _clean_sku_key(sku_key)
    if effective_from is not None:
        _check_effective_from(effective_from, now)
    shop_ids = _bound_merchants(supplier, ids=[merchant_id])
    if merchant_id not in shop_ids:
        raise DomainError("not_bound", _("未与该商家绑定"), field="merchant")
    result = PriceResult()
    wanted = _Wanted(merchant_id, shop_ids[merchant_id], key, fen, effective_from, None)
    _apply(supplier, [wanted], actor, result, now)
    if result.refused:
        refusal = result.refused[0]
        raise DomainError(refusal.code, refusal.message)
    return (result.created or result.unchanged)[0]


def set_prices(supplier: Supplier, items: Sequence[PriceItem], actor: User | None) -> PriceResult:
    """Set many prices (a file, an API call): each refused item is named with its code (and
    row), the rest go in, in one set-based pass. Flushes only."""
    result = PriceResult()
    parsed: list[tuple[str, str, int, PriceItem]] = []
    for item in items:
        shop_id = normalize_shop_id(str(item.merchant_shop_id or ""))
        try:
            fen = parse_price(item.price)
            key = _clean_sku_key(item.sku_key)
        except DomainError as error:
            result.refused.append(
                PriceRefusal(shop_id, str(item.sku_key)[:64], error.code, error.message, item.row)
            )
            continue
        parsed.append((shop_id, key, fen, item))
    merchants = _bound_merchants(supplier, shop_ids=[shop_id for shop_id, *_rest in parsed])
    by_shop_id = {shop_id: merchant_id for merchant_id, shop_id in merchants.items()}
    wanted: list[_Wanted] = []
    for shop_id, key, fen, item in parsed:
        merchant_id = by_shop_id.get(shop_id)
        if merchant_id is None:
            # Unknown and unbound shop IDs get the same answer: nothing to probe.
            result.refused.append(
                PriceRefusal(shop_id, key, "not_bound", _("未与该商家绑定"), item.row)
            )
            continue
        wanted.append(_Wanted(merchant_id, shop_id, key, fen, item.effective_from, item.row))
    if wanted:
        _apply(supplier, wanted, actor, result, now_utc())
    result.sort_refusals()
    return result


def cooperation_start(supplier: Supplier, merchant_id: int) -> datetime | None:
    """When the pair first bound: a start before every order the merchant gave the supplier."""
    return db.session.scalar(
        select(func.min(Binding.created_at)).where(
            Binding.supplier_id == supplier.id,
            Binding.merchant_id == merchant_id,
            Binding.status.in_((BINDING_ACTIVE, BINDING_ENDED)),
        )
    )


# --- history -----------------------------------------------------------------------------------

HISTORY_CURRENT = "current"
HISTORY_PAST = "past"
HISTORY_SCHEDULED = "scheduled"


@dataclass(frozen=True)
class HistoryEntry:
    effective_from: datetime
    price_fen: int
    created_at: datetime
    created_by: str  # who set it (staff.actor_labels), "" for the system
    state: str  # HISTORY_CURRENT | HISTORY_PAST | HISTORY_SCHEDULED


def price_history(supplier: Supplier, merchant_id: int, sku_key: str) -> list[HistoryEntry]:
    """A SKU's prices, newest start first. not_found for a merchant not bound to the supplier
    (now or before) or a key the supplier has neither an order nor a price for."""
    if merchant_id not in _bound_merchants(supplier, ids=[merchant_id]):
        raise DomainError("not_found")
    rows = db.session.execute(
        select(Price.effective_from, Price.price_fen, Price.created_at, Price.created_by)
        .where(
            Price.supplier_id == supplier.id,
            Price.merchant_id == merchant_id,
            Price.sku_key == sku_key,
        )
        .order_by(Price.effective_from.desc(), Price.id.desc())
    ).all()
    if not rows and not _known_keys(supplier, [(merchant_id, sku_key)]):
        raise DomainError("not_found")
    now = now_utc()
    actors = staff.actor_labels(row.created_by for row in rows)
    entries: list[HistoryEntry] = []
    seen_current = False
    for effective_from, price_fen, created_at, created_by in rows:
        if effective_from > now:
            state = HISTORY_SCHEDULED
        elif not seen_current:
            state, seen_current = HISTORY_CURRENT, True
        else:
            state = HISTORY_PAST
        entries.append(
            HistoryEntry(effective_from, price_fen, created_at, actors.get(created_by, ""), state)
        )
    return entries


# --- files -------------------------------------------------------------------------------------


def export_rows(
    supplier: Supplier, merchant_id: int | None = None, missing_only: bool = False, q: str = ""
) -> Iterator[list[str]]:
    """The header, then one row per SKU of the list (same filters, same order)."""
    yield list(EXPORT_HEADER)
    query = price_rows(supplier, merchant_id, missing_only, q)
    for row in db.session.execute(query.execution_options(yield_per=1000)):
        yield [
            row.merchant_shop_id or "",
            row.merchant_name,
            row.goods_name,
            row.spec,
            row.sku_key,
            price_text(row.price_fen),
            row.effective_from.astimezone(SHANGHAI).strftime(_TIME_FORMAT)
            if row.effective_from
            else "",
        ]


def open_price_file(
    stream: BinaryIO, filename: str, *, max_rows: int | None = MAX_FILE_ROWS
) -> Iterator[PriceItem | PriceRefusal | None]:
    """Check the file and its header now (ImportFileError); then stream one PriceItem per row,
    a PriceRefusal for a row that cannot be read, None for a row with an empty 结算价 (skipped).
    Damage found further into the file is raised as ImportFileError from the iterator."""
    rows, keys = open_columns(stream, filename, IMPORT_COLUMNS, max_rows=max_rows)
    return _price_file_rows(rows, keys)


def _price_file_rows(
    rows: Iterator[tuple[int, dict[str, str]]], keys: Mapping[str, str | None]
) -> Iterator[PriceItem | PriceRefusal | None]:
    try:
        for row_no, cells in rows:
            values = {name: cells.get(key, "") if key else "" for name, key in keys.items()}
            yield _price_file_row(row_no, values)
    except ImportFileError:
        raise
    except TableError as exc:
        raise ImportFileError(exc.code, exc.message) from exc
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def _price_file_row(row_no: int, values: Mapping[str, str]) -> PriceItem | PriceRefusal | None:
    shop_id = normalize_shop_id(values[SHOP_ID])
    sku_key = values[SKU_KEY]
    if not values[PRICE].strip():
        return None
    if not shop_id:
        return PriceRefusal("", sku_key[:64], "field_required", _("商家店铺ID为空"), row_no)
    try:
        effective_from = parse_effective_from(values[EFFECTIVE_FROM])
    except DomainError as error:
        return PriceRefusal(
            shop_id,
            sku_key[:64],
            error.code,
            _(
                "生效时间“%(text)s”无法识别，应为 YYYY-MM-DD HH:MM:SS",
                text=values[EFFECTIVE_FROM][:32],
            ),
            row_no,
        )
    return PriceItem(shop_id, sku_key, values[PRICE], effective_from, row_no)


def import_prices(
    supplier: Supplier, rows: Iterable[PriceItem | PriceRefusal | None], actor: User | None
) -> PriceResult:
    """A whole file at once (at most MAX_FILE_ROWS rows): the reader's refusals and the
    service's are reported together by row number; the good rows go in."""
    items: list[PriceItem] = []
    reader_refusals: list[PriceRefusal] = []
    skipped = 0
    for row in rows:
        if row is None:
            skipped += 1
        elif isinstance(row, PriceRefusal):
            reader_refusals.append(row)
        else:
            items.append(row)
    result = set_prices(supplier, items, actor)
    result.refused.extend(reader_refusals)
    result.skipped = skipped
    result.sort_refusals()
    return result

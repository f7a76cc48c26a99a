"""Settlement prices (结算价): parsing, history and the price in force, the missing-first list,
binding and SKU checks, files (export → import round trip, bad rows, formula safety), and the
supplier pages through HTTP (inline edit, history drawer, import, other tenants, query count)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from sqlalchemy import event, func, select

from portal.domain import allocation, bindings, prices, spreadsheets
from portal.domain.errors import DomainError, message_for
from portal.domain.formatting import SHANGHAI
from portal.domain.imports.platform_export import ImportedLine
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.statements.build import PriceBook
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.models import Binding, Merchant, Order, Price, Supplier, User
from portal.models.accounts import ROLE_MERCHANT
from tests.factories import demo_order

LIST_URL = "/supplier/prices"
SET_URL = "/supplier/prices/set"
HISTORY_URL = "/supplier/prices/history"
EXPORT_URL = "/supplier/prices/export"
IMPORT_URL = "/supplier/prices/import"

_order_numbers = itertools.count(1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app):
    # After every binding made in the test (bindings take the real time): prices may start
    # "since the pair first bound" without that lying in the clock's future.
    value = Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5))
    app.config["CLOCK"] = value
    return value


def merchant_of(user: User) -> Merchant:
    return db.session.get(Merchant, user.merchant.id)


def supplier_of(user: User) -> Supplier:
    return db.session.get(Supplier, user.supplier.id)


def bind(merchant_user: User, supplier_user: User) -> None:
    merchant, supplier = merchant_of(merchant_user), supplier_of(supplier_user)
    binding = bindings.apply_for_binding(merchant, supplier_user.shop_id)
    bindings.accept_binding(supplier, binding.id)
    db.session.commit()


def assign(
    merchant_user: User, supplier_user: User, sku: str, n: int = 1, **changes: Any
) -> list[str]:
    """n orders of the merchant for SKU `sku`, assigned to the supplier (needs an app context)."""
    merchant, supplier = merchant_of(merchant_user), supplier_of(supplier_user)
    order_nos = [f"261121-{next(_order_numbers):015d}" for _ in range(n)]
    upsert_orders(
        current_keyring(), merchant, [demo_order(no, sku_code=sku, **changes) for no in order_nos]
    )
    assert len(allocation.assign_orders(merchant, order_nos, supplier, None).done) == n
    db.session.commit()
    return order_nos


@dataclass
class Pair:
    merchant_user: User
    supplier_user: User

    @property
    def merchant(self) -> Merchant:
        return merchant_of(self.merchant_user)

    @property
    def supplier(self) -> Supplier:
        return supplier_of(self.supplier_user)

    @property
    def actor(self) -> User:
        return db.session.get(User, self.supplier_user.id)

    def assign(self, sku: str, n: int = 1, **changes: Any) -> list[str]:
        return assign(self.merchant_user, self.supplier_user, sku, n, **changes)

    def set(self, sku: str, price: str | int, **kw: Any) -> prices.PriceChange:
        change = prices.set_price(self.supplier, self.merchant.id, sku, price, self.actor, **kw)
        db.session.commit()
        return change

    def rows(self, **kw: Any) -> list[Any]:
        return list(db.session.execute(prices.price_rows(self.supplier, **kw)))


@pytest.fixture
def pair(app_ctx, factory, clock) -> Pair:
    m_user, s_user = factory.merchant(shop_name="阿福家纺"), factory.supplier()
    bind(m_user, s_user)
    return Pair(m_user, s_user)


def price_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Price))


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12.5", 1250),
        ("12.50", 1250),
        ("￥12.50", 1250),
        ("¥12.5", 1250),
        ("12", 1200),
        (" 12 ", 1200),
        ("１２．５０", 1250),
        ("12元", 1200),
        ("￥ 8.8 元", 880),
        ("1,234.5", 123450),
        ("0", 0),
        ("0.01", 1),
        (".5", 50),
        ("12.500", 1250),
        ("13.750000000000002", 1375),  # XLSX float noise of a computed 13.75
        ("1000000", 100_000_000),
        (1250, 1250),  # an int is fen already
    ],
)
def test_parse_price(app_ctx, text, fen):
    assert prices.parse_price(text) == fen


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "请填写结算价"),
        ("   ", "请填写结算价"),
        ("￥", "请填写结算价"),
        ("-1", "负数"),
        ("-0.01", "负数"),
        ("12.345", "两位小数"),
        ("12.001", "两位小数"),
        ("1000000.01", "1,000,000"),
        ("99999999", "1,000,000"),
        ("9" * 30, "1,000,000"),  # beyond Decimal's precision: refused, not a crash
        ("9" * 14 + ".999", "两位小数"),
        ("abc", "不是有效的金额"),
        ("1e3", "不是有效的金额"),
        ("12,5", "不是有效的金额"),
        ("1,23", "不是有效的金额"),
        ("12.5.1", "不是有效的金额"),
        ("NaN", "不是有效的金额"),
        ("Infinity", "不是有效的金额"),
        ("=1+2", "不是有效的金额"),
        (-5, "负数"),
        (100_000_001, "1,000,000"),
        (12.5, "文本"),
        (True, "文本"),
        (None, "文本"),
    ],
)
def test_parse_price_refuses(app_ctx, text, says):
    with pytest.raises(DomainError) as caught:
        prices.parse_price(text)
    assert caught.value.code == "invalid_price"
    assert says in caught.value.message


def test_parse_effective_from(app_ctx):
    expected = datetime(2026, 11, 1, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    for text in (
        "2026-11-01 09:30:00",
        "2026/11/01 09:30",
        "2026-11-01T09:30",
        "２０２６-11-01 09:30",
    ):
        assert prices.parse_effective_from(text) == expected, text
    assert prices.parse_effective_from("2026-11-01T01:30:00+00:00") == expected
    assert prices.parse_effective_from("2026-11-01") == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert prices.parse_effective_from("") is None
    # calendar-edge times overflowed (a 500) before they were refused
    edges = ("0001-01-01 00:00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00")
    for bad in ("yesterday", "2026-13-01", "2026-11-01 25:00", *edges):
        with pytest.raises(DomainError) as caught:
            prices.parse_effective_from(bad)
        assert caught.value.code == "invalid_effective_from"


# --- setting, history, the price in force ----------------------------------------------------


def test_set_price_creates_then_unchanged_and_keeps_history(pair, clock):
    pair.assign("BLK-1", 2)
    first = pair.set("BLK-1", "￥12.50")
    assert first.created and first.price_fen == 1250 and first.effective_from == clock.now
    clock.advance(minutes=1)
    again = pair.set("BLK-1", "12.5")
    assert again.status == prices.UNCHANGED and again.effective_from == first.effective_from
    assert price_count() == 1

    clock.advance(days=1)
    second = pair.set("BLK-1", "13")
    assert second.created
    history = prices.price_history(pair.supplier, pair.merchant.id, "BLK-1")
    assert [(h.price_fen, h.state) for h in history] == [(1300, "current"), (1250, "past")]
    assert history[0].created_by == f"厂家 · 测试工厂 · {pair.supplier_user.username}"
    [row] = pair.rows()
    assert (row.price_fen, row.effective_from, row.order_count) == (1300, clock.now, 2)


def test_price_in_force_matches_what_statements_use(pair, clock):
    pair.assign("BLK-1")
    start = clock.now
    pair.set("BLK-1", "10")
    clock.advance(days=2)
    pair.set("BLK-1", "12")
    scheduled = clock.now + timedelta(days=7)
    assert pair.set("BLK-1", "15", effective_from=scheduled).created

    book = PriceBook(pair.merchant.id, pair.supplier.id)
    assert book.price_at("BLK-1", start - timedelta(seconds=1)) is None
    assert book.price_at("BLK-1", start + timedelta(days=1)) == 1000
    assert book.price_at("BLK-1", clock.now + timedelta(days=1)) == 1200
    assert book.price_at("BLK-1", scheduled + timedelta(seconds=1)) == 1500

    [row] = pair.rows()
    assert (row.price_fen, row.next_price_fen, row.next_effective_from) == (1200, 1500, scheduled)
    states = [h.state for h in prices.price_history(pair.supplier, pair.merchant.id, "BLK-1")]
    assert states == ["scheduled", "current", "past"]

    clock.advance(days=8)  # the scheduled price is now the one in force
    [row] = pair.rows()
    assert (row.price_fen, row.next_price_fen) == (1500, None)


def test_backdated_price_and_the_time_rules(pair, clock):
    pair.assign("BLK-1")
    pair.set("BLK-1", "10")
    current_from = clock.now
    clock.advance(hours=3)
    earlier = current_from - timedelta(days=3)
    # Backdating is explicit only: it goes in before the current price.
    assert pair.set("BLK-1", "9", effective_from=earlier).created
    book = PriceBook(pair.merchant.id, pair.supplier.id)
    assert book.price_at("BLK-1", earlier + timedelta(hours=1)) == 900
    assert book.price_at("BLK-1", clock.now) == 1000

    # The start the listing shows (to the second) with a new price: starts now, rewrites nothing.
    shown = current_from.replace(microsecond=0)
    change = pair.set("BLK-1", "11", effective_from=shown)
    assert change.created and change.effective_from == clock.now
    assert PriceBook(pair.merchant.id, pair.supplier.id).price_at("BLK-1", current_from) == 1000

    # Another row's start with another price: refused, never overwritten.
    with pytest.raises(DomainError) as caught:
        pair.set("BLK-1", "8", effective_from=earlier)
    assert caught.value.code == "price_time_taken"
    # The same price at an existing start is simply unchanged.
    assert pair.set("BLK-1", "9", effective_from=earlier).status == prices.UNCHANGED

    for bad in (datetime(1999, 12, 31, tzinfo=UTC), clock.now + timedelta(days=400)):
        with pytest.raises(DomainError) as caught:
            pair.set("BLK-1", "7", effective_from=bad)
        assert caught.value.code == "invalid_effective_from"
    assert price_count() == 3


def test_first_price_since_the_pair_bound_covers_returned_orders(pair, clock):
    pair.assign("BLK-1")
    start = prices.cooperation_start(pair.supplier, pair.merchant.id)
    binding_created = db.session.scalar(select(Binding.created_at))
    assert start == binding_created
    pair.set("BLK-1", "10", effective_from=start)
    book = PriceBook(pair.merchant.id, pair.supplier.id)
    assert book.price_at("BLK-1", binding_created + timedelta(seconds=1)) == 1000


def test_not_bound_and_unknown_sku(pair, factory, clock):
    [order_no] = pair.assign("BLK-1")
    # Returned: the order stays with the supplier when the binding ends.
    assert return_tracking(
        pair.supplier, [TrackingItem(order_no, "SF", "SF1234567890")], None
    ).returned
    db.session.commit()
    stranger_user = factory.supplier(factory_name="别家工厂")
    stranger = supplier_of(stranger_user)
    with pytest.raises(DomainError) as caught:
        prices.set_price(stranger, pair.merchant.id, "BLK-1", "10", None)
    assert caught.value.code == "not_bound"
    with pytest.raises(DomainError) as caught:
        prices.set_price(pair.supplier, pair.merchant.id, "NO-SUCH-SKU", "10", None)
    assert caught.value.code == "unknown_sku"
    with pytest.raises(DomainError) as caught:
        prices.price_history(stranger, pair.merchant.id, "BLK-1")
    assert caught.value.code == "not_found"
    with pytest.raises(DomainError) as caught:
        prices.price_history(pair.supplier, pair.merchant.id, "NO-SUCH-SKU")
    assert caught.value.code == "not_found"
    assert list(db.session.execute(prices.price_rows(stranger))) == []
    assert price_count() == 0

    # A binding that ended keeps the work billable: prices can still be set.
    binding = db.session.scalar(select(Binding))
    bindings.end_binding(binding, ROLE_MERCHANT)
    db.session.commit()
    assert pair.set("BLK-1", "10").created
    assert [(r.sku_key, r.price_fen) for r in pair.rows()] == [("BLK-1", 1000)]


def test_list_is_missing_first_with_counts(pair, factory, clock):
    pair.assign("B-PRICED", 3, goods_name="毛毯 B")
    pair.assign("A-MISSING", 2, goods_name="毛毯 A", spec="红色")
    pair.assign("C-MISSING", 1, goods_name="毛毯 C")
    pair.set("B-PRICED", "20")
    # A price whose SKU has no order (any more): still listed, with 0 orders.
    db.session.add(
        Price(
            supplier_id=pair.supplier.id,
            merchant_id=pair.merchant.id,
            sku_key="OLD-SKU",
            price_fen=500,
            effective_from=clock.now - timedelta(days=30),
        )
    )
    db.session.commit()  # no transaction left open: the factory opens its own
    # A second merchant with one missing SKU.
    other_user = factory.merchant(shop_name="贝贝小店")
    bind(other_user, pair.supplier_user)
    assign(other_user, pair.supplier_user, "X-1", 4, goods_name="枕头")
    # Another supplier's orders of the same merchant are not this supplier's business.
    stranger_user = factory.supplier()
    bind(pair.merchant_user, stranger_user)
    assign(pair.merchant_user, stranger_user, "STRANGER", 5)
    db.session.commit()

    rows = pair.rows()
    assert [(r.merchant_name, r.sku_key, r.order_count, r.price_fen) for r in rows] == [
        ("贝贝小店", "X-1", 4, None),
        ("阿福家纺", "A-MISSING", 2, None),
        ("阿福家纺", "C-MISSING", 1, None),
        ("阿福家纺", "OLD-SKU", 0, 500),
        ("阿福家纺", "B-PRICED", 3, 2000),
    ]
    assert (rows[1].goods_name, rows[1].spec) == ("毛毯 A", "红色")
    assert rows[3].goods_name == "" and rows[0].merchant_shop_id == other_user.shop_id
    supplier = pair.supplier
    assert prices.missing_count(supplier) == 3
    assert prices.missing_count(supplier, pair.merchant.id) == 2
    assert [r.sku_key for r in pair.rows(missing_only=True)] == ["X-1", "A-MISSING", "C-MISSING"]
    assert [r.sku_key for r in pair.rows(merchant_id=pair.merchant.id, q="毛毯 c")] == ["C-MISSING"]
    assert [r.sku_key for r in pair.rows(q="priced")] == ["B-PRICED"]
    assert [r.sku_key for r in pair.rows(q="%")] == []  # LIKE wildcards are plain text
    assert prices.price_row(supplier, pair.merchant.id, "STRANGER") is None
    assert [m.shop_name for m in prices.price_merchants(supplier)] == ["贝贝小店", "阿福家纺"]


def test_cancelled_assignment_leaves_the_list(pair, clock):
    [order_no] = pair.assign("GONE")
    assert [r.sku_key for r in pair.rows()] == ["GONE"]
    merchant = pair.merchant
    assert allocation.cancel_assignments(merchant, [order_no], None).done
    db.session.commit()
    assert pair.rows() == []


# --- batches ---------------------------------------------------------------------------------


def test_set_prices_reports_each_refusal_with_its_row(pair, factory, clock):
    pair.assign("A", 1)
    pair.assign("B", 1)
    pair.set("B", "5")
    unbound_user = factory.merchant()
    shop = pair.merchant_user.shop_id
    items = [
        prices.PriceItem(shop, "A", "12.5", row=2),
        prices.PriceItem(shop, "B", "5.00", row=3),
        prices.PriceItem(shop, "A", "13", row=4),
        prices.PriceItem(shop, "NOPE", "1", row=5),
        prices.PriceItem(unbound_user.shop_id, "A", "1", row=6),
        prices.PriceItem("999999999", "A", "1", row=7),
        prices.PriceItem(shop, "B", "-3", row=8),
        prices.PriceItem(shop, "", "3", row=9),
    ]
    result = prices.set_prices(pair.supplier, items, pair.actor)
    db.session.commit()
    assert [(c.sku_key, c.price_fen, c.row) for c in result.created] == [("A", 1250, 2)]
    assert [c.row for c in result.unchanged] == [3]
    assert [(r.row, r.code) for r in result.refused] == [
        (4, "duplicate_sku"),
        (5, "unknown_sku"),
        (6, "not_bound"),
        (7, "not_bound"),
        (8, "invalid_price"),
        (9, "invalid_sku_key"),
    ]
    assert "第 2 行" in result.refused[0].message
    assert price_count() == 2


def test_concurrent_same_start_is_refused_not_overwritten(pair, clock, monkeypatch):
    pair.assign("A")
    start = clock.now - timedelta(days=1)
    pair.set("A", "10", effective_from=start)
    # Another request inserted the same start after this one read the history.
    monkeypatch.setattr(prices, "_histories", lambda *_args: {})
    with pytest.raises(DomainError) as caught:
        pair.set("A", "11", effective_from=start)
    assert caught.value.code == "price_conflict"
    db.session.rollback()
    assert [p.price_fen for p in db.session.scalars(select(Price))] == [1000]


# --- files -----------------------------------------------------------------------------------


def read_csv(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def export_csv(supplier: Supplier, **kw: Any) -> list[list[str]]:
    return read_csv(spreadsheets.csv_text(prices.export_rows(supplier, **kw)))


def export_xlsx(supplier: Supplier, **kw: Any) -> bytes:
    buffer = io.BytesIO()
    spreadsheets.write_xlsx(buffer, "结算价", prices.export_rows(supplier, **kw))
    return buffer.getvalue()


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def import_file(pair: Pair, content: bytes, filename: str) -> prices.PriceResult:
    rows = prices.open_price_file(io.BytesIO(content), filename)
    result = prices.import_prices(pair.supplier, rows, pair.actor)
    db.session.commit()
    return result


def test_export_layout(pair, clock):
    pair.assign("A", 2, goods_name="毛毯", spec="灰色")
    pair.assign("B", 1, goods_name="枕头", spec="")
    pair.set("A", "1234.5")
    rows = export_csv(pair.supplier)
    shown = clock.now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    shop = pair.merchant_user.shop_id
    assert rows == [
        ["商家店铺ID", "商家", "商品", "规格", "SKU键", "结算价(元)", "生效时间"],
        [shop, "阿福家纺", "枕头", "", "B", "", ""],
        [shop, "阿福家纺", "毛毯", "灰色", "A", "1234.50", shown],
    ]
    assert export_csv(pair.supplier, missing_only=True)[1:] == [rows[1]]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_export_import_round_trip(pair, clock, kind):
    pair.assign("A", 2)
    pair.assign("B", 1)
    pair.assign("C", 1)
    pair.set("A", "10")
    pair.set("B", "20")
    clock.advance(hours=2)
    if kind == "csv":
        content, name = spreadsheets.csv_text(prices.export_rows(pair.supplier)).encode(), "p.csv"
    else:
        content, name = export_xlsx(pair.supplier), "p.xlsx"

    # As exported: nothing changes; the row without a price is skipped.
    result = import_file(pair, content, name)
    assert (len(result.created), len(result.unchanged), result.skipped) == (0, 2, 1)
    assert result.refused == []
    assert price_count() == 2

    # Edited: A gets a new price (from now, not from the exported time), C its first.
    if kind == "csv":
        rows = read_csv(content.decode("utf-8"))
        by_sku = {r[4]: r for r in rows[1:]}
        by_sku["A"][5], by_sku["C"][5] = "11.5", "30"
        content = csv_bytes(rows)
    else:
        book = openpyxl.load_workbook(io.BytesIO(content))
        sheet = book.worksheets[0]
        for cells in sheet.iter_rows(min_row=2):
            if cells[4].value == "A":
                cells[5].value = 11.5  # a number typed in Excel
            if cells[4].value == "C":
                cells[5].value = "30"
        buffer = io.BytesIO()
        book.save(buffer)
        content = buffer.getvalue()
    result = import_file(pair, content, name)
    assert sorted((c.sku_key, c.price_fen) for c in result.created) == [("A", 1150), ("C", 3000)]
    assert [c.sku_key for c in result.unchanged] == ["B"]
    assert all(c.effective_from == clock.now for c in result.created)
    book = PriceBook(pair.merchant.id, pair.supplier.id)
    assert book.price_at("A", clock.now - timedelta(minutes=1)) == 1000
    assert book.price_at("A", clock.now) == 1150


def test_import_bad_rows_by_number_good_rows_go_in(pair, factory, clock):
    pair.assign("A")
    pair.assign("B")
    pair.assign("C")
    shop = pair.merchant_user.shop_id
    stranger = factory.merchant()
    rows = [
        ["商家店铺ID", "商家", "SKU键", "结算价（元）", "生效时间"],  # full-width brackets too
        [shop, "阿福家纺", "A", "12.5", ""],
        [shop, "阿福家纺", "B", "12.345", ""],
        ["", "", "C", "3", ""],
        [stranger.shop_id, "", "A", "3", ""],
        [shop, "", "NOPE", "3", ""],
        [shop, "", "C", "3", "明天"],
        [shop, "", "B", "", ""],
        [shop, "", "C", "¥7", "2026/11/01 08:00"],
    ]
    result = import_file(pair, csv_bytes(rows, "gb18030"), "价格.csv")
    assert [(r.row, r.code) for r in result.refused] == [
        (3, "invalid_price"),
        (4, "field_required"),
        (5, "not_bound"),
        (6, "unknown_sku"),
        (7, "invalid_effective_from"),
    ]
    assert "两位小数" in result.refused[0].message
    assert "明天" in result.refused[-1].message
    assert sorted((c.row, c.sku_key, c.price_fen) for c in result.created) == [
        (2, "A", 1250),
        (9, "C", 700),
    ]
    assert result.skipped == 1
    c_start = datetime(2026, 11, 1, tzinfo=UTC)  # 08:00 Shanghai
    assert PriceBook(pair.merchant.id, pair.supplier.id).price_at("C", c_start) == 700


def test_import_file_problems(pair):
    with pytest.raises(prices.ImportFileError) as caught:
        prices.open_price_file(io.BytesIO(csv_bytes([["商家", "商品"], ["x", "y"]])), "p.csv")
    assert caught.value.code == "missing_columns"
    assert "商家店铺ID" in caught.value.message and "SKU键" in caught.value.message
    with pytest.raises(prices.ImportFileError) as caught:
        prices.open_price_file(io.BytesIO(b"%PDF-1.4 nope"), "p.csv")
    assert caught.value.code == "not_spreadsheet"
    many = [["商家店铺ID", "SKU键", "结算价(元)"]] + [["1", "A", "1"]] * 3
    rows = prices.open_price_file(io.BytesIO(csv_bytes(many)), "p.csv", max_rows=2)
    with pytest.raises(prices.ImportFileError) as caught:
        prices.import_prices(pair.supplier, rows, None)
    assert caught.value.code == "too_many_rows"


def test_export_is_formula_safe_and_still_round_trips(pair, factory, clock):
    evil_user = factory.merchant(shop_name='=HYPERLINK("http://x")')
    bind(evil_user, pair.supplier_user)
    assign(evil_user, pair.supplier_user, "=1+2", 1, goods_name="@SUM(A1)", spec="-3")
    supplier = pair.supplier
    evil = merchant_of(evil_user)
    prices.set_price(supplier, evil.id, "=1+2", "5", pair.actor)
    db.session.commit()

    row = export_csv(supplier)[1]
    assert row[1:6] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "'-3", "'=1+2", "5.00"]
    sheet = openpyxl.load_workbook(io.BytesIO(export_xlsx(supplier))).worksheets[0]
    cells = next(sheet.iter_rows(min_row=2, max_row=2))
    assert all(c.data_type == "s" for c in cells)
    assert [c.value for c in cells[1:6]] == row[1:6]  # the same text cells as the CSV

    result = import_file(pair, export_xlsx(supplier), "p.xlsx")
    assert [(c.sku_key, c.status) for c in result.unchanged] == [("=1+2", "unchanged")]
    assert result.refused == []


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Site:
    app: Any
    clock: Clock
    merchant_user: User
    supplier_user: User
    browser: Any

    def ctx(self) -> Any:
        return self.app.app_context()

    def assign(self, sku: str, n: int = 1, **changes: Any) -> list[str]:
        with self.ctx():
            return assign(self.merchant_user, self.supplier_user, sku, n, **changes)

    def merchant_id(self) -> int:
        return self.merchant_user.merchant.id

    def set(self, sku: str, price: str) -> None:
        with self.ctx():
            pair = Pair(self.merchant_user, self.supplier_user)
            pair.set(sku, price)

    def prices(self) -> list[tuple[str, int]]:
        with self.ctx():
            rows = db.session.execute(
                select(Price.sku_key, Price.price_fen).order_by(Price.sku_key, Price.id)
            )
            return [tuple(row) for row in rows]

    def row_id(self, sku: str) -> str:
        return prices.row_dom_id(self.merchant_id(), sku)

    def set_inline(self, sku: str, price: str, **extra: str) -> Any:
        data = {"merchant_id": str(self.merchant_id()), "sku_key": sku, "price": price, **extra}
        return self.browser.post(SET_URL, data, target=self.row_id(sku))


@pytest.fixture
def site(app, factory, make_browser, clock) -> Site:
    m_user, s_user = factory.merchant(shop_name="阿福家纺"), factory.supplier()
    with app.app_context():
        bind(m_user, s_user)
    browser = make_browser()
    browser.login(s_user.username)
    return Site(app, clock, m_user, s_user, browser)


def triggers(response) -> dict[str, Any]:
    return json.loads(response.headers.get("HX-Trigger", "{}"))


def test_list_page_shows_missing_first_with_badge(site):
    site.assign("PRICED", 2, goods_name="珊瑚绒毛毯")
    site.assign("MISSING", 3, goods_name="加厚枕头")
    site.set("PRICED", "12.5")
    response = site.browser.get(LIST_URL)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert "缺少结算价 1 个 SKU" in html
    assert html.index("加厚枕头") < html.index("珊瑚绒毛毯")
    assert "¥12.50" in html and 'id="price-drawer"' in html
    assert 'name="from_start"' in html  # the missing row offers 含此前的订单

    part = site.browser.get(LIST_URL + "?missing=1&q=&merchant_id=", htmx=True, target="price-desk")
    body = part.get_data(as_text=True)
    assert part.headers["HX-Push-Url"] == "/supplier/prices?missing=1"
    assert "<html" not in body and "加厚枕头" in body and "珊瑚绒毛毯" not in body

    # The list refetching itself (pricesChanged) keeps the address bar as it is.
    refresh = site.browser.client.get(
        LIST_URL + "?missing=1",
        headers={
            "HX-Request": "true",
            "HX-Target": "price-desk",
            "HX-Trigger": "price-desk-refresh",
        },
    )
    assert refresh.status_code == 200 and "HX-Push-Url" not in refresh.headers

    badge = site.browser.get(LIST_URL, htmx=True, target="price-missing").get_data(as_text=True)
    assert badge.strip().startswith('<span id="price-missing"') and "1 个 SKU" in badge


def test_list_shows_the_merchants_sku_code_never_the_internal_key(site):
    site.assign("BLK-150-GRY", goods_name="珊瑚绒毛毯")
    site.assign("", goods_name="加厚枕头", goods_id="G7788", spec="白色")  # keyed "G7788|白色"
    html = site.browser.get(LIST_URL).get_data(as_text=True)
    assert "<th>商家编码</th>" in html and "<th>SKU键</th>" not in html
    assert '<span class="mono">BLK-150-GRY</span>' in html
    assert '<span class="muted">商品ID</span> <span class="mono">G7788</span>' in html
    shown = re.sub(r'<input type="hidden"[^>]*>|href="[^"]*"|hx-get="[^"]*"', "", html)
    assert "G7788|白色" not in shown  # only the form and links carry the key


def test_inline_edit_through_htmx(site):
    site.assign("A", 2)
    response = site.set_inline("A", "￥12.5", from_start="1")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.strip().startswith(f'<tr id="{site.row_id("A")}"')
    assert "¥12.50" in body and "缺少结算价" not in body
    events = triggers(response)
    assert events["priceSaved"] and "已保存结算价 ¥12.50" in events["showToast"]["message"]
    assert site.prices() == [("A", 1250)]
    with site.ctx():
        start = db.session.scalar(select(Price.effective_from))
        assert start == db.session.scalar(select(Binding.created_at))  # 含此前的订单

    same = site.set_inline("A", "12.50")
    assert same.status_code == 200 and "未变化" in triggers(same)["showToast"]["message"]

    refused = site.set_inline("A", "-3")
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "结算价不能为负数" in body and 'value="-3"' in body and 'aria-invalid="true"' in body
    assert site.prices() == [("A", 1250)]

    # Without htmx (no JavaScript): back to the list with a flash.
    plain = site.browser.post(
        SET_URL, {"merchant_id": str(site.merchant_id()), "sku_key": "A", "price": "x"}, htmx=False
    )
    assert plain.status_code == 303 and plain.headers["Location"] == "/supplier/prices"


def test_history_drawer_and_setting_with_a_start_time(site):
    site.assign("A")
    site.set("A", "10")
    url = f"{HISTORY_URL}?merchant_id={site.merchant_id()}&sku_key=A"
    part = site.browser.get(url, htmx=True, target="price-drawer")
    body = part.get_data(as_text=True)
    assert part.status_code == 200 and "<html" not in body
    assert "结算价历史" in body and "10.00" in body and "当前" in body
    full = site.browser.get(url).get_data(as_text=True)
    assert "<html" in full and 'id="price-drawer" class="drawer"' in full and "当前" in full
    assert 'id="price-drawer" class="drawer" aria-label="结算价历史" hidden' not in full

    when = (site.clock.now - timedelta(days=2)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    data = {"merchant_id": str(site.merchant_id()), "sku_key": "A", "price": "9"}
    response = site.browser.post(SET_URL, {**data, "effective_from": when}, target="price-drawer")
    assert response.status_code == 200 and triggers(response)["pricesChanged"]
    body = response.get_data(as_text=True)
    assert "9.00" in body and "已失效" in body
    assert site.prices() == [("A", 1000), ("A", 900)]

    bad = site.browser.post(
        SET_URL, {**data, "effective_from": "2099-01-01T00:00"}, target="price-drawer"
    )
    assert bad.status_code == 422 and "生效时间不正确" in bad.get_data(as_text=True)
    assert len(site.prices()) == 2


def test_export_over_http(site):
    site.assign("A", goods_name="=cmd|' /C calc'!A0")
    response = site.browser.get(EXPORT_URL + "?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response.get_data(as_text=True))
    assert rows[1][2] == "'=cmd|' /C calc'!A0" and rows[1][4] == "A"
    xlsx = site.browser.get(EXPORT_URL + "?format=xlsx&missing=1")
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_data())).worksheets[0]
    assert [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))][4] == "A"
    assert site.browser.get(EXPORT_URL + "?format=pdf").status_code == 400


def test_import_over_http_reports_rows(site):
    site.assign("A")
    site.assign("B")
    shop = site.merchant_user.shop_id
    content = csv_bytes(
        [
            ["商家店铺ID", "SKU键", "结算价(元)"],
            [shop, "A", "12"],
            [shop, "B", "abc"],
            [shop, "Z", "1"],
        ]
    )
    data = {"file": (io.BytesIO(content), "prices.csv")}
    response = site.browser.post(IMPORT_URL, data, target="price-import")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.strip().startswith('<div id="price-import">')
    assert "第 3 行" in body and "不是有效的金额" in body and "第 4 行" in body
    assert message_for("unknown_sku") in body
    events = triggers(response)
    assert events["pricesChanged"] and events["showToast"]["level"] == "warning"
    assert site.prices() == [("A", 1200)]

    bad = site.browser.post(
        IMPORT_URL, {"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")}, target="price-import"
    )
    assert bad.status_code == 422 and "文件缺少必需的列" in bad.get_data(as_text=True)
    header_only = csv_bytes([["商家店铺ID", "SKU键", "结算价(元)"]])
    empty = site.browser.post(
        IMPORT_URL, {"file": (io.BytesIO(header_only), "x.csv")}, target="price-import"
    )
    assert empty.status_code == 422 and "只有表头" in empty.get_data(as_text=True)

    # Without htmx the whole page comes back with the report.
    content = csv_bytes([["商家店铺ID", "SKU键", "结算价(元)"], [shop, "B", "3"]])
    page = site.browser.post(IMPORT_URL, {"file": (io.BytesIO(content), "p.csv")}, htmx=False)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and "导入结果" in html
    assert site.prices() == [("A", 1200), ("B", 300)]


def test_empty_posts_are_clean_refusals(site):
    site.assign("A")
    assert site.browser.post(SET_URL, {}).status_code == 404
    assert site.browser.post(SET_URL, {}, htmx=False).status_code == 404
    assert site.browser.post(SET_URL, {"merchant_id": "x", "sku_key": "A"}).status_code == 404
    response = site.browser.post(IMPORT_URL, {}, target="price-import")
    assert response.status_code == 422 and "请选择要上传的文件" in response.get_data(as_text=True)
    assert site.browser.post(IMPORT_URL, {}, htmx=False).status_code == 422
    assert site.browser.get(HISTORY_URL).status_code == 404
    assert site.browser.get(HISTORY_URL + "?merchant_id=1&sku_key=" + "x" * 300).status_code == 404
    assert site.prices() == []


def test_other_supplier_cannot_see_or_set(site, factory, make_browser):
    site.assign("SECRET-SKU", goods_name="秘密商品")
    site.set("SECRET-SKU", "10")
    stranger_user = factory.supplier(factory_name="别家工厂")
    other_merchant = factory.merchant(shop_name="别家商家")
    with site.ctx():
        bind(other_merchant, stranger_user)
        assign(other_merchant, stranger_user, "THEIRS")
    stranger = make_browser()
    stranger.login(stranger_user.username)

    html = stranger.get(LIST_URL).get_data(as_text=True)
    assert "SECRET-SKU" not in html and "秘密商品" not in html and "THEIRS" in html
    export = stranger.get(EXPORT_URL).get_data(as_text=True)
    assert "SECRET-SKU" not in export and site.merchant_user.shop_id not in export
    url = f"{HISTORY_URL}?merchant_id={site.merchant_id()}&sku_key=SECRET-SKU"
    assert stranger.get(url, htmx=True, target="price-drawer").status_code == 404
    assert stranger.get(url).status_code == 404
    data = {"merchant_id": str(site.merchant_id()), "sku_key": "SECRET-SKU", "price": "1"}
    assert stranger.post(SET_URL, data, target=site.row_id("SECRET-SKU")).status_code == 404
    content = csv_bytes(
        [["商家店铺ID", "SKU键", "结算价(元)"], [site.merchant_user.shop_id, "SECRET-SKU", "1"]]
    )
    response = stranger.post(
        IMPORT_URL, {"file": (io.BytesIO(content), "p.csv")}, target="price-import"
    )
    assert response.status_code == 200 and "未与该商家绑定" in response.get_data(as_text=True)
    assert site.prices() == [("SECRET-SKU", 1000)]

    # The merchant is not a supplier: the pages are closed to it.
    merchant = make_browser()
    merchant.login(site.merchant_user.username)
    assert merchant.get(LIST_URL).status_code == 403


def _statements(site: Site, url: str) -> int:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    with site.ctx():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = site.browser.get(url)
        assert response.status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_list_page_queries_do_not_grow_with_the_rows(site):
    site.assign("FIRST", 2)
    site.set("FIRST", "1")
    few = _statements(site, LIST_URL)
    with site.ctx():
        merchant, supplier = merchant_of(site.merchant_user), supplier_of(site.supplier_user)
        order_nos = [f"261121-9{n:014d}" for n in range(40)]
        upsert_orders(
            current_keyring(),
            merchant,
            [demo_order(no, sku_code=f"SKU-{n:02d}") for n, no in enumerate(order_nos)],
        )
        assert len(allocation.assign_orders(merchant, order_nos, supplier, None).done) == 40
        db.session.commit()
    for sku in ("SKU-00", "SKU-01", "SKU-02"):
        site.set(sku, "2")
    many = _statements(site, LIST_URL)
    assert many == few and many <= 10, (few, many)
    assert _statements(site, f"{LIST_URL}?page=2") <= many
    with site.ctx():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 42


def test_every_sku_of_a_multi_item_order_is_on_the_price_list_and_can_be_priced(pair):
    pillow = ImportedLine("3000000001", "记忆棉枕头", "单只装", "", "PIL-1", "", 3)
    pair.assign("BLK-150-GRY", more_lines=(pillow,))
    missing = {r.sku_key for r in pair.rows(missing_only=True)}
    assert missing == {"BLK-150-GRY", "PIL-1"}
    assert prices.missing_count(pair.supplier) == 2
    # a SKU found only on the order's second line is known: its price is taken
    assert pair.set("PIL-1", "4.50").created
    assert {r.sku_key for r in pair.rows(missing_only=True)} == {"BLK-150-GRY"}


def test_a_sku_only_on_later_lines_is_named_by_its_own_line_and_counted_per_order(site):
    """A SKU that only ever appears on line 2+ is listed with that line's goods and spec (not
    the goods of line 1 of the latest order), and counted once per order that holds it."""
    pillow = ImportedLine("3000000001", "记忆棉枕头", "单只装", "", "PIL-1", "", 1)
    cup = ImportedLine("3000000002", "陶瓷马克杯", "白色", "", "CUP-9", "", 1)
    site.assign("BLK-150-GRY", goods_name="珊瑚绒毛毯", spec="灰色", more_lines=(pillow,))
    # The latest order: line 1 is another product, the pillow on lines 2 and 3.
    site.assign("TWL-7", goods_name="纯棉浴巾", spec="蓝色", more_lines=(cup, pillow, pillow))
    # The pillow on line 1 and again on line 2 of one order: still one order.
    site.assign("PIL-1", goods_name="记忆棉枕头", spec="单只装", more_lines=(pillow,))
    with site.ctx():
        pair = Pair(site.merchant_user, site.supplier_user)
        rows = {r.sku_key: r for r in pair.rows()}
        assert {sku: (r.goods_name, r.spec, r.order_count) for sku, r in rows.items()} == {
            "BLK-150-GRY": ("珊瑚绒毛毯", "灰色", 1),
            "TWL-7": ("纯棉浴巾", "蓝色", 1),
            "PIL-1": ("记忆棉枕头", "单只装", 3),
            "CUP-9": ("陶瓷马克杯", "白色", 1),
        }
        assert (rows["CUP-9"].sku_code, rows["CUP-9"].goods_id) == ("CUP-9", "3000000002")
        # Searching by the later line's goods finds its SKU, not line 1's.
        assert [r.sku_key for r in pair.rows(q="马克杯")] == ["CUP-9"]
        assert [r.sku_key for r in pair.rows(q="浴巾")] == ["TWL-7"]
        assert prices.missing_count(pair.supplier) == 4
    html = site.browser.get(LIST_URL + "?q=CUP-9").get_data(as_text=True)
    assert "陶瓷马克杯" in html and "纯棉浴巾" not in html


@pytest.mark.fresh_tables
def test_the_list_reads_later_lines_of_multi_item_orders_only(pair):
    """Later lines are looked for among the supplier's orders with several lines, through their
    partial index, never by reading every order row of the supplier."""
    connection = db.session.connection()
    sqlite = db.engine.dialect.name == "sqlite"
    if not sqlite:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    query = prices.price_rows(pair.supplier).limit(50)
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    plan = " ".join(str(row) for row in connection.exec_driver_sql(explain + str(compiled)))
    if sqlite:
        assert "ix_orders_supplier_several_lines" in plan, plan
        assert "ix_orders_supplier_merchant_returned" not in plan, plan
    else:  # empty tables: the costs of the (empty) partial indexes tie
        assert "Seq Scan on orders" not in plan, plan
    db.session.rollback()

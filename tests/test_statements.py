"""Statements: what a statement covers and how it is priced, the rate limit, builds and review."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from portal.domain import allocation, bindings
from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError
from portal.domain.imports.platform_export import ImportedLine
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.statements import build as statement_build
from portal.domain.statements import clock as statement_clock
from portal.domain.statements import files as statement_files
from portal.domain.statements import queries as statement_queries
from portal.domain.statements import requesting as statement_requesting
from portal.domain.statements import review as statement_review
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.jobs import queue
from portal.models import Merchant, Order, Price, Statement, StatementLine, Supplier, User
from portal.models.settlement import (
    REVIEW_CONFIRMED,
    REVIEW_DISPUTED,
    REVIEW_PENDING,
    REVIEW_SETTLED,
    STATEMENT_FAILED,
    STATEMENT_QUEUED,
    STATEMENT_READY,
)
from tests.factories import demo_order


def shanghai(*args: int) -> datetime:
    """An Asia/Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC) - timedelta(hours=8)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Pair:
    def __init__(self, merchant: Merchant, supplier: Supplier, m_actor: User, s_actor: User):
        self.merchant, self.supplier = merchant, supplier
        self.m_actor, self.s_actor = m_actor, s_actor
        self.count = 0

    def returned_order(
        self,
        returned_at: datetime,
        sku: str = "BLK-150-GRY",
        quantity: int = 2,
        more_lines: tuple[ImportedLine, ...] = (),
    ) -> str:
        """An order assigned to the supplier whose tracking came back at `returned_at`."""
        self.count += 1
        order_no = f"261121-{self.supplier.id:04d}{self.count:011d}"
        upsert_orders(
            current_keyring(),
            self.merchant,
            [demo_order(order_no, sku_code=sku, quantity=quantity, more_lines=more_lines)],
        )
        assert allocation.assign_orders(self.merchant, [order_no], self.supplier, None).done
        number = f"SF{self.supplier.id:03d}{self.count:010d}"
        assert return_tracking(self.supplier, [TrackingItem(order_no, "SF", number)], None).returned
        db.session.execute(
            update(Order).where(Order.order_no == order_no).values(returned_at=returned_at)
        )
        db.session.commit()
        return order_no

    def price(self, sku: str, yuan_fen: int, effective_from: datetime) -> None:
        db.session.add(
            Price(
                supplier_id=self.supplier.id,
                merchant_id=self.merchant.id,
                sku_key=sku,
                price_fen=yuan_fen,
                effective_from=effective_from,
            )
        )
        db.session.commit()

    def request(self, start: date, end: date, now: datetime | None = None) -> Statement:
        statement = statement_requesting.request_statement(
            self.merchant, self.supplier.id, start, end, self.m_actor, now
        )
        db.session.commit()
        return statement


@pytest.fixture
def clock(app):
    value = Clock(shanghai(2026, 11, 21, 9, 0))
    app.config["CLOCK"] = value
    return value


@pytest.fixture
def pair(app_ctx, factory, clock):
    m_user, s_user = factory.merchant(), factory.supplier()
    merchant = db.session.get(Merchant, m_user.merchant.id)
    supplier = db.session.get(Supplier, s_user.supplier.id)
    bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
    db.session.commit()
    actors = db.session.get(User, m_user.id), db.session.get(User, s_user.id)
    db.session.commit()  # no transaction left open: tests create more users
    return Pair(merchant, supplier, *actors)


def build(statement: Statement) -> Statement:
    statement_build.build_statement(statement.id)
    db.session.expire_all()
    return db.session.get(Statement, statement.id)


def lines(statement: Statement) -> dict[str, StatementLine]:
    return {line.order_no: line for line in statement_queries.iter_lines(statement, batch=2)}


# --- content ---------------------------------------------------------------------------------


def test_statement_covers_the_period_in_shanghai_dates(pair):
    before = pair.returned_order(shanghai(2026, 11, 19, 23, 59, 59))
    first = pair.returned_order(shanghai(2026, 11, 20, 0, 0))
    last = pair.returned_order(shanghai(2026, 11, 20, 23, 59, 59))
    after = pair.returned_order(shanghai(2026, 11, 21, 0, 0))
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    assert statement.status == STATEMENT_READY
    assert set(lines(statement)) == {first, last}
    assert statement.line_count == 2
    assert before not in lines(statement) and after not in lines(statement)


def test_only_this_suppliers_returned_orders_of_this_merchant(pair, factory):
    mine = pair.returned_order(shanghai(2026, 11, 20, 10, 0))
    # Assigned but not returned: not on the statement.
    upsert_orders(current_keyring(), pair.merchant, [demo_order("261121-777700000000001")])
    allocation.assign_orders(pair.merchant, ["261121-777700000000001"], pair.supplier, None)
    db.session.commit()
    # Another supplier of the same merchant, same day.
    other_user = factory.supplier()
    other = db.session.get(Supplier, other_user.supplier.id)
    bindings.accept_binding(other, bindings.apply_for_binding(pair.merchant, other_user.shop_id).id)
    db.session.commit()
    Pair(pair.merchant, other, pair.m_actor, pair.s_actor).returned_order(
        shanghai(2026, 11, 20, 11, 0)
    )
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    assert set(lines(statement)) == {mine}


def test_lines_take_the_price_in_force_when_tracking_was_returned(pair):
    pair.price("BLK-150-GRY", 1000, shanghai(2026, 11, 1, 0, 0))
    pair.price("BLK-150-GRY", 1250, shanghai(2026, 11, 20, 12, 0))
    early = pair.returned_order(shanghai(2026, 11, 20, 11, 59), quantity=2)
    late = pair.returned_order(shanghai(2026, 11, 20, 12, 0), quantity=3)
    unpriced = pair.returned_order(shanghai(2026, 11, 20, 13, 0), sku="NEW-SKU", quantity=1)
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    got = lines(statement)
    assert (got[early].unit_price_fen, got[early].amount_fen) == (1000, 2000)
    assert (got[late].unit_price_fen, got[late].amount_fen) == (1250, 3750)
    assert (got[unpriced].unit_price_fen, got[unpriced].amount_fen) == (None, None)
    assert statement.total_fen == 5750
    assert statement.missing_price_count == 1
    assert statement.quantity_total == 6
    assert got[early].tracking_nos.startswith("SF")


def test_a_multi_item_order_has_a_statement_line_per_item_at_its_skus_price(pair):
    pair.price("BLK-150-GRY", 1000, shanghai(2026, 11, 1, 0, 0))
    pair.price("PIL-1", 450, shanghai(2026, 11, 1, 0, 0))
    pillow = ImportedLine("3000000001", "记忆棉枕头", "单只装", "", "PIL-1", "", 3)
    order_no = pair.returned_order(shanghai(2026, 11, 20, 10, 0), more_lines=(pillow,))
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    got = list(statement_queries.iter_lines(statement))
    assert [(g.order_no, g.sku_key, g.quantity, g.unit_price_fen, g.amount_fen) for g in got] == [
        (order_no, "BLK-150-GRY", 2, 1000, 2000),
        (order_no, "PIL-1", 3, 450, 1350),
    ]
    assert [g.order_amount_fen for g in got] == [3350, 3350]
    assert (statement.line_count, statement.total_fen, statement.quantity_total) == (2, 3350, 5)
    rows = csv_rows(statement)
    assert rows[0][-1] == "订单合计(元)" and [r[-1] for r in rows[1:3]] == ["33.50", "33.50"]


def test_a_price_set_after_the_return_does_not_apply(pair):
    order = pair.returned_order(shanghai(2026, 11, 20, 10, 0))
    pair.price("BLK-150-GRY", 900, shanghai(2026, 11, 20, 10, 1))
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    assert lines(statement)[order].unit_price_fen is None
    assert statement.missing_price_count == 1


def test_a_rebuild_never_duplicates_lines(pair):
    for minute in range(5):
        pair.returned_order(shanghai(2026, 11, 20, 10, minute))
    statement = pair.request(date(2026, 11, 20), date(2026, 11, 20))
    # A crashed attempt: claimed, half the lines written and committed, then nothing.
    token = statement_build._claim(statement.id)
    assert token is not None
    statement_build.BUILD_BATCH, saved = 2, statement_build.BUILD_BATCH
    try:
        original = statement_build._still_ours
        calls = {"n": 0}

        def crash_after_first_batch(statement_id, token, **values):
            calls["n"] += 1
            original(statement_id, token, **values)
            if calls["n"] == 2:
                db.session.commit()
                raise KeyboardInterrupt  # the process dies; nothing else runs

        statement_build._still_ours = crash_after_first_batch
        with pytest.raises(KeyboardInterrupt):
            statement_build._build(db.session.get(Statement, statement.id), token)
    finally:
        statement_build._still_ours = original
        statement_build.BUILD_BATCH = saved
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(StatementLine)) == 2
    # The sweeper finds it stale (no heartbeat for minutes) and queues it again.
    requeued = statement_build.requeue_stale_statements(
        statement_clock.now_utc() + timedelta(minutes=5)
    )
    assert requeued == [statement.id]
    db.session.commit()  # the worker below needs the SQLite write lock
    assert queue.run_pending() >= 1
    done = db.session.get(Statement, statement.id)
    db.session.refresh(done)
    assert done.status == STATEMENT_READY and done.line_count == 5
    assert db.session.scalar(select(func.count()).select_from(StatementLine)) == 5
    assert done.attempts == 2
    # A duplicate queue message for a built statement does nothing.
    statement_build.build_statement(statement.id)
    assert db.session.scalar(select(func.count()).select_from(StatementLine)) == 5


# --- rate limit ------------------------------------------------------------------------------


def test_fourth_of_a_day_is_refused_until_midnight(pair, clock):
    for _ in range(3):
        pair.request(date(2026, 11, 1), date(2026, 11, 20))
        clock.advance(minutes=11)
    with pytest.raises(DomainError) as refused:
        pair.request(date(2026, 11, 1), date(2026, 11, 20))
    db.session.rollback()
    assert refused.value.code == "statement_rate_limited"
    assert refused.value.details["limit"] == "daily"
    assert refused.value.details["next_allowed_at"] == shanghai(2026, 11, 22, 0, 0).isoformat()
    assert refused.value.status == 429
    assert "每天最多 3 份" in refused.value.message
    clock.now = shanghai(2026, 11, 22, 0, 0)
    assert pair.request(date(2026, 11, 1), date(2026, 11, 21)).slot == 1


def test_second_within_ten_minutes_is_refused_with_retry_after(pair, clock):
    pair.request(date(2026, 11, 1), date(2026, 11, 20))
    clock.advance(minutes=9, seconds=30)
    with pytest.raises(DomainError) as refused:
        pair.request(date(2026, 11, 1), date(2026, 11, 20))
    db.session.rollback()
    assert refused.value.details["limit"] == "interval"
    assert refused.value.details["retry_after"] == 30
    assert "间隔 10 分钟" in refused.value.message
    clock.advance(seconds=30)
    assert pair.request(date(2026, 11, 1), date(2026, 11, 20)).slot == 2


def test_ten_minutes_also_hold_across_midnight(pair, clock):
    clock.now = shanghai(2026, 11, 21, 23, 55)
    pair.request(date(2026, 11, 1), date(2026, 11, 21))
    clock.now = shanghai(2026, 11, 22, 0, 2)
    with pytest.raises(DomainError) as refused:
        pair.request(date(2026, 11, 1), date(2026, 11, 21))
    db.session.rollback()
    assert refused.value.details["limit"] == "interval"
    clock.now = shanghai(2026, 11, 22, 0, 5)
    statement = pair.request(date(2026, 11, 1), date(2026, 11, 21))
    assert (statement.day, statement.slot) == (date(2026, 11, 22), 1)


def test_the_limit_is_per_pair(pair, factory, clock):
    other_user = factory.supplier()
    other = db.session.get(Supplier, other_user.supplier.id)
    bindings.accept_binding(other, bindings.apply_for_binding(pair.merchant, other_user.shop_id).id)
    db.session.commit()
    pair.request(date(2026, 11, 1), date(2026, 11, 20))
    second = statement_requesting.request_statement(
        pair.merchant, other.id, date(2026, 11, 1), date(2026, 11, 20), None
    )
    assert second.slot == 1


def test_a_failed_build_frees_its_slot(pair, clock, monkeypatch):
    for _ in range(2):
        pair.request(date(2026, 11, 1), date(2026, 11, 20))
        clock.advance(minutes=11)
    third = pair.request(date(2026, 11, 1), date(2026, 11, 20))

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(statement_build, "PriceBook", broken)
    failed = build(third)
    assert failed.status == STATEMENT_FAILED and failed.slot is None
    assert "可重试" in failed.error
    monkeypatch.undo()
    clock.advance(minutes=1)  # a failed request does not start the 10 minutes either
    retried = statement_requesting.retry_statement(pair.merchant, failed, pair.m_actor)
    db.session.commit()
    assert (retried.status, retried.slot) == (STATEMENT_QUEUED, 3)
    assert build(retried).status == STATEMENT_READY


def test_retry_needs_a_free_slot(pair, clock, monkeypatch):
    first = pair.request(date(2026, 11, 1), date(2026, 11, 20))
    monkeypatch.setattr(statement_build, "PriceBook", lambda *a: 1 / 0)
    assert build(first).status == STATEMENT_FAILED
    monkeypatch.undo()
    for _ in range(3):
        pair.request(date(2026, 11, 1), date(2026, 11, 20))
        clock.advance(minutes=10)
    with pytest.raises(DomainError) as refused:
        statement_requesting.retry_statement(
            pair.merchant, db.session.get(Statement, first.id), None
        )
    assert refused.value.details["limit"] == "daily"


def test_only_bound_suppliers_and_sane_periods(pair, factory, clock):
    stranger = factory.supplier()
    with pytest.raises(DomainError) as refused:
        statement_requesting.request_statement(
            pair.merchant, stranger.supplier.id, date(2026, 11, 1), date(2026, 11, 2), None
        )
    assert refused.value.code == "not_bound"
    for start, end in ((None, date(2026, 11, 2)), (date(2025, 1, 1), date(2026, 11, 2))):
        with pytest.raises(DomainError) as refused:
            pair.request(start, end)
        assert refused.value.code == "invalid_period"
    with pytest.raises(DomainError):
        pair.request(date(2026, 11, 22), date(2026, 11, 23))  # starts tomorrow
    # Reversed dates are swapped, not refused.
    statement = pair.request(date(2026, 11, 20), date(2026, 11, 1))
    assert (statement.period_start, statement.period_end) == (date(2026, 11, 1), date(2026, 11, 20))


def test_an_ended_binding_still_allows_a_statement(pair):
    binding = bindings.bindings_for_merchant(pair.merchant)[0]
    bindings.end_binding(binding, "merchant")
    db.session.commit()
    assert pair.request(date(2026, 11, 1), date(2026, 11, 20)).status == STATEMENT_QUEUED


# --- review ----------------------------------------------------------------------------------


def test_review_confirm_dispute_settle(pair):
    pair.returned_order(shanghai(2026, 11, 20, 10, 0))
    statement = pair.request(date(2026, 11, 20), date(2026, 11, 20))
    with pytest.raises(DomainError) as refused:
        statement_review.confirm_statement(pair.supplier, statement, pair.s_actor)
    assert refused.value.code == "statement_not_ready"
    statement = build(statement)
    with pytest.raises(DomainError) as refused:
        statement_review.dispute_statement(pair.supplier, statement, "   ", pair.s_actor)
    assert refused.value.code == "dispute_reason_required"
    statement_review.dispute_statement(pair.supplier, statement, "第 3 行单价不对", pair.s_actor)
    assert (statement.review_status, statement.dispute_reason) == (
        REVIEW_DISPUTED,
        "第 3 行单价不对",
    )
    with pytest.raises(DomainError) as refused:
        statement_review.settle_statement(pair.merchant, statement, pair.m_actor)
    assert refused.value.code == "statement_not_confirmed"
    statement_review.confirm_statement(pair.supplier, statement, pair.s_actor)
    assert statement.review_status == REVIEW_CONFIRMED
    statement_review.settle_statement(pair.merchant, statement, pair.m_actor)
    assert statement.review_status == REVIEW_SETTLED
    with pytest.raises(DomainError):
        statement_review.dispute_statement(pair.supplier, statement, "晚了", pair.s_actor)
    db.session.commit()
    kinds = [e.kind for e in statement_queries.statement_events(statement)]
    assert kinds == ["requested", "built", "disputed", "confirmed", "settled"]


def test_statements_are_scoped_to_their_pair(pair, factory):
    other_merchant_id = factory.merchant().merchant.id
    other_supplier_id = factory.supplier().supplier.id
    statement = pair.request(date(2026, 11, 1), date(2026, 11, 20))
    other_merchant = db.session.get(Merchant, other_merchant_id)
    other_supplier = db.session.get(Supplier, other_supplier_id)
    with pytest.raises(DomainError):
        get_or_404(Statement, other_merchant, id=statement.id)
    with pytest.raises(DomainError):
        get_or_404(Statement, other_supplier, id=statement.id)
    assert get_or_404(Statement, pair.supplier, id=statement.id) is statement


# --- files -----------------------------------------------------------------------------------


def test_csv_and_xlsx_agree_cell_for_cell(pair):
    import csv
    import io

    from openpyxl import load_workbook

    pair.price("BLK-150-GRY", 1999, shanghai(2026, 11, 1, 0, 0))
    pair.returned_order(shanghai(2026, 11, 20, 10, 0), quantity=3)
    pair.returned_order(shanghai(2026, 11, 20, 11, 0), sku="=HYPERLINK(1)", quantity=1)
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    text = "".join(statement_files.statement_csv(statement))
    assert text.startswith("\ufeff")
    from_csv = list(csv.reader(io.StringIO(text[1:])))
    target = io.BytesIO()
    statement_files.statement_xlsx(statement, target)
    sheet = load_workbook(io.BytesIO(target.getvalue()), read_only=True).active
    cells = list(sheet.iter_rows())
    # Amounts are numbers shown with two decimals (SUM works), "59.97" in the CSV.
    from_xlsx = [
        [
            ""
            if c.value is None
            else f"{c.value:.2f}"
            if c.number_format == "0.00"
            else str(c.value)
            for c in row
        ]
        for row in cells
    ]
    assert from_csv == from_xlsx
    amounts = [row[6].value for row in cells[1:]]
    assert all(isinstance(a, int | float) for a in amounts if a != "")
    assert amounts[-1] == pytest.approx(sum(a for a in amounts[:-1] if a != ""))
    header, first, second, totals = from_csv
    assert header[0] == "订单号" and len(from_csv) == 4
    assert (first[4], first[5], first[6], first[7]) == ("3", "19.99", "59.97", "顺丰速运")
    assert second[3] == "'=HYPERLINK(1)"  # a formula from the data stays text
    assert second[5] == "" and second[10] == "缺少结算价"
    assert totals[0] == "合计" and totals[4] == "4" and totals[6] == "59.97"
    assert "1 行缺少结算价" in totals[10]


# --- paid once: settle only confirmed, overlapping statements, the dispute flow ---------------


def csv_rows(statement: Statement) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO("".join(statement_files.statement_csv(statement))[1:])))


def test_only_a_confirmed_statement_can_be_settled(pair):
    pair.returned_order(shanghai(2026, 11, 20, 10, 0))
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    with pytest.raises(DomainError) as refused:
        statement_review.settle_statement(pair.merchant, statement, pair.m_actor)
    assert refused.value.code == "statement_not_confirmed" and refused.value.status == 409
    assert statement.review_status == REVIEW_PENDING
    statement_review.confirm_statement(pair.supplier, statement, pair.s_actor)
    statement_review.settle_statement(pair.merchant, statement, pair.m_actor)
    assert statement.review_status == REVIEW_SETTLED


def test_an_overlapping_statement_lists_lines_already_billed_outside_its_total(pair, clock):
    pair.price("BLK-150-GRY", 1000, shanghai(2026, 11, 1, 0, 0))
    first_orders = [
        pair.returned_order(shanghai(2026, 11, 18, 10, 0)),
        pair.returned_order(shanghai(2026, 11, 20, 10, 0)),
    ]
    first = build(pair.request(date(2026, 11, 18), date(2026, 11, 20)))
    assert (first.line_count, first.total_fen) == (2, 4000)
    statement_review.confirm_statement(pair.supplier, first, pair.s_actor)
    statement_review.settle_statement(pair.merchant, first, pair.m_actor)
    db.session.commit()

    new_order = pair.returned_order(shanghai(2026, 11, 20, 23, 0))
    clock.advance(minutes=11)
    second = build(pair.request(date(2026, 11, 15), date(2026, 11, 21)))
    assert (second.line_count, second.already_billed_count) == (3, 2)
    assert (second.total_fen, second.quantity_total, second.missing_price_count) == (2000, 2, 0)
    by_order = lines(second)
    assert {n: by_order[n].already_in_statement_id for n in first_orders} == dict.fromkeys(
        first_orders, first.id
    )
    assert by_order[new_order].already_in_statement_id is None
    rows = {row[0]: row for row in csv_rows(second)}
    for number in first_orders:
        assert rows[number][6] == "" and rows[number][10] == f"已在对账单 #{first.id}，不计入合计"
    assert rows[new_order][6] == "20.00"
    assert rows["合计"][6] == "20.00" and "2 行已在其他对账单中" in rows["合计"][10]
    # The first statement is unchanged, and the second can be confirmed and paid.
    assert lines(first)[first_orders[0]].already_in_statement_id is None
    statement_review.confirm_statement(pair.supplier, second, pair.s_actor)
    statement_review.settle_statement(pair.merchant, second, pair.m_actor)


def test_of_two_overlapping_statements_only_one_can_be_confirmed_until_rebuilt(pair, clock):
    pair.price("BLK-150-GRY", 1000, shanghai(2026, 11, 1, 0, 0))
    pair.returned_order(shanghai(2026, 11, 20, 10, 0))
    first = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    clock.advance(minutes=11)
    second = build(pair.request(date(2026, 11, 19), date(2026, 11, 20)))
    assert first.total_fen == second.total_fen == 2000  # neither was confirmed when built
    statement_review.confirm_statement(pair.supplier, first, pair.s_actor)
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        statement_review.confirm_statement(pair.supplier, second, pair.s_actor)
    assert refused.value.code == "statement_overlaps" and refused.value.status == 409
    assert refused.value.details["statement_id"] == first.id
    assert f"#{first.id}" in refused.value.message
    db.session.rollback()
    clock.advance(minutes=11)
    statement_requesting.regenerate_statement(pair.merchant, second, pair.m_actor)
    db.session.commit()
    second = build(second)
    assert (second.total_fen, second.already_billed_count) == (0, 1)
    statement_review.confirm_statement(pair.supplier, second, pair.s_actor)
    assert second.review_status == REVIEW_CONFIRMED


def test_an_overlap_refusal_counts_orders_not_lines(pair, clock):
    """Statements have a line per order line: the refusal says how many orders, not how many
    pairs of lines matched (an order of two items once, not 2 × 2 times)."""
    pair.price("BLK-150-GRY", 1000, shanghai(2026, 11, 1, 0, 0))
    pillow = ImportedLine("3000000001", "记忆棉枕头", "单只装", "", "PIL-1", "", 3)
    pair.returned_order(shanghai(2026, 11, 20, 10, 0), more_lines=(pillow,))
    pair.returned_order(shanghai(2026, 11, 20, 11, 0))
    first = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    clock.advance(minutes=11)
    second = build(pair.request(date(2026, 11, 19), date(2026, 11, 20)))
    assert first.line_count == second.line_count == 3
    statement_review.confirm_statement(pair.supplier, first, pair.s_actor)
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        statement_review.confirm_statement(pair.supplier, second, pair.s_actor)
    assert refused.value.code == "statement_overlaps"
    assert f"其中 2 单已计入已确认的对账单 #{first.id}" in refused.value.message


def test_a_dispute_is_answered_corrected_and_confirmed_again(pair, clock):
    pair.price("BLK-150-GRY", 1000, shanghai(2026, 11, 1, 0, 0))
    pair.returned_order(shanghai(2026, 11, 20, 10, 0))
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    statement_review.dispute_statement(pair.supplier, statement, "运费没算", pair.s_actor)
    # The merchant answers: back to the factory.
    with pytest.raises(DomainError) as refused:
        statement_review.answer_dispute(pair.merchant, statement, "  ", pair.m_actor)
    assert refused.value.code == "answer_required"
    statement_review.answer_dispute(pair.merchant, statement, "运费按合同由我方承担", pair.m_actor)
    assert statement.review_status == REVIEW_PENDING
    # Disputed again, corrected with an adjustment line: the amount due includes it.
    statement_review.dispute_statement(pair.supplier, statement, "还是少了 3 元", pair.s_actor)
    # "1,2" is not 12 yuan (a comma groups thousands, by three); 30 digits are refused, not a crash.
    for bad in ("", "0", "abc", "1.234", "-", "1,2", "--3", "9" * 30, "1e3", "0.00"):
        with pytest.raises(DomainError) as refused:
            statement_review.parse_adjustment(bad)
        assert refused.value.code == "invalid_adjustment", bad
    assert statement_review.parse_adjustment(" -2.5 ") == -250
    assert statement_review.parse_adjustment("＋３元") == 300
    assert statement_review.parse_adjustment("¥-1,250.5") == -125050
    assert statement_review.parse_adjustment("\u22123") == -300  # a typographic minus
    statement_review.add_adjustment(pair.merchant, statement, 300, "补运费", pair.m_actor)
    db.session.commit()
    assert (statement.review_status, statement.total_fen, statement.adjustment_fen) == (
        REVIEW_PENDING,
        2300,
        300,
    )
    rows = csv_rows(statement)
    assert rows[-2][0] == "调整" and rows[-2][1] == "补运费" and rows[-2][6] == "3.00"
    assert rows[-1][6] == "23.00"
    # Regenerate (after new prices): under the 10-minute rule, the adjustment stays.
    with pytest.raises(DomainError) as refused:
        statement_requesting.regenerate_statement(pair.merchant, statement, pair.m_actor)
    assert refused.value.code == "statement_rate_limited"
    db.session.rollback()
    pair.price("BLK-150-GRY", 1100, shanghai(2026, 11, 2, 0, 0))
    clock.advance(minutes=10)
    statement_requesting.regenerate_statement(pair.merchant, statement, pair.m_actor)
    db.session.commit()
    assert (statement.status, statement.review_status) == (STATEMENT_QUEUED, REVIEW_PENDING)
    statement = build(statement)
    assert statement.total_fen == 2200 + 300
    statement_review.confirm_statement(pair.supplier, statement, pair.s_actor)
    # Confirmed: no more dispute, adjustment or rebuild; it can be settled.
    for refuse in (
        lambda: statement_review.dispute_statement(
            pair.supplier, statement, "再看看", pair.s_actor
        ),
        lambda: statement_review.add_adjustment(pair.merchant, statement, 100, "x", pair.m_actor),
        lambda: statement_requesting.regenerate_statement(pair.merchant, statement, pair.m_actor),
        lambda: statement_review.answer_dispute(pair.merchant, statement, "x", pair.m_actor),
    ):
        with pytest.raises(DomainError) as refused:
            refuse()
        assert refused.value.code == "statement_review_closed"
    statement_review.settle_statement(pair.merchant, statement, pair.m_actor)
    db.session.commit()
    kinds = [e.kind for e in statement_queries.statement_events(statement)]
    assert kinds == [
        "requested",
        "built",
        "disputed",
        "answered",
        "disputed",
        "adjusted",
        "regenerated",
        "built",
        "confirmed",
        "settled",
    ]

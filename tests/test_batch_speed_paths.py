"""The fast paths of the batch operations and of statements write and read exactly what the
slower ORM paths did: Core executemany inserts (one statement per batch, every column as
before), statement lines read as plain rows, and the XLSX written by XlsxWriter cell by type."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, func, select

from portal.domain import allocation
from portal.domain.couriers import platform_courier_name
from portal.domain.dispatch import dispatch_orders
from portal.domain.statements import files as statement_files
from portal.domain.statements import queries as statement_queries
from portal.extensions import db
from portal.models import Assignment, Order, OrderEvent, StatementLine
from portal.models.orders import (
    ASSIGNMENT_ACTIVE,
    ASSIGNMENT_CANCELLED,
    CANCEL_MANUAL,
    EVENT_ASSIGNED,
    EVENT_ASSIGNMENT_CANCELLED,
    EVENT_DISPATCHED,
)
from tests.test_dispatch import add_address, import_orders, order_no, returned
from tests.test_order_rules import Shop, bound_shop
from tests.test_statements import Pair, build, shanghai

# fixtures, re-exported so that pytest finds them here (`pair` needs `clock`)
from tests.test_statements import clock as clock
from tests.test_statements import pair as pair


@pytest.fixture
def shop(app_ctx: Any, factory: Any) -> Shop:
    return bound_shop(factory)


@contextmanager
def inserts_into(table: str) -> Iterator[list[bool]]:
    """The INSERTs sent for `table` while the block runs: one bool (executemany?) each."""
    seen: list[bool] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()} "):
            seen.append(executemany)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def one_bulk_insert() -> bool:
    """How extensions.insert_rows sends its rows: one executemany on SQLite, one INSERT …
    SELECT FROM unnest(arrays) (not an executemany) on PostgreSQL."""
    return db.engine.dialect.name != "postgresql"


def events(kind: str) -> list[OrderEvent]:
    return list(
        db.session.scalars(
            select(OrderEvent).where(OrderEvent.kind == kind).order_by(OrderEvent.id)
        )
    )


# --- assign, cancel, dispatch: Core inserts ----------------------------------------------------


def test_assign_inserts_assignments_and_events_in_one_statement_each(shop: Shop) -> None:
    numbers = [order_no(i) for i in range(3)]
    import_orders(shop, numbers)
    with inserts_into("assignments") as assignment_inserts, inserts_into("order_events") as ev:
        result = allocation.assign_orders(shop.merchant, numbers, shop.supplier, shop.actor)
        db.session.commit()
    assert sorted(result.done) == numbers
    # One INSERT … SELECT each (per chunk of 900): the rows are copied from the orders by the
    # database, none is sent from Python.
    assert assignment_inserts == [False] and ev == [False]
    orders = {o.id: o for o in db.session.scalars(select(Order).where(Order.order_no.in_(numbers)))}
    assignments = db.session.scalars(select(Assignment).order_by(Assignment.id)).all()
    assert sorted(a.order_id for a in assignments) == sorted(orders)
    for assignment in assignments:
        order = orders[assignment.order_id]
        assert (assignment.merchant_id, assignment.supplier_id) == (
            shop.merchant.id,
            shop.supplier.id,
        )
        assert assignment.status == ASSIGNMENT_ACTIVE
        assert assignment.assigned_at == order.assigned_at is not None
        assert assignment.assigned_by == shop.actor.id
        assert (assignment.cancelled_at, assignment.cancel_reason, assignment.cancelled_by) == (
            None,
            None,
            None,
        )
    recorded = events(EVENT_ASSIGNED)
    assert sorted(e.order_id for e in recorded) == sorted(orders)
    for item in recorded:
        assert (item.merchant_id, item.supplier_id, item.actor_id) == (
            shop.merchant.id,
            shop.supplier.id,
            shop.actor.id,
        )
        assert (item.reason, item.note) == ("", "")
        assert item.created_at == orders[item.order_id].assigned_at


def test_cancelling_records_the_supplier_each_order_had(shop: Shop) -> None:
    numbers = [order_no(i) for i in range(2)]
    import_orders(shop, numbers)
    assert allocation.assign_orders(shop.merchant, numbers, shop.supplier, shop.actor).done
    db.session.commit()
    with inserts_into("order_events") as ev:
        result = allocation.cancel_assignments(shop.merchant, numbers, shop.actor)
        db.session.commit()
    assert sorted(result.done) == numbers and ev == [one_bulk_insert()]
    cancelled = {
        a.order_id: a
        for a in db.session.scalars(
            select(Assignment).where(Assignment.status == ASSIGNMENT_CANCELLED)
        )
    }
    recorded = events(EVENT_ASSIGNMENT_CANCELLED)
    assert sorted(e.order_id for e in recorded) == sorted(cancelled)
    for item in recorded:
        assert item.supplier_id == shop.supplier.id
        assert (item.reason, item.note, item.actor_id) == (CANCEL_MANUAL, "", shop.actor.id)
        assert item.created_at == cancelled[item.order_id].cancelled_at is not None


def test_recording_no_orders_inserts_nothing(shop: Shop) -> None:
    before = db.session.scalar(select(func.count()).select_from(OrderEvent))
    allocation._record(shop.merchant.id, [], EVENT_ASSIGNED, None, None, "", None)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == before


def test_dispatch_inserts_its_events_in_one_statement(shop: Shop) -> None:
    add_address(shop.merchant, default=True)
    numbers = returned(shop, [order_no(i) for i in range(3)])
    with inserts_into("order_events") as ev:
        result = dispatch_orders(shop.merchant, numbers, shop.actor)
        db.session.commit()
    assert sorted(result.dispatched) == numbers and ev == [one_bulk_insert()]
    orders = {o.id: o for o in db.session.scalars(select(Order).where(Order.order_no.in_(numbers)))}
    recorded = events(EVENT_DISPATCHED)
    assert sorted(e.order_id for e in recorded) == sorted(orders)
    for item in recorded:
        order = orders[item.order_id]
        assert (item.merchant_id, item.supplier_id, item.actor_id, item.reason) == (
            shop.merchant.id,
            shop.supplier.id,
            shop.actor.id,
            "",
        )
        assert item.note == f"{platform_courier_name(order.courier)} {order.tracking_no}"
        assert item.created_at == order.dispatched_at is not None


# --- statements: build inserts, lines as rows, XLSX cells by type ------------------------------


def test_a_build_inserts_each_batch_in_one_statement(app: Any, pair: Pair) -> None:
    app.config["STATEMENT_BATCH_SIZE"] = 2
    pair.price("BLK-150-GRY", 1000, shanghai(2026, 11, 1, 0, 0))
    for index in range(5):  # priced and unpriced lines mixed in every batch
        sku = "BLK-150-GRY" if index % 2 else "NO-PRICE"
        pair.returned_order(shanghai(2026, 11, 20, 10, index), sku=sku)
    statement = pair.request(date(2026, 11, 20), date(2026, 11, 20))
    with inserts_into("statement_lines") as seen:
        statement = build(statement)
    assert len(seen) == 3  # one INSERT per batch: 2 + 2 + 1 lines
    assert (statement.line_count, statement.missing_price_count) == (5, 3)
    assert statement.total_fen == 2 * 1000 * 2


def test_lines_are_read_as_rows_in_order_without_filling_the_session(pair: Pair) -> None:
    numbers = [pair.returned_order(shanghai(2026, 11, 20, 10, i)) for i in range(5)]
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    db.session.expunge_all()
    got = list(statement_queries.iter_lines(statement, batch=2))
    assert [line.order_no for line in got] == numbers
    assert all(line.tracking_nos.startswith("SF") for line in got)
    assert not [obj for obj in db.session.identity_map.values() if isinstance(obj, StatementLine)]


def test_xlsx_cells_keep_their_types_and_stay_formula_safe(pair: Pair) -> None:
    pair.price("BLK-150-GRY", 1999, shanghai(2026, 11, 1, 0, 0))
    pair.returned_order(shanghai(2026, 11, 20, 10, 0), quantity=3)
    pair.returned_order(shanghai(2026, 11, 20, 11, 0), sku="+8613800138000", quantity=1)
    pair.returned_order(shanghai(2026, 11, 20, 12, 0), sku="http://example.com/x", quantity=1)
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    target = io.BytesIO()
    statement_files.statement_xlsx(statement, target)
    workbook = load_workbook(io.BytesIO(target.getvalue()))
    sheet = workbook.active
    assert sheet.title == "对账单" and not sheet.merged_cells.ranges
    rows = list(sheet.iter_rows())
    header, priced, phone, link, totals = rows
    assert header[0].value == "订单号"
    # quantities and money are numbers (SUM works); order numbers and the rest are text
    assert (priced[4].value, priced[4].data_type) == (3, "n")
    assert (priced[5].value, priced[5].data_type) == (19.99, "n")
    assert (priced[6].value, priced[6].data_type) == (59.97, "n")
    assert priced[0].data_type == "s" and priced[0].value.startswith("261121-")
    assert phone[3].value == "'+8613800138000"  # would be a formula: escaped
    assert link[3].value == "http://example.com/x" and link[3].hyperlink is None
    assert (totals[0].value, totals[4].value, totals[4].data_type) == ("合计", 5, "n")
    assert (totals[6].value, totals[6].data_type) == (59.97, "n")

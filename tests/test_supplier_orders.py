"""The factory desk queries: tabs and counts, masked rows only, goods summary, parcel groups."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from portal.domain import allocation, bindings
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.printing.jobs import create_print_job, render_print_job
from portal.domain.supplier_orders import (
    SORT_RECEIVER,
    SupplierFilters,
    deadline_state,
    due_counts,
    find_order_row,
    goods_summary,
    is_cancelled_row,
    order_refs_query,
    orders_query,
    receiver_group_sizes,
    tab_counts,
)
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.models import Merchant, Order, Supplier, User
from tests.factories import demo_order

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
NOS = [f"261121-00000000000001{i}" for i in range(6)]


@pytest.fixture
def desk(app_ctx, factory):
    m_user, s_user = factory.merchant(), factory.supplier()
    merchant = db.session.get(Merchant, m_user.merchant.id)
    supplier = db.session.get(Supplier, s_user.supplier.id)
    bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
    orders = (
        [demo_order(no) for no in NOS[:2]]
        + [  # 0 and 1 share a receiver
            demo_order(
                no,
                receiver_name=f"客户{i}",
                receiver_phone=f"1370000000{i}",
                spec="1.8m床",
                quantity=1,
            )
            for i, no in enumerate(NOS[2:])
        ]
    )
    upsert_orders(current_keyring(), merchant, orders)
    actor = db.session.get(User, m_user.id)
    allocation.assign_orders(merchant, NOS, supplier, actor)
    db.session.commit()
    return merchant, supplier, actor, orders


def _rows(supplier, tab):
    return [
        row._asdict()
        for row in db.session.execute(orders_query(supplier, SupplierFilters(tab=tab), NOW))
    ]


def test_tabs_counts_and_masked_rows(desk):
    merchant, supplier, actor, orders = desk
    job = create_print_job(supplier, NOS[:2], "SF", "100x180", "", None).job
    render_print_job(current_keyring(), supplier, job, None)
    return_tracking(supplier, [TrackingItem(NOS[2], "ZTO", "773000000001")], None)
    allocation.cancel_assignments(merchant, [NOS[3]], actor)
    upsert_orders(
        current_keyring(),
        merchant,
        [replace(orders[4], after_sale_status="退款中", after_sale_active=True)],
    )
    counts = tab_counts(supplier, SupplierFilters(), NOW)
    assert counts == {"to_print": 1, "printed": 2, "returned": 1, "dispatched": 0, "cancelled": 2}
    cancelled = {r["order_no"]: r["cancel_reason"] for r in _rows(supplier, "cancelled")}
    assert cancelled == {NOS[3]: "manual", NOS[4]: "after_sale"}
    printed = _rows(supplier, "printed")
    assert {r["order_no"] for r in printed} == set(NOS[:2])
    row = printed[0]
    assert (
        row["name_mask"] == "张**"
        and row["phone_mask"] == "135****6522"
        and row["detail_mask"] == "****"
    )
    assert not any(key.endswith("_enc") or key == "phone_index" for key in row)
    dump = repr(printed)
    assert "张伟" not in dump and "13577446522" not in dump and "团结路" not in dump


def test_goods_summary_and_receiver_groups(desk):
    _merchant, supplier, _actor, _orders = desk
    summary = {
        (g.spec, g.quantity, g.orders) for g in goods_summary(supplier, SupplierFilters(), NOW)
    }
    assert summary == {("150x200cm 灰色", 4, 2), ("1.8m床", 4, 4)}
    rows = _rows(supplier, "to_print")
    sizes = receiver_group_sizes(supplier, [r["receiver_key"] for r in rows])
    assert sorted(sizes.values()) == [1, 1, 1, 1, 2]


def test_other_supplier_sees_nothing(desk, factory):
    other = db.session.get(Supplier, factory.supplier().supplier.id)
    assert tab_counts(other, SupplierFilters(), NOW) == dict.fromkeys(
        ["to_print", "printed", "returned", "dispatched", "cancelled"], 0
    )
    assert _rows(other, "to_print") == []


def test_group_filter_sort_and_single_rows(desk):
    merchant, supplier, actor, _orders = desk
    rows = _rows(supplier, "to_print")
    key = next(r["receiver_key"] for r in rows if r["order_no"] == NOS[0])
    grouped = db.session.execute(orders_query(supplier, SupplierFilters(group=key), NOW)).all()
    assert sorted(r.order_no for r in grouped) == NOS[:2]
    by_receiver = db.session.execute(
        orders_query(supplier, SupplierFilters(sort=SORT_RECEIVER), NOW)
    ).all()
    keys = [r.receiver_key for r in by_receiver]
    assert keys == sorted(keys)
    refs = db.session.execute(order_refs_query(supplier, SupplierFilters(), NOW)).all()
    assert [no for no, _shop in refs] == [r["order_no"] for r in rows]

    current = find_order_row(supplier, NOS[0])
    assert current.order_no == NOS[0] and not is_cancelled_row(current)
    allocation.cancel_assignments(merchant, [NOS[1]], actor)
    cancelled = find_order_row(supplier, NOS[1])
    assert is_cancelled_row(cancelled) and cancelled.cancel_reason == "manual"
    assert find_order_row(supplier, "261121-999999999999999") is None
    assert not any(key.endswith("_enc") for key in current._fields)


def test_deadlines_and_due_counts(desk):
    _merchant, supplier, _actor, _orders = desk
    for number, hours in zip(NOS, (-3, -1, 2, 11, 13, 40), strict=True):
        db.session.execute(
            update(Order)
            .where(Order.order_no == number)
            .values(promise_ship_at=NOW + timedelta(hours=hours))
        )
    return_tracking(supplier, [TrackingItem(NOS[0], "ZTO", "773000000001")], None)
    assert due_counts(supplier, NOW) == {"overdue": 1, "soon": 2}
    states = {
        r.order_no: deadline_state(r, NOW)
        for r in db.session.execute(orders_query(supplier, SupplierFilters(), NOW))
    }
    assert states == {NOS[1]: "danger", NOS[2]: "warn", NOS[3]: "warn", NOS[4]: "", NOS[5]: ""}
    returned = db.session.execute(orders_query(supplier, SupplierFilters(tab="returned"), NOW))
    assert [deadline_state(r, NOW) for r in returned] == [""]  # returned: the factory is done

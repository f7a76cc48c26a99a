"""Returning tracking numbers: validation, duplicates, same-receiver parcels, cancel-return."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import func, select, update

from portal.domain import allocation, bindings
from portal.domain.errors import DomainError
from portal.domain.imports.tracking_file import open_tracking_file
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.tracking import (
    TrackingItem,
    cancel_return,
    return_tracking,
    return_tracking_file,
    scan_lookup,
    tracking_numbers_for,
)
from portal.extensions import db
from portal.models import Merchant, Order, Parcel, Supplier, User
from tests.factories import demo_order


@pytest.fixture
def desk(app_ctx, factory):
    """A merchant with 4 orders assigned to a bound supplier; orders 1 and 2 share a receiver."""
    m_user, s_user = factory.merchant(), factory.supplier()
    merchant = db.session.get(Merchant, m_user.merchant.id)
    supplier = db.session.get(Supplier, s_user.supplier.id)
    bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
    orders = [
        demo_order("261121-000000000000001"),
        demo_order("261121-000000000000002"),  # same receiver as 1
        demo_order("261121-000000000000003", receiver_name="李娜", receiver_phone="18983526008"),
        demo_order("261121-000000000000004", receiver_name="王芳", receiver_phone="13390668968"),
    ]
    upsert_orders(current_keyring(), merchant, orders)
    actor = db.session.get(User, m_user.id)
    assert (
        len(allocation.assign_orders(merchant, [o.order_no for o in orders], supplier, actor).done)
        == 4
    )
    db.session.commit()
    return merchant, supplier, actor


def _codes(result):
    return {r.order_no[-1]: r.code for r in result.refused}


def test_return_validates_and_refuses_per_item(desk):
    _merchant, supplier, _actor = desk
    result = return_tracking(
        supplier,
        [
            TrackingItem("261121-000000000000001", "顺丰", " sf1234567890123 "),
            TrackingItem("261121-000000000000003", "火星快递", "SF1234567890999"),
            TrackingItem("261121-000000000000004", "SF", "12/34"),
            TrackingItem("261121-999999999999999", "SF", "SF1234567890888"),
        ],
        None,
    )
    assert result.returned == ["261121-000000000000001"]
    assert _codes(result) == {
        "3": "unknown_courier",
        "4": "invalid_tracking_no",
        "9": "not_assigned",
    }
    order = db.session.scalar(select(Order).where(Order.order_no == "261121-000000000000001"))
    assert (order.stage, order.courier, order.tracking_no) == ("returned", "SF", "SF1234567890123")
    assert order.returned_at is not None


def test_format_mismatch_is_only_a_warning(desk):
    _merchant, supplier, _actor = desk
    result = return_tracking(
        supplier, [TrackingItem("261121-000000000000003", "SF", "773012345678")], None
    )
    assert result.returned and result.warnings
    assert "顺丰" in result.warnings[0].message


def test_duplicate_number_refused_unless_same_receiver(desk):
    _merchant, supplier, _actor = desk
    first = return_tracking(
        supplier, [TrackingItem("261121-000000000000001", "ZTO", "773012345678")], None
    )
    assert first.returned
    same_receiver = return_tracking(
        supplier, [TrackingItem("261121-000000000000002", "ZTO", "773012345678")], None
    )
    assert same_receiver.returned  # one parcel for both orders
    other_receiver = return_tracking(
        supplier, [TrackingItem("261121-000000000000003", "ZTO", "773012345678")], None
    )
    assert _codes(other_receiver) == {"3": "duplicate_tracking_no"}
    assert db.session.scalar(select(func.count()).select_from(Parcel)) == 1
    # within one batch as well
    batch = return_tracking(
        supplier,
        [
            TrackingItem("261121-000000000000003", "ZTO", "773099999999"),
            TrackingItem("261121-000000000000004", "ZTO", "773099999999"),
        ],
        None,
    )
    assert batch.returned == ["261121-000000000000003"]
    assert _codes(batch) == {"4": "duplicate_tracking_no"}


def test_extra_numbers_up_to_ten(desk):
    _merchant, supplier, _actor = desk
    extras = tuple(f"77301234{i:04d}" for i in range(10))
    ok = return_tracking(
        supplier, [TrackingItem("261121-000000000000003", "ZTO", "773000000001", extras)], None
    )
    assert ok.returned
    order = db.session.scalar(select(Order).where(Order.order_no == "261121-000000000000003"))
    numbers = tracking_numbers_for([order.id])[order.id]
    assert numbers[0] == ("ZTO", "773000000001") and len(numbers) == 11
    too_many = return_tracking(
        supplier,
        [
            TrackingItem(
                "261121-000000000000004",
                "ZTO",
                "773000000002",
                (*extras[:0], *(f"88{i:010d}" for i in range(11))),
            )
        ],
        None,
    )
    assert _codes(too_many) == {"4": "too_many_tracking_nos"}


def test_re_return_replaces_numbers_and_cancel_return(desk):
    _merchant, supplier, _actor = desk
    no = "261121-000000000000003"
    return_tracking(supplier, [TrackingItem(no, "ZTO", "773000000001")], None)
    return_tracking(supplier, [TrackingItem(no, "YTO", "YT1234567890123")], None)
    order = db.session.scalar(select(Order).where(Order.order_no == no))
    assert tracking_numbers_for([order.id])[order.id] == [("YTO", "YT1234567890123")]
    assert db.session.scalar(select(func.count()).select_from(Parcel)) == 1
    cancel_return(supplier, no)
    db.session.refresh(order)
    assert (order.stage, order.tracking_no, order.returned_at) == ("assigned", "", None)
    assert db.session.scalar(select(func.count()).select_from(Parcel)) == 0
    with pytest.raises(DomainError) as excinfo:
        cancel_return(supplier, no)
    assert excinfo.value.code == "not_returned"


def test_cancelled_assignment_and_dispatched_are_refused(desk):
    merchant, supplier, actor = desk
    allocation.cancel_assignments(merchant, ["261121-000000000000004"], actor)
    return_tracking(supplier, [TrackingItem("261121-000000000000003", "ZTO", "773000000001")], None)
    db.session.execute(
        update(Order).where(Order.order_no == "261121-000000000000003").values(stage="dispatched")
    )
    result = return_tracking(
        supplier,
        [
            TrackingItem("261121-000000000000004", "ZTO", "773000000002"),
            TrackingItem("261121-000000000000003", "ZTO", "773000000003"),
        ],
        None,
    )
    assert _codes(result) == {"4": "assignment_cancelled", "3": "dispatched"}
    with pytest.raises(DomainError) as excinfo:
        cancel_return(supplier, "261121-000000000000003")
    assert excinfo.value.code == "dispatched"


def test_merchant_cannot_cancel_after_return(desk):
    merchant, supplier, actor = desk
    return_tracking(supplier, [TrackingItem("261121-000000000000001", "ZTO", "773000000001")], None)
    result = allocation.cancel_assignments(merchant, ["261121-000000000000001"], actor)
    assert [(r.code) for r in result.refused] == ["tracking_returned"]


def test_other_supplier_cannot_return(desk, factory):
    _merchant, _supplier, _actor = desk
    other = db.session.get(Supplier, factory.supplier().supplier.id)
    result = return_tracking(
        other, [TrackingItem("261121-000000000000001", "ZTO", "773000000001")], None
    )
    assert _codes(result) == {"1": "not_assigned"}


def test_tracking_file_with_bad_rows_and_scan(desk, tmp_path):
    _merchant, supplier, _actor = desk
    path = tmp_path / "tracking.csv"
    with path.open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["订单号", "快递公司", "快递单号"])
        writer.writerow(["261121-000000000000001", "中通", "773000000001"])
        writer.writerow(["261121-000000000000003", "火星", "773000000002"])
        writer.writerow(["261121-000000000000004", "ZTO", ""])
        writer.writerow(["261121-000000000000002", "中通快递", "773000000001"])  # same receiver
    with path.open("rb") as handle:
        result = return_tracking_file(supplier, open_tracking_file(handle, path.name), None)
    assert result.returned == ["261121-000000000000001", "261121-000000000000002"]
    assert {(r.row, r.code) for r in result.refused} == {
        (3, "unknown_courier"),
        (4, "missing_tracking_no"),
    }
    assert scan_lookup(supplier, " 773000000001 ").order_no in {
        "261121-000000000000001",
        "261121-000000000000002",
    }
    assert scan_lookup(supplier, "261121-000000000000003").order_no == "261121-000000000000003"
    assert scan_lookup(supplier, "nothing") is None

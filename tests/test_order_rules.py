"""DESIGN §4.2 order rules, through the upsert service and through real platform export files.

Every rule is exercised twice: with ImportedOrder rows handed to upsert_orders (the path the
JSON API takes) and with a GBK CSV export written by the demo writer and read back by
open_platform_export (the path a merchant's upload takes). The helpers at the top are shared
with the other tests/test_order_*.py modules.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from portal.domain import allocation, bindings
from portal.domain.demo_data import write_platform_export
from portal.domain.imports.platform_export import ImportedOrder, open_platform_export
from portal.domain.keyring import current_keyring
from portal.domain.orders.rules import assign_blockers, print_blockers
from portal.domain.orders.upsert import UpsertResult, upsert_orders
from portal.extensions import db
from portal.models import Assignment, Binding, Merchant, Order, OrderEvent, Supplier, User
from tests.factories import demo_order

# --------------------------------------------------------------------------- shared helpers


@dataclass
class Shop:
    """A merchant with an actively bound supplier, loaded in the current app context."""

    merchant: Merchant
    supplier: Supplier
    actor: User
    binding: Binding


def bind(merchant: Merchant, supplier_user: User) -> Binding:
    supplier = db.session.get(Supplier, supplier_user.supplier.id)
    binding = bindings.apply_for_binding(merchant, supplier_user.shop_id)
    bindings.accept_binding(supplier, binding.id)
    db.session.commit()
    return binding


def bound_shop(factory: Any) -> Shop:
    m_user, s_user = factory.merchant(), factory.supplier()
    merchant = db.session.get(Merchant, m_user.merchant.id)
    binding = bind(merchant, s_user)
    return Shop(
        merchant=merchant,
        supplier=db.session.get(Supplier, s_user.supplier.id),
        actor=db.session.get(User, m_user.id),
        binding=binding,
    )


def new_user(factory: Any, role: str) -> User:
    """A user made by the factory (in its own app context) after ending our transaction.

    On SQLite every transaction here is BEGIN IMMEDIATE: an open one would lock the factory out.
    """
    db.session.commit()
    return factory.merchant() if role == "merchant" else factory.supplier()


def second_supplier(factory: Any, shop: Shop) -> Supplier:
    s_user = new_user(factory, "supplier")
    bind(shop.merchant, s_user)
    return db.session.get(Supplier, s_user.supplier.id)


def export_dict(order: ImportedOrder) -> dict[str, Any]:
    """The API-shaped order that write_platform_export turns into one export row."""
    return {
        "order_no": order.order_no,
        "platform_status": order.platform_status,
        "platform_status_text": order.platform_status_text,
        "after_sale_status": order.after_sale_status,
        "audit_hold": order.audit_hold,
        "paid_at": order.paid_at,
        "promise_ship_at": order.promise_ship_at,
        "buyer_note": order.buyer_note,
        "merchant_note": order.merchant_note,
        "receiver": {
            "name": order.receiver_name,
            "phone": order.receiver_phone,
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "detail": order.detail,
        },
        "lines": [
            {
                "goods_id": order.goods_id,
                "goods_name": order.goods_name,
                "spec": order.spec,
                "sku_code": order.sku_code,
                "quantity": order.quantity,
            }
        ],
        "goods_total_fen": order.goods_total_fen,
        "paid_fen": order.paid_fen,
    }


def export_bytes(
    orders: Iterable[ImportedOrder], *, fmt: str = "csv", encoding: str = "gbk"
) -> bytes:
    buffer = io.BytesIO()
    write_platform_export((export_dict(o) for o in orders), buffer, fmt=fmt, encoding=encoding)
    return buffer.getvalue()


def import_file(merchant: Merchant, path: Path) -> UpsertResult:
    with path.open("rb") as handle:
        return upsert_orders(current_keyring(), merchant, open_platform_export(handle, path.name))


def load_order(merchant: Merchant, order_no: str) -> Order:
    db.session.expire_all()
    return db.session.scalar(
        select(Order).where(Order.merchant_id == merchant.id, Order.order_no == order_no)
    )


def assignments_of(order: Order) -> list[Assignment]:
    return list(
        db.session.scalars(
            select(Assignment).where(Assignment.order_id == order.id).order_by(Assignment.id)
        )
    )


def events_of(order: Order) -> list[OrderEvent]:
    return list(
        db.session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        )
    )


def set_stage(order: Order, stage: str) -> None:
    """Stand-in for the factory desk (return tracking) and dispatch, which are not built yet."""
    db.session.execute(update(Order).where(Order.id == order.id).values(stage=stage))
    db.session.commit()


def codes(result: allocation.BatchResult) -> dict[str, str]:
    return {r.order_no: r.code for r in result.refused}


class Platform:
    """Delivers order snapshots to the portal: as service rows, or as a GBK CSV export file."""

    def __init__(self, merchant: Merchant, channel: str, tmp_path: Path) -> None:
        self.merchant = merchant
        self.channel = channel
        self.tmp_path = tmp_path
        self.files = 0

    def push(self, *orders: ImportedOrder) -> UpsertResult:
        if self.channel == "service":
            result = upsert_orders(current_keyring(), self.merchant, list(orders))
        else:
            self.files += 1
            path = self.tmp_path / f"export-{self.files}.csv"
            path.write_bytes(export_bytes(orders))
            result = import_file(self.merchant, path)
        db.session.commit()
        return result


# --------------------------------------------------------------------------- fixtures

CHANNELS = ("service", "file")


@pytest.fixture
def shop(app_ctx: Any, factory: Any) -> Shop:
    return bound_shop(factory)


@pytest.fixture(params=CHANNELS)
def platform(request: pytest.FixtureRequest, shop: Shop, tmp_path: Path) -> Platform:
    return Platform(shop.merchant, request.param, tmp_path)


NO = "261121-100000000000001"


def assign(shop: Shop, *order_nos: str, supplier: Supplier | None = None) -> allocation.BatchResult:
    result = allocation.assign_orders(
        shop.merchant, list(order_nos), supplier or shop.supplier, shop.actor
    )
    db.session.commit()
    return result


def assigned_order(shop: Shop, platform: Platform, order: ImportedOrder | None = None) -> Order:
    order = order or demo_order(NO)
    assert platform.push(order).created == 1
    assert assign(shop, order.order_no).done == [order.order_no]
    return load_order(shop.merchant, order.order_no)


# --------------------------------------------------------------------------- holds


@dataclass(frozen=True)
class Hold:
    changes: dict[str, Any]
    refusal: str  # assign refusal code while the hold is on
    cancel_reason: str  # Assignment.cancel_reason when it takes an assignment back
    event: str  # the platform-change event in the order's history


HOLDS = {
    "after_sale": Hold(
        {"after_sale_status": "退款中", "after_sale_active": True},
        "after_sale",
        "after_sale",
        "after_sale",
    ),
    "audit_hold": Hold({"audit_hold": True}, "audit_hold", "audit_hold", "audit_hold"),
    "cancelled": Hold(
        {"platform_status": "cancelled", "platform_status_text": "已取消"},
        "not_awaiting_shipment",
        "cancelled",
        "order_cancelled",
    ),
    "refunded": Hold(
        {
            "platform_status": "cancelled",
            "platform_status_text": "未发货，退款成功",
            "after_sale_status": "退款成功",
            "after_sale_active": True,
        },
        "not_awaiting_shipment",
        "cancelled",
        "order_cancelled",
    ),
}


@pytest.mark.parametrize("hold", HOLDS.values(), ids=HOLDS.keys())
def test_hold_on_an_unassigned_order_refuses_assignment(
    shop: Shop, platform: Platform, hold: Hold
) -> None:
    assert platform.push(demo_order(NO)).created == 1
    result = platform.push(demo_order(NO, **hold.changes))
    assert (result.updated, result.cancelled_assignments) == (1, 0)

    refused = assign(shop, NO)
    assert refused.done == []
    assert codes(refused) == {NO: hold.refusal}
    order = load_order(shop.merchant, NO)
    assert order.stage == "unassigned" and order.supplier_id is None
    assert hold.refusal in assign_blockers(order)
    assert assignments_of(order) == []
    assert [e.kind for e in events_of(order)] == [hold.event]


@pytest.mark.parametrize("hold", HOLDS.values(), ids=HOLDS.keys())
def test_hold_on_a_new_order_refuses_assignment(shop: Shop, platform: Platform, hold: Hold) -> None:
    assert platform.push(demo_order(NO, **hold.changes)).created == 1
    assert codes(assign(shop, NO)) == {NO: hold.refusal}


@pytest.mark.parametrize("hold", HOLDS.values(), ids=HOLDS.keys())
def test_hold_cancels_an_assignment_without_tracking(
    shop: Shop, platform: Platform, hold: Hold
) -> None:
    order = assigned_order(shop, platform)
    result = platform.push(demo_order(NO, **hold.changes))
    assert (result.updated, result.cancelled_assignments) == (1, 1)

    order = load_order(shop.merchant, NO)
    assert (order.stage, order.supplier_id, order.assigned_at) == ("unassigned", None, None)
    assert print_blockers(order) == []
    # The supplier still sees the assignment, as cancelled, with the reason.
    [assignment] = assignments_of(order)
    assert assignment.supplier_id == shop.supplier.id
    assert (assignment.status, assignment.cancel_reason) == ("cancelled", hold.cancel_reason)
    assert assignment.cancelled_at is not None and assignment.cancelled_by is None
    history = [(e.kind, e.reason, e.supplier_id, e.actor_id) for e in events_of(order)]
    assert history == [
        ("assigned", "", shop.supplier.id, shop.actor.id),
        (hold.event, "", None, None),
        ("assignment_cancelled", hold.cancel_reason, shop.supplier.id, None),
    ]
    assert codes(assign(shop, NO)) == {NO: hold.refusal}


@pytest.mark.parametrize("hold", HOLDS.values(), ids=HOLDS.keys())
def test_hold_leaves_a_returned_order_with_its_supplier(
    shop: Shop, platform: Platform, hold: Hold
) -> None:
    set_stage(assigned_order(shop, platform), "returned")
    result = platform.push(demo_order(NO, **hold.changes))
    assert (result.updated, result.cancelled_assignments) == (1, 0)

    order = load_order(shop.merchant, NO)
    assert (order.stage, order.supplier_id) == ("returned", shop.supplier.id)
    [assignment] = assignments_of(order)
    assert (assignment.status, assignment.cancel_reason) == ("active", None)
    # What dispatch will warn about (or refuse) is on the order; print blocks no longer apply.
    expected = {k: v for k, v in hold.changes.items() if k != "platform_status_text"}
    assert {k: getattr(order, k) for k in expected} == expected
    assert print_blockers(order) == []
    assert [e.kind for e in events_of(order)] == ["assigned", hold.event]


def test_dispatched_order_is_untouched_by_a_hold(shop: Shop, platform: Platform) -> None:
    set_stage(assigned_order(shop, platform), "dispatched")
    assert platform.push(demo_order(NO, **HOLDS["after_sale"].changes)).cancelled_assignments == 0
    order = load_order(shop.merchant, NO)
    assert (order.stage, order.supplier_id) == ("dispatched", shop.supplier.id)
    assert [a.status for a in assignments_of(order)] == ["active"]


LIFTABLE = ("after_sale", "audit_hold")


@pytest.mark.parametrize("name", LIFTABLE)
def test_lifted_hold_makes_an_order_assignable_again(
    shop: Shop, platform: Platform, name: str
) -> None:
    platform.push(demo_order(NO, **HOLDS[name].changes))
    assert codes(assign(shop, NO)) == {NO: HOLDS[name].refusal}
    # 无售后或售后取消 in the export, or audit cleared
    result = platform.push(demo_order(NO))
    assert result.updated == 1
    order = load_order(shop.merchant, NO)
    assert assign_blockers(order) == []
    assert [e.kind for e in events_of(order)] == ["hold_lifted"]
    assert assign(shop, NO).done == [NO]


@pytest.mark.parametrize("name", LIFTABLE)
def test_after_a_lifted_hold_the_merchant_reassigns(
    shop: Shop, platform: Platform, name: str
) -> None:
    assigned_order(shop, platform)
    platform.push(demo_order(NO, **HOLDS[name].changes))
    platform.push(demo_order(NO))
    order = load_order(shop.merchant, NO)
    # Lifting the hold does not assign by itself: the merchant decides.
    assert (order.stage, order.supplier_id) == ("unassigned", None)
    assert assign(shop, NO).done == [NO]
    order = load_order(shop.merchant, NO)
    assert [(a.status, a.cancel_reason) for a in assignments_of(order)] == [
        ("cancelled", HOLDS[name].cancel_reason),
        ("active", None),
    ]
    assert [e.kind for e in events_of(order)] == [
        "assigned",
        HOLDS[name].event,
        "assignment_cancelled",
        "hold_lifted",
        "assigned",
    ]


# --------------------------------------------------------------------------- address changes

ADDRESS_CHANGES = {
    "name": {"receiver_name": "李娜"},
    "phone": {"receiver_phone": "13800001111"},
    "detail": {"detail": "石牌街道团结路887号18栋3005室"},
    "district": {"district": "越秀区"},
}


@pytest.mark.parametrize("changes", ADDRESS_CHANGES.values(), ids=ADDRESS_CHANGES.keys())
def test_address_change_on_an_unassigned_order_changes_nothing_else(
    shop: Shop, platform: Platform, changes: dict[str, str]
) -> None:
    platform.push(demo_order(NO))
    assert platform.push(demo_order(NO, **changes)).updated == 1
    order = load_order(shop.merchant, NO)
    assert order.address_change_pending is False
    assert events_of(order) == []
    assert assign(shop, NO).done == [NO]
    assert print_blockers(load_order(shop.merchant, NO)) == []


@pytest.mark.parametrize("changes", ADDRESS_CHANGES.values(), ids=ADDRESS_CHANGES.keys())
def test_address_change_blocks_printing_until_acknowledged(
    shop: Shop, platform: Platform, changes: dict[str, str]
) -> None:
    assigned_order(shop, platform)
    result = platform.push(demo_order(NO, **changes))
    assert (result.updated, result.cancelled_assignments) == (1, 0)

    order = load_order(shop.merchant, NO)
    assert (order.stage, order.supplier_id) == ("assigned", shop.supplier.id)
    assert order.address_change_pending is True
    assert print_blockers(order) == ["address_changed"]
    assert [a.status for a in assignments_of(order)] == ["active"]

    assert allocation.acknowledge_address(shop.merchant, order, shop.actor) is True
    db.session.commit()
    order = load_order(shop.merchant, NO)
    assert order.address_change_pending is False
    assert print_blockers(order) == []
    # A second acknowledgement (another tab) records nothing more.
    assert allocation.acknowledge_address(shop.merchant, order, shop.actor) is False
    db.session.commit()
    history = [(e.kind, e.supplier_id, e.actor_id) for e in events_of(order)]
    assert history == [
        ("assigned", shop.supplier.id, shop.actor.id),
        ("address_changed", shop.supplier.id, None),
        ("address_acknowledged", shop.supplier.id, shop.actor.id),
    ]
    # The same export again is not a new change: the acknowledgement stands.
    assert platform.push(demo_order(NO, **changes)).unchanged == 1
    assert load_order(shop.merchant, NO).address_change_pending is False


@pytest.mark.parametrize("changes", ADDRESS_CHANGES.values(), ids=ADDRESS_CHANGES.keys())
def test_address_change_on_a_returned_order_warns_the_merchant(
    shop: Shop, platform: Platform, changes: dict[str, str]
) -> None:
    set_stage(assigned_order(shop, platform), "returned")
    platform.push(demo_order(NO, **changes))
    order = load_order(shop.merchant, NO)
    assert (order.stage, order.supplier_id) == ("returned", shop.supplier.id)
    assert order.address_change_pending is True  # shown to the merchant at dispatch
    assert print_blockers(order) == []  # the label is printed already
    assert [e.kind for e in events_of(order)] == ["assigned", "address_changed"]


def test_same_receiver_written_differently_is_not_an_address_change(
    shop: Shop, platform: Platform
) -> None:
    assigned_order(shop, platform)
    result = platform.push(
        demo_order(NO, receiver_name=" 张 伟 ", receiver_phone="+86 135-7744-6522")
    )
    assert result.unchanged == 1
    order = load_order(shop.merchant, NO)
    assert order.address_change_pending is False and print_blockers(order) == []


def test_address_change_and_after_sale_together_cancel_without_a_print_block(
    shop: Shop, platform: Platform
) -> None:
    assigned_order(shop, platform)
    platform.push(demo_order(NO, receiver_name="李娜", **HOLDS["after_sale"].changes))
    order = load_order(shop.merchant, NO)
    assert (order.stage, order.address_change_pending) == ("unassigned", False)
    assert [a.cancel_reason for a in assignments_of(order)] == ["after_sale"]


# --------------------------------------------------------------------------- eligibility

ELIGIBILITY_ROWS: dict[str, tuple[dict[str, Any], str | None]] = {
    # order number suffix: (changes, expected refusal code or None when assigned)
    "001": ({}, None),
    "002": ({"city": "东莞市", "district": ""}, None),  # no county level: complete
    "003": ({"city": "中山市", "district": ""}, None),
    "004": (HOLDS["after_sale"].changes, "after_sale"),
    "005": (HOLDS["audit_hold"].changes, "audit_hold"),
    "006": (
        {"platform_status": "shipped", "platform_status_text": "已发货，待签收"},
        "not_awaiting_shipment",
    ),
    "007": (
        {
            "platform_status": "pending_payment",
            "platform_status_text": "待支付",
            "paid_at": None,
            "promise_ship_at": None,
        },
        "not_awaiting_shipment",
    ),
    "008": (HOLDS["cancelled"].changes, "not_awaiting_shipment"),
    "009": ({"district": ""}, "address_incomplete"),  # 广州市 has districts
    "010": ({"district": "火星区"}, None),  # unknown district: flagged region_unverified only
    "011": ({"detail": ""}, "address_incomplete"),
    "012": ({"province": "", "city": "", "district": ""}, "address_incomplete"),
}


def eligibility_no(suffix: str) -> str:
    return f"261121-200000000000{suffix}"


def test_eligibility_refusal_codes(
    shop: Shop, platform: Platform, factory: Any, tmp_path: Path
) -> None:
    orders = [demo_order(eligibility_no(s), **c) for s, (c, _) in ELIGIBILITY_ROWS.items()]
    extra = [demo_order(eligibility_no(s)) for s in ("020", "021", "022")]
    assert platform.push(*orders, *extra).created == len(orders) + len(extra)
    assigned, returned, dispatched = (o.order_no for o in extra)
    assert assign(shop, *(o.order_no for o in extra)).done == [assigned, returned, dispatched]
    set_stage(load_order(shop.merchant, returned), "returned")
    set_stage(load_order(shop.merchant, dispatched), "dispatched")
    # Another merchant's order is not found, even when its number is asked for by name.
    (tmp_path / "other").mkdir()
    db.session.commit()
    other = Platform(bound_shop(factory).merchant, platform.channel, tmp_path / "other")
    other.push(demo_order("261121-300000000000001"))

    requested = [
        *(o.order_no for o in orders),
        assigned,
        returned,
        dispatched,
        "261121-300000000000001",
        "261121-999999999999999",
    ]
    result = assign(shop, *requested)

    expected = {eligibility_no(s): code for s, (_, code) in ELIGIBILITY_ROWS.items() if code}
    expected.update(
        {
            assigned: "already_assigned",
            returned: "already_assigned",
            dispatched: "dispatched",
            "261121-300000000000001": "not_found",
            "261121-999999999999999": "not_found",
        }
    )
    assert codes(result) == expected
    assert result.done == [eligibility_no(n) for n in ("001", "002", "003", "010")]
    for suffix in ("002", "003"):
        order = load_order(shop.merchant, eligibility_no(suffix))
        assert (order.district, order.address_complete) == ("", True)
    for order_no, code in expected.items():
        order = load_order(shop.merchant, order_no)
        if order is not None:
            assert code in assign_blockers(order), order_no
    # Exactly one active assignment per assigned order, nothing for the refused ones.
    active = db.session.scalars(
        select(Order.order_no)
        .join(Assignment, Assignment.order_id == Order.id)
        .where(Assignment.status == "active", Order.merchant_id == shop.merchant.id)
    ).all()
    assert sorted(active) == sorted([*result.done, assigned, returned, dispatched])


BINDING_STATES = ("none", "pending", "rejected", "ended", "other_merchant", "no_supplier")


@pytest.mark.parametrize("state", BINDING_STATES)
def test_assignment_needs_an_active_binding(
    shop: Shop, platform: Platform, factory: Any, state: str
) -> None:
    nos = [NO, eligibility_no("001")]
    platform.push(*(demo_order(no) for no in nos))
    s_user = new_user(factory, "supplier")
    supplier: Supplier | None = db.session.get(Supplier, s_user.supplier.id)
    if state in ("pending", "rejected", "ended"):
        binding = bindings.apply_for_binding(shop.merchant, s_user.shop_id)
        if state == "rejected":
            bindings.reject_binding(supplier, binding.id)
        elif state == "ended":
            bindings.accept_binding(supplier, binding.id)
            bindings.end_binding(binding, "supplier")
        db.session.commit()
    elif state == "other_merchant":
        other_merchant = new_user(factory, "merchant")
        bind(db.session.get(Merchant, other_merchant.merchant.id), s_user)
    elif state == "no_supplier":
        supplier = None

    result = allocation.assign_orders(shop.merchant, nos, supplier, shop.actor)
    db.session.commit()
    assert result.done == []
    assert codes(result) == dict.fromkeys(nos, "not_bound")
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 0
    assert {load_order(shop.merchant, no).stage for no in nos} == {"unassigned"}


# --------------------------------------------------------------------------- binding ended


@pytest.mark.parametrize("ended_by", ["merchant", "supplier"])
def test_ending_a_binding_cancels_assignments_without_tracking(
    shop: Shop, platform: Platform, factory: Any, ended_by: str
) -> None:
    nos = [eligibility_no(s) for s in ("001", "002", "003", "004")]
    platform.push(*(demo_order(no) for no in nos))
    to_cancel, returned, unassigned, other = nos
    assert assign(shop, to_cancel, returned).done == [to_cancel, returned]
    set_stage(load_order(shop.merchant, returned), "returned")
    other_supplier = second_supplier(factory, shop)
    assert assign(shop, other, supplier=other_supplier).done == [other]

    binding = db.session.get(Binding, shop.binding.id)
    assert bindings.end_binding(binding, ended_by) == 1
    db.session.commit()

    order = load_order(shop.merchant, to_cancel)
    assert (order.stage, order.supplier_id) == ("unassigned", None)
    [assignment] = assignments_of(order)
    assert (assignment.status, assignment.cancel_reason) == ("cancelled", "binding_ended")
    assert assignment.supplier_id == shop.supplier.id
    assert [(e.kind, e.reason, e.supplier_id) for e in events_of(order)][-1] == (
        "assignment_cancelled",
        "binding_ended",
        shop.supplier.id,
    )
    # Returned stays with the merchant to dispatch; the other supplier's order is untouched.
    kept = load_order(shop.merchant, returned)
    assert (kept.stage, kept.supplier_id) == ("returned", shop.supplier.id)
    assert [a.status for a in assignments_of(kept)] == ["active"]
    theirs = load_order(shop.merchant, other)
    assert (theirs.stage, theirs.supplier_id) == ("assigned", other_supplier.id)
    assert load_order(shop.merchant, unassigned).stage == "unassigned"
    # And nothing more can be assigned to the ended supplier.
    assert codes(assign(shop, to_cancel, unassigned)) == {
        to_cancel: "not_bound",
        unassigned: "not_bound",
    }


# --------------------------------------------------------------------------- manual cancel


def test_merchant_cancels_until_tracking_is_returned(shop: Shop, platform: Platform) -> None:
    nos = [eligibility_no(s) for s in ("001", "002", "003")]
    platform.push(*(demo_order(no) for no in nos), demo_order(NO))
    assigned, returned, dispatched = nos
    assign(shop, *nos)
    set_stage(load_order(shop.merchant, returned), "returned")
    set_stage(load_order(shop.merchant, dispatched), "dispatched")

    result = allocation.cancel_assignments(
        shop.merchant, [*nos, NO, "261121-999999999999999"], shop.actor
    )
    db.session.commit()
    assert result.done == [assigned]
    assert codes(result) == {
        returned: "tracking_returned",
        dispatched: "dispatched",
        NO: "not_assigned",
        "261121-999999999999999": "not_found",
    }
    order = load_order(shop.merchant, assigned)
    [assignment] = assignments_of(order)
    assert (assignment.cancel_reason, assignment.cancelled_by) == ("manual", shop.actor.id)
    assert events_of(order)[-1].actor_id == shop.actor.id


# --- real addresses never block (DESIGN §10.2) -------------------------------------------------


def test_districts_the_table_lacks_are_assignable_and_flagged(shop, make_browser, factory):
    orders = {
        "261121-300000000000001": ("安徽省", "合肥市", "经济技术开发区"),
        "261121-300000000000002": ("四川省", "成都市", "高新区"),
        "261121-300000000000003": ("内蒙古", "呼和浩特", "新城区"),
        "261121-300000000000004": ("浙江省", "杭州市", ""),  # really incomplete
    }
    result = upsert_orders(
        current_keyring(),
        shop.merchant,
        [demo_order(no, province=p, city=c, district=d) for no, (p, c, d) in orders.items()],
    )
    db.session.commit()
    assert result.created == 4
    stored = {no: load_order(shop.merchant, no) for no in orders}
    assert [(o.address_complete, o.region_unverified) for o in stored.values()] == [
        (True, True),
        (True, True),
        (True, False),
        (False, False),
    ]
    third = stored["261121-300000000000003"]
    assert (third.province, third.city, third.district) == ("内蒙古自治区", "呼和浩特市", "新城区")
    assigned = assign(shop, *orders)
    assert assigned.done == list(orders)[:3]
    assert codes(assigned) == {"261121-300000000000004": "address_incomplete"}
    db.session.commit()
    # The merchant sees the flag on the desk; the API carries it.
    user = db.session.get(User, shop.actor.id)
    username = user.username
    db.session.expunge(user)
    db.session.commit()  # SQLite: the requests below write in their own sessions
    token = factory.token(user)
    browser = make_browser()
    browser.login(username)
    page = browser.get("/merchant/orders?tab=assigned").get_data(as_text=True)
    assert page.count("data-region-unverified") == 2 and "地区未核验" in page
    answer = browser.client.get(
        "/api/v1/orders/261121-300000000000001", headers={"Authorization": f"Bearer {token}"}
    ).json
    assert answer["region_unverified"] is True and answer["assign_blockers"] == ["already_assigned"]

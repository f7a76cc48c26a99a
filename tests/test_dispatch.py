"""Dispatch (发货): the rules, set-based batches, the race with a supplier taking its tracking
number back, the platform's batch-shipping export, signed webhooks delivered to a real local
HTTP server (retries, backoff, giving up), auto-dispatch on return, and the webhook settings UI.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openpyxl
import pytest
from flask import Flask
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import joinedload
from standardwebhooks.webhooks import Webhook

from portal.domain import accounts, allocation, dispatch, webhooks
from portal.domain.dispatch import dispatch_orders
from portal.domain.dispatch_export import (
    dispatch_export_csv,
    dispatch_export_rows,
    dispatch_export_xlsx,
)
from portal.domain.errors import DomainError
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.tracking import TrackingItem, cancel_return, return_tracking
from portal.domain.webhooks import (
    BACKOFF,
    MAX_ATTEMPTS,
    attempt_delivery,
    requeue_due_webhooks,
    verify_signature,
)
from portal.extensions import db
from portal.jobs import queue
from portal.models import (
    Merchant,
    Order,
    OrderEvent,
    OrderParcel,
    ReturnAddress,
    Supplier,
    User,
    WebhookDelivery,
)
from tests.factories import BASE_ORDER, demo_order
from tests.test_order_concurrency import ProcessPair, Runner, _load
from tests.test_order_rules import HOLDS, Shop, bind, bound_shop, new_user

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
BUYER_DATA = (
    BASE_ORDER.receiver_name,
    BASE_ORDER.receiver_phone,
    BASE_ORDER.detail,
    "石牌街道",
    "receiver",
)


def order_no(index: int) -> str:
    return f"261121-7{index:014d}"


def zto_no(index: int) -> str:
    return f"7730{index:09d}"  # 13 digits: a ZTO shape


def zto_for(number: str) -> str:
    """The tracking number of order_no(i): zto_no(i), unique across every order of a test."""
    return zto_no(int(number[-9:]))


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def shop(app_ctx: Flask, factory: Any) -> Shop:
    return bound_shop(factory)


def add_address(merchant: Merchant, name: str = "退货仓", default: bool = False) -> ReturnAddress:
    address = accounts.add_return_address(
        merchant,
        accounts.AddressInput(name, "13800138000", "浙江省", "杭州市", "余杭区", "仓前街道 1 号"),
        make_default=default,
    )
    db.session.commit()
    return address


def import_orders(shop: Shop, numbers: list[str], **changes: Any) -> None:
    result = upsert_orders(
        current_keyring(), shop.merchant, [demo_order(n, **changes) for n in numbers]
    )
    assert result.created == len(numbers)
    db.session.commit()


def assigned(shop: Shop, numbers: list[str]) -> list[str]:
    import_orders(shop, numbers)
    assert allocation.assign_orders(shop.merchant, numbers, shop.supplier, shop.actor).done
    db.session.commit()
    return numbers


def returned(shop: Shop, numbers: list[str], items: list[TrackingItem] | None = None) -> list[str]:
    """Orders assigned to the shop's supplier whose tracking numbers came back (for real)."""
    assigned(shop, numbers)
    items = items or [TrackingItem(n, "ZTO", zto_for(n)) for n in numbers]
    result = return_tracking(shop.supplier, items, None)
    assert sorted(result.returned) == sorted(numbers), result.refused
    db.session.commit()
    return numbers


def force_returned(shop: Shop, count: int, start: int = 0) -> list[str]:
    """Many returned orders, fast: imported for real, stage and tracking number set directly."""
    numbers = [order_no(start + i) for i in range(count)]
    import_orders(shop, numbers)
    ids = dict(
        db.session.execute(
            select(Order.order_no, Order.id).where(Order.merchant_id == shop.merchant.id)
        ).all()
    )
    db.session.execute(
        update(Order),  # per-row UPDATE by primary key, one executemany
        [
            {
                "id": ids[n],
                "stage": "returned",
                "supplier_id": shop.supplier.id,
                "courier": "ZTO",
                "tracking_no": zto_no(start + i),
                "returned_at": T0,
            }
            for i, n in enumerate(numbers)
        ],
    )
    db.session.commit()
    return numbers


def platform_push(shop: Shop, number: str, **changes: Any) -> None:
    upsert_orders(current_keyring(), shop.merchant, [demo_order(number, **changes)])
    db.session.commit()


def order(shop: Shop, number: str) -> Order:
    db.session.expire_all()
    return db.session.scalar(
        select(Order).where(Order.merchant_id == shop.merchant.id, Order.order_no == number)
    )


def codes(result: dispatch.DispatchResult) -> dict[str, str]:
    return {r.order_no: r.code for r in result.refused}


def dispatch_events(order_id: int) -> list[OrderEvent]:
    return list(
        db.session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id == order_id, OrderEvent.kind == "dispatched"
            )
        )
    )


def deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


# --------------------------------------------------------------------------- rules


def test_dispatch_records_time_actor_address_and_event(shop: Shop) -> None:
    other = add_address(shop.merchant, "其他仓")
    default = add_address(shop.merchant, "默认仓", default=True)
    a, b = returned(shop, [order_no(1), order_no(2)])

    result = dispatch_orders(shop.merchant, [a], shop.actor, now=T0)
    db.session.commit()
    assert (result.dispatched, result.refused) == ([a], [])
    dispatched = order(shop, a)
    assert dispatched.stage == "dispatched"
    assert dispatched.dispatched_at == T0
    assert dispatched.dispatched_by == shop.actor.id
    assert dispatched.return_address_id == default.id
    [entry] = dispatch_events(dispatched.id)
    assert (entry.actor_id, entry.supplier_id, entry.created_at) == (
        shop.actor.id,
        shop.supplier.id,
        T0,
    )
    assert entry.note == f"中通快递 {zto_no(1)}"

    # Another of the merchant's addresses, chosen explicitly.
    result = dispatch_orders(shop.merchant, [b], shop.actor, return_address_id=other.id)
    db.session.commit()
    assert result.dispatched == [b]
    assert order(shop, b).return_address_id == other.id

    # An address dispatched orders point to is edited or deleted for the future only: the
    # orders keep the one their returns go to (it was a 500 on the foreign key, then a refusal).
    edited = accounts.update_return_address(
        shop.merchant,
        other.id,
        accounts.AddressInput("新退货员", "13800000000", "浙江省", "杭州市", "西湖区", "新路 9 号"),
    )
    db.session.commit()
    assert edited.id != other.id and edited.detail == "新路 9 号"
    kept = db.session.get(ReturnAddress, other.id)
    assert kept.archived_at is not None and kept.detail != "新路 9 号"
    assert order(shop, b).return_address_id == other.id
    accounts.delete_return_address(shop.merchant, default.id)
    db.session.commit()
    assert order(shop, a).return_address_id == default.id
    assert db.session.get(ReturnAddress, default.id).archived_at is not None
    assert [x.id for x in accounts.list_return_addresses(shop.merchant)] == [edited.id]
    assert accounts.default_return_address(shop.merchant).id == edited.id
    with pytest.raises(DomainError) as refused:  # history, not a choice for new dispatches
        dispatch_orders(shop.merchant, [order_no(9)], shop.actor, return_address_id=other.id)
    assert refused.value.code == "not_found"


def test_every_refusal_has_its_code(shop: Shop) -> None:
    add_address(shop.merchant, default=True)
    ok, dispatched_before, after_sale, audit, cancelled, refunded = returned(
        shop, [order_no(i) for i in range(6)]
    )
    assert dispatch_orders(shop.merchant, [dispatched_before], shop.actor).dispatched
    platform_push(shop, after_sale, **HOLDS["after_sale"].changes)
    platform_push(shop, audit, **HOLDS["audit_hold"].changes)
    platform_push(shop, cancelled, **HOLDS["cancelled"].changes)
    platform_push(shop, refunded, **HOLDS["refunded"].changes)
    [still_assigned] = assigned(shop, [order_no(10)])
    import_orders(shop, [order_no(11)])  # never assigned
    [taken_back] = assigned(shop, [order_no(12)])
    assert allocation.cancel_assignments(shop.merchant, [taken_back], shop.actor).done
    db.session.commit()

    numbers = [
        ok,
        dispatched_before,
        after_sale,
        audit,
        cancelled,
        refunded,
        still_assigned,
        order_no(11),
        taken_back,
        "261121-999999999999999",
        f" {ok} ",  # a duplicate (after trimming) is answered once
    ]
    result = dispatch_orders(shop.merchant, numbers, shop.actor)
    db.session.commit()
    assert result.dispatched == [ok]
    assert codes(result) == {
        dispatched_before: "dispatched",
        after_sale: "after_sale",
        audit: "audit_hold",
        cancelled: "not_awaiting_shipment",
        refunded: "not_awaiting_shipment",
        still_assigned: "not_returned",
        order_no(11): "not_assigned",
        taken_back: "assignment_cancelled",
        "261121-999999999999999": "not_found",
    }
    assert len(result.refused) == 9
    for number in (after_sale, audit, cancelled, refunded):
        assert order(shop, number).stage == "returned"


def test_holds_are_dispatched_only_when_confirmed(shop: Shop) -> None:
    add_address(shop.merchant, default=True)
    after_sale, audit, cancelled = returned(shop, [order_no(1), order_no(2), order_no(3)])
    platform_push(shop, after_sale, **HOLDS["after_sale"].changes)
    platform_push(shop, audit, **HOLDS["audit_hold"].changes)
    platform_push(shop, cancelled, **HOLDS["cancelled"].changes)

    result = dispatch_orders(shop.merchant, [after_sale, audit, cancelled], shop.actor)
    assert result.dispatched == []
    result = dispatch_orders(
        shop.merchant, [after_sale, audit, cancelled], shop.actor, confirm_holds=True
    )
    db.session.commit()
    assert result.dispatched == [after_sale, audit]
    assert codes(result) == {cancelled: "not_awaiting_shipment"}  # never, confirmed or not
    [note] = [e.note for e in dispatch_events(order(shop, after_sale).id)]
    assert "已确认售后中发货" in note
    [note] = [e.note for e in dispatch_events(order(shop, audit).id)]
    assert "已确认审核中发货" in note


def test_return_address_must_be_the_merchants_own(shop: Shop, factory: Any) -> None:
    [number] = returned(shop, [order_no(1)])
    with pytest.raises(DomainError) as missing:
        dispatch_orders(shop.merchant, [number], shop.actor)
    assert missing.value.code == "return_address_required"
    assert "退货地址" in missing.value.message

    db.session.commit()
    stranger = factory.merchant()
    foreign = add_address(db.session.get(Merchant, stranger.merchant.id), default=True)
    add_address(shop.merchant, default=True)
    cases = (
        (foreign.id, "not_found"),
        (10**9, "not_found"),
        (2**63, "not_found"),
        ("1", "validation_error"),
    )
    for bad, code in cases:
        with pytest.raises(DomainError) as refused:
            dispatch_orders(shop.merchant, [number], shop.actor, return_address_id=bad)
        assert (refused.value.code, refused.value.details["field"]) == (code, "return_address_id")
    db.session.rollback()
    assert order(shop, number).stage == "returned"
    assert dispatch_events(order(shop, number).id) == []


def test_a_batch_is_set_based(shop: Shop, app: Flask) -> None:
    """The number of SQL statements grows with the chunks (900 orders), not with the orders."""
    add_address(shop.merchant, default=True)
    shop.merchant.webhook_url, shop.merchant.webhook_secret = "http://127.0.0.1:9/hook", "s" * 64
    small = force_returned(shop, 100)
    large = force_returned(shop, 2000, start=100)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        dispatch_orders(shop.merchant, small, shop.actor)
        small_count = len(statements)
        statements.clear()
        result = dispatch_orders(shop.merchant, large, shop.actor)
        large_count = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.commit()
    assert len(result.dispatched) == 2000
    assert large_count <= small_count + 15, (small_count, large_count)
    assert large_count < 40
    assert (
        db.session.scalar(
            select(func.count()).select_from(OrderEvent).where(OrderEvent.kind == "dispatched")
        )
        == 2100
    )
    # One delivery per 500 orders: 1 for the small batch, 4 for the large one.
    assert [len(json.loads(d.payload)["orders"]) for d in deliveries()] == [100, 500, 500, 500, 500]


def test_an_order_taken_back_between_read_and_write_is_refused(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic stale read: the supplier cancels the return after the batch read it."""
    add_address(shop.merchant, default=True)
    taken, kept = returned(shop, [order_no(1), order_no(2)])
    original = dispatch.load_states

    def supplier_cancels_meanwhile(*args: Any, **kwargs: Any) -> Any:
        states = original(*args, **kwargs)
        monkeypatch.setattr(dispatch, "load_states", original)
        cancel_return(shop.supplier, taken)
        return states

    monkeypatch.setattr(dispatch, "load_states", supplier_cancels_meanwhile)
    result = dispatch_orders(shop.merchant, [taken, kept], shop.actor)
    db.session.commit()
    assert result.dispatched == [kept]
    assert codes(result) == {taken: "not_returned"}
    assert (order(shop, taken).stage, order(shop, taken).tracking_no) == ("assigned", "")
    assert dispatch_events(order(shop, taken).id) == []


# --------------------------------------------------------------------------- the race


def merchant_dispatches(
    barrier: Any, merchant_id: int, user_id: int, order_nos: list[str], one_by_one: bool
) -> dict[str, Any]:
    merchant, actor = _load(Merchant, merchant_id), _load(User, user_id)
    db.session.commit()
    barrier.wait()
    done: list[str] = []
    refused: list[tuple[str, str]] = []
    for batch in [[n] for n in order_nos] if one_by_one else [order_nos]:
        result = dispatch_orders(merchant, batch, actor)
        db.session.commit()
        done += result.dispatched
        refused += [(r.order_no, r.code) for r in result.refused]
    return {"done": done, "refused": refused}


def supplier_cancels(barrier: Any, supplier_id: int, order_nos: list[str]) -> dict[str, Any]:
    supplier = _load(Supplier, supplier_id)
    db.session.commit()
    barrier.wait()
    done: list[str] = []
    refused: list[tuple[str, str]] = []
    for number in order_nos:
        try:
            cancel_return(supplier, number)
            db.session.commit()
            done.append(number)
        except DomainError as error:
            db.session.rollback()
            refused.append((number, error.code))
    return {"done": done, "refused": refused}


@pytest.fixture(scope="module")
def process_pair() -> Iterator[ProcessPair]:
    pair = ProcessPair()
    yield pair
    pair.close()


@pytest.fixture(params=("threads", "processes"))
def run_together(request: pytest.FixtureRequest, app: Flask) -> Runner:
    if request.param == "processes":
        return Runner(app, request.getfixturevalue("process_pair"))
    return Runner(app)


@pytest.mark.parametrize("one_by_one", [True, False], ids=["one-by-one", "batch"])
def test_dispatch_races_cancel_return(shop: Shop, run_together: Runner, one_by_one: bool) -> None:
    """Exactly one side wins each order: dispatched with its tracking number, or back with the
    supplier without one — never both, never neither, on SQLite and PostgreSQL."""
    add_address(shop.merchant, default=True)
    rounds, per_round = 3, 16
    for round_no in range(rounds):
        numbers = returned(shop, [order_no(round_no * 100 + i) for i in range(per_round)])
        jobs = [
            (
                merchant_dispatches,
                {
                    "merchant_id": shop.merchant.id,
                    "user_id": shop.actor.id,
                    "order_nos": numbers,
                    "one_by_one": one_by_one,
                },
            ),
            # The supplier from the newest down: the two sides meet in the middle.
            (supplier_cancels, {"supplier_id": shop.supplier.id, "order_nos": numbers[::-1]}),
        ]
        db.session.commit()  # reading the ids above began a transaction: SQLite would block
        merchant_side, supplier_side = run_together(jobs)
        dispatched, withdrawn = set(merchant_side["done"]), set(supplier_side["done"])
        assert not dispatched & withdrawn
        assert dispatched | withdrawn == set(numbers)
        assert dict(merchant_side["refused"]) == dict.fromkeys(withdrawn, "not_returned")
        assert set(dict(supplier_side["refused"])) == dispatched
        assert set(dict(supplier_side["refused"]).values()) <= {"dispatched", "not_returned"}
        db.session.expire_all()
        for number in numbers:
            current = order(shop, number)
            parcels = db.session.scalar(
                select(func.count())
                .select_from(OrderParcel)
                .where(OrderParcel.order_id == current.id)
            )
            events = len(dispatch_events(current.id))
            if number in dispatched:
                assert (current.stage, current.tracking_no, parcels, events) == (
                    "dispatched",
                    zto_for(number),
                    1,
                    1,
                )
            else:
                assert (current.stage, current.tracking_no, parcels, events) == (
                    "assigned",
                    "",
                    0,
                    0,
                )
        db.session.commit()


# --------------------------------------------------------------------------- export


def test_export_layout_courier_spelling_and_period(shop: Shop) -> None:
    add_address(shop.merchant, default=True)
    couriers = [("圆通", "YT1234567890123"), ("顺丰", "SF1234567890123"), ("ZTO", "773012345678")]
    numbers = [order_no(i) for i in range(3)]
    items = [TrackingItem(n, c, t) for n, (c, t) in zip(numbers, couriers, strict=True)]
    returned(shop, numbers, items)
    dispatch_orders(shop.merchant, numbers[:2], shop.actor, now=T0)
    dispatch_orders(shop.merchant, numbers[2:], shop.actor, now=T0 + timedelta(hours=1))
    db.session.commit()

    rows = list(dispatch_export_rows(shop.merchant))
    assert rows == [
        ["订单号", "快递公司", "快递单号"],
        [numbers[0], "圆通快递", "YT1234567890123"],
        [numbers[1], "顺丰速运", "SF1234567890123"],
        [numbers[2], "中通快递", "773012345678"],
    ]
    later = list(dispatch_export_rows(shop.merchant, since=T0 + timedelta(minutes=30)))
    assert [r[0] for r in later[1:]] == [numbers[2]]
    earlier = list(dispatch_export_rows(shop.merchant, until=T0 + timedelta(minutes=30)))
    assert [r[0] for r in earlier[1:]] == numbers[:2]
    # Keyset batches: equal dispatch times are walked by id, nothing lost or repeated.
    assert list(dispatch_export_rows(shop.merchant, batch=1)) == rows


def test_export_is_only_the_merchants_dispatched_orders(shop: Shop, factory: Any) -> None:
    add_address(shop.merchant, default=True)
    numbers = returned(shop, [order_no(1), order_no(2)])
    dispatch_orders(shop.merchant, numbers[:1], shop.actor)
    db.session.commit()
    other = bound_shop(factory)
    add_address(other.merchant, default=True)
    returned(other, [order_no(3)], [TrackingItem(order_no(3), "ZTO", zto_no(3))])
    dispatch_orders(other.merchant, [order_no(3)], other.actor)
    db.session.commit()
    assert [r[0] for r in list(dispatch_export_rows(shop.merchant))[1:]] == numbers[:1]


def test_export_csv_and_xlsx_are_formula_safe(shop: Shop) -> None:
    add_address(shop.merchant, default=True)
    numbers = force_returned(shop, 3)
    dispatch_orders(shop.merchant, numbers, shop.actor, now=T0)
    # Whatever got into the database, a cell never becomes a formula in Excel or WPS.
    db.session.execute(
        update(Order).where(Order.order_no == numbers[0]).values(order_no="=HYPERLINK(1)")
    )
    db.session.execute(update(Order).where(Order.order_no == numbers[1]).values(tracking_no="-2+3"))
    db.session.commit()

    text = "".join(dispatch_export_csv(shop.merchant))
    assert text.startswith("\ufeff订单号,快递公司,快递单号\r\n")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1] == ["'=HYPERLINK(1)", "中通快递", zto_no(0)]
    assert rows[2] == [numbers[1], "中通快递", "'-2+3"]
    assert rows[3] == [numbers[2], "中通快递", zto_no(2)]

    target = io.BytesIO()
    dispatch_export_xlsx(shop.merchant, target)
    sheet = openpyxl.load_workbook(io.BytesIO(target.getvalue())).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells == rows
    assert all(isinstance(cell, str) for row in cells for cell in row)


def test_export_streams_in_chunks(shop: Shop) -> None:
    add_address(shop.merchant, default=True)
    numbers = force_returned(shop, 2500)
    dispatch_orders(shop.merchant, numbers, shop.actor, now=T0)
    db.session.commit()
    chunks = list(dispatch_export_csv(shop.merchant))
    assert len(chunks) == 3  # 1 000 rows per chunk: 2 501 rows with the header
    lines = "".join(chunks).splitlines()
    assert len(lines) == 2501
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(numbers)


# --------------------------------------------------------------------------- webhooks


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 standing in for the merchant's ERP."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/portal/hook?src=daifa"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            target = holder["receiver"]
            target.received.append(Received(self.path, dict(self.headers.items()), body))
            time.sleep(target.delay)
            self.send_response(target.status)
            if 300 <= target.status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["receiver"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(shop: Shop, receiver: Receiver) -> Shop:
    """The shop with a default return address and its webhook pointing at the receiver."""
    add_address(shop.merchant, default=True)
    webhooks.set_webhook_url(shop.merchant, receiver.url)
    db.session.commit()
    return shop


def run_jobs(app: Flask) -> int:
    db.session.commit()  # SQLite: the worker's transaction must not wait for ours
    count = queue.run_pending(app)
    db.session.commit()
    return count


def test_dispatch_webhook_is_signed_and_delivered(hooked: Shop, receiver: Receiver, app: Flask):
    shop = hooked
    numbers = [order_no(1), order_no(2)]
    items = [
        TrackingItem(numbers[0], "ZTO", zto_no(1), ("773099999990", "773099999991")),
        TrackingItem(numbers[1], "圆通", "YT1234567890123"),
    ]
    returned(shop, numbers, items)
    result = dispatch_orders(shop.merchant, numbers, shop.actor, now=T0)
    assert len(result.deliveries) == 1
    assert queue.pending_count(app) == 0, "nothing is enqueued before the commit"
    db.session.commit()
    assert queue.pending_count(app) == 1
    assert run_jobs(app) == 1

    [request] = receiver.received
    [delivery] = deliveries()
    assert request.path == "/portal/hook?src=daifa"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Portal-Event"] == "orders.dispatched"
    assert request.headers["webhook-id"] == f"msg_{delivery.id}"
    assert request.body == delivery.payload.encode("utf-8")  # the stored bytes, unchanged
    secret, stamp = shop.merchant.webhook_secret, request.headers["webhook-timestamp"]
    signature = request.headers["webhook-signature"]
    assert signature.startswith("v1,") and " " not in signature
    # what a receiver using the standardwebhooks library does, with the same secret
    Webhook(secret).verify(request.body, request.headers)
    headers = dict(request.headers)
    assert verify_signature(secret, headers, request.body)
    assert not verify_signature(secret, headers, request.body + b" ")
    assert not verify_signature(webhooks.new_webhook_secret(), headers, request.body)
    assert not verify_signature(
        secret, {**headers, "webhook-timestamp": str(int(stamp) - 1)}, request.body
    )
    # replayed under another id: refused (the id is signed)
    assert not verify_signature(secret, {**headers, "webhook-id": "msg_999999"}, request.body)
    late = datetime.fromtimestamp(int(stamp), UTC) + timedelta(minutes=10)
    assert not verify_signature(secret, headers, request.body, now=late)
    assert verify_signature(secret, headers, request.body, now=late, tolerance=None)

    assert json.loads(request.body) == {
        "event": "orders.dispatched",
        "merchant_shop_id": shop.merchant.shop_id,
        "dispatched_at": "2026-11-21T08:00:00Z",
        "orders": [
            {
                "order_no": numbers[0],
                "courier": "ZTO",
                "courier_name": "中通快递",
                "tracking_no": zto_no(1),
                "extra_tracking_nos": ["773099999990", "773099999991"],
            },
            {
                "order_no": numbers[1],
                "courier": "YTO",
                "courier_name": "圆通快递",
                "tracking_no": "YT1234567890123",
                "extra_tracking_nos": [],
            },
        ],
    }
    text = request.body.decode("utf-8")
    for secret_value in BUYER_DATA:
        assert secret_value not in text
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None


def test_no_webhook_without_url_and_none_after_rollback(shop: Shop, app: Flask) -> None:
    add_address(shop.merchant, default=True)
    first, second = returned(shop, [order_no(1), order_no(2)])
    assert dispatch_orders(shop.merchant, [first], shop.actor).deliveries == []
    db.session.commit()
    shop.merchant.webhook_url, shop.merchant.webhook_secret = "http://127.0.0.1:9/", "x" * 64
    db.session.commit()
    assert dispatch_orders(shop.merchant, [second], shop.actor).deliveries
    with db.session.begin_nested():
        pass  # a released SAVEPOINT is not the commit
    assert queue.pending_count(app) == 0
    db.session.rollback()
    db.session.commit()
    assert queue.pending_count(app) == 0
    assert deliveries() == []
    assert order(shop, second).stage == "returned"


def test_failing_receiver_is_retried_with_backoff_then_given_up(
    hooked: Shop, receiver: Receiver, app: Flask
) -> None:
    receiver.status = 500
    numbers = returned(hooked, [order_no(1)])
    [delivery_id] = dispatch_orders(hooked.merchant, numbers, hooked.actor, now=T0).deliveries
    db.session.commit()
    queue.huey(app).flush()  # the attempts below are driven by hand, with their own clock

    now = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        status = attempt_delivery(delivery_id, attempt - 1, now=now)
        # A duplicate message for the same attempt sends nothing.
        assert attempt_delivery(delivery_id, attempt - 1, now=now) is None
        [delivery] = deliveries()
        assert (delivery.attempts, delivery.last_status_code) == (attempt, 500)
        assert delivery.last_error == "HTTP 500"
        if attempt == MAX_ATTEMPTS:
            assert (status, delivery.status, delivery.next_attempt_at) == ("failed", "failed", None)
            break
        assert status == "pending"
        wait = BACKOFF[attempt - 1]
        assert delivery.next_attempt_at == now + wait
        # Not due yet: the sweeper leaves it; once due, two sweeps enqueue it once.
        assert requeue_due_webhooks(now + wait - timedelta(seconds=1)) == []
        now += wait
        assert requeue_due_webhooks(now) == [delivery_id]
        assert requeue_due_webhooks(now) == []
        task = queue.huey(app).dequeue()
        assert task is not None and task.args == (delivery_id, attempt)
        assert queue.pending_count(app) == 0
    assert [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)] == list(BACKOFF[:3])
    assert len(receiver.received) == MAX_ATTEMPTS
    assert {r.headers["webhook-id"] for r in receiver.received} == {f"msg_{delivery_id}"}
    assert requeue_due_webhooks(now + timedelta(days=2)) == []  # given up for good
    assert len({r.headers["webhook-timestamp"] for r in receiver.received}) == MAX_ATTEMPTS


def test_a_retry_goes_through_the_queue_and_succeeds(
    hooked: Shop, receiver: Receiver, app: Flask
) -> None:
    receiver.status = 503
    numbers = returned(hooked, [order_no(1)])
    dispatch_orders(hooked.merchant, numbers, hooked.actor)
    run_jobs(app)
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    receiver.status = 204
    db.session.commit()
    queue.sweep(app)  # what a worker does every minute …
    assert run_jobs(app) == 0  # … nothing is due yet
    assert requeue_due_webhooks(delivery.next_attempt_at) == [delivery.id]
    assert run_jobs(app) == 1
    [delivery] = deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 204)


def test_redirects_and_timeouts_are_failed_attempts(
    hooked: Shop, receiver: Receiver, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.status = 302
    numbers = returned(hooked, [order_no(1), order_no(2)])
    dispatch_orders(hooked.merchant, numbers[:1], hooked.actor)
    run_jobs(app)
    assert len(receiver.received) == 1, "the redirect is not followed"
    [delivery] = deliveries()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == (
        "pending",
        302,
        "HTTP 302",
    )

    receiver.status, receiver.delay = 200, 1.5
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    dispatch_orders(hooked.merchant, numbers[1:], hooked.actor)
    run_jobs(app)
    slow = deliveries()[1]
    assert (slow.status, slow.attempts, slow.last_status_code) == ("pending", 1, None)
    assert "无应答" in slow.last_error


def test_a_worker_lost_mid_attempt_is_retried_and_a_switched_off_webhook_gives_up(
    hooked: Shop, receiver: Receiver, app: Flask
) -> None:
    numbers = returned(hooked, [order_no(1)])
    [delivery_id] = dispatch_orders(hooked.merchant, numbers, hooked.actor, now=T0).deliveries
    db.session.commit()
    queue.huey(app).flush()
    # A worker claimed attempt 1 and died before reporting back: after the lease, it is due.
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(attempts=1, next_attempt_at=T0 + webhooks.ATTEMPT_LEASE)
    )
    db.session.commit()
    assert requeue_due_webhooks(T0 + timedelta(minutes=1)) == []
    assert requeue_due_webhooks(T0 + webhooks.ATTEMPT_LEASE) == [delivery_id]

    webhooks.set_webhook_url(hooked.merchant, "")
    db.session.commit()
    assert attempt_delivery(delivery_id, 1, now=T0 + webhooks.ATTEMPT_LEASE) == "failed"
    [delivery] = deliveries()
    assert (delivery.status, delivery.last_error) == ("failed", "接口回调已关闭，不再发送")
    assert receiver.received == []


def test_verify_signature_refuses_malformed_input() -> None:
    body = b'{"event":"ping"}'
    stamp = str(int(T0.timestamp()))
    secret = "whsec_dGVzdA=="
    good = {"webhook-id": "msg_1", "webhook-timestamp": stamp}
    good["webhook-signature"] = webhooks.sign(secret, "msg_1", stamp, body)
    assert verify_signature(secret, good, body, now=T0)
    assert verify_signature(secret, good, body.decode(), now=T0)
    for secret_, changes in (
        ("", {}),
        (secret, {"webhook-timestamp": ""}),
        (secret, {"webhook-timestamp": "12a"}),
        (secret, {"webhook-timestamp": "١٢٣"}),  # non-ASCII digits
        (secret, {"webhook-id": ""}),
        (secret, {"webhook-signature": ""}),
        (secret, {"webhook-signature": good["webhook-signature"].replace("v1,", "v2,")}),
        (secret, {"webhook-signature": "v1," + "A" * 44}),
        ("not base64!", {}),
    ):
        assert not verify_signature(secret_, {**good, **changes}, body, now=T0)


# --------------------------------------------------------------------------- auto-dispatch


def auto_shop(shop: Shop) -> Shop:
    shop.merchant.auto_dispatch = True
    db.session.commit()
    return shop


def test_auto_dispatch_on_return(shop: Shop, receiver: Receiver, app: Flask) -> None:
    auto_shop(shop)
    address = add_address(shop.merchant, default=True)
    webhooks.set_webhook_url(shop.merchant, receiver.url)
    db.session.commit()
    plain, held = assigned(shop, [order_no(1), order_no(2)])
    # After-sale arrives after the tracking number: the order stays returned for a person.
    result = return_tracking(shop.supplier, [TrackingItem(plain, "ZTO", zto_no(1))], None)
    db.session.commit()
    assert result.returned == [plain]
    auto = order(shop, plain)
    assert (auto.stage, auto.dispatched_by, auto.return_address_id) == (
        "dispatched",
        None,
        address.id,
    )
    [entry] = dispatch_events(auto.id)
    assert entry.actor_id is None and entry.note.startswith("自动发货")
    assert run_jobs(app) == 1
    assert [json.loads(r.body)["orders"][0]["order_no"] for r in receiver.received] == [plain]

    with pytest.raises(DomainError) as refused:
        cancel_return(shop.supplier, plain)
    assert refused.value.code == "dispatched"
    db.session.rollback()

    platform_push(shop, held, **HOLDS["audit_hold"].changes)  # assigned: taken back …
    assert order(shop, held).stage == "unassigned"
    platform_push(shop, held)  # … hold lifted, assigned again, then returned
    assert allocation.assign_orders(shop.merchant, [held], shop.supplier, shop.actor).done
    db.session.commit()
    db.session.execute(update(Order).where(Order.order_no == held).values(after_sale_active=True))
    db.session.commit()
    assert return_tracking(shop.supplier, [TrackingItem(held, "ZTO", zto_no(2))], None).returned
    db.session.commit()
    assert order(shop, held).stage == "returned"  # holds are never confirmed automatically


def test_auto_dispatch_needs_a_return_address_and_the_setting(shop: Shop, factory: Any) -> None:
    auto_shop(shop)
    first = assigned(shop, [order_no(1)])
    assert return_tracking(shop.supplier, [TrackingItem(first[0], "ZTO", zto_no(1))], None).returned
    db.session.commit()
    assert order(shop, first[0]).stage == "returned"  # no return address: left for a person
    db.session.commit()

    manual = bound_shop(factory)  # auto-dispatch off
    add_address(manual.merchant, default=True)
    [number] = assigned(manual, [order_no(2)])
    assert return_tracking(manual.supplier, [TrackingItem(number, "ZTO", zto_no(2))], None).returned
    db.session.commit()
    assert order(manual, number).stage == "returned"
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_auto_dispatch_sorts_a_supplier_return_by_merchant(shop: Shop, factory: Any) -> None:
    """One supplier's batch across two merchants: only the one with auto-dispatch ships."""
    auto_shop(shop)
    add_address(shop.merchant, default=True)
    other_user = new_user(factory, "merchant")
    other_merchant = db.session.get(Merchant, other_user.merchant.id)
    binding = bind(other_merchant, db.session.get(User, shop.supplier.user_id))
    other = Shop(other_merchant, shop.supplier, db.session.get(User, other_user.id), binding)
    add_address(other.merchant, default=True)
    mine = assigned(shop, [order_no(1)])
    theirs = assigned(other, [order_no(2)])
    items = [TrackingItem(mine[0], "ZTO", zto_no(1)), TrackingItem(theirs[0], "ZTO", zto_no(2))]
    assert len(return_tracking(shop.supplier, items, None).returned) == 2
    db.session.commit()
    assert order(shop, mine[0]).stage == "dispatched"
    assert order(other, theirs[0]).stage == "returned"


# --------------------------------------------------------------------------- settings UI

SETTINGS = "/merchant/settings"
SAVE = "/merchant/settings/webhook"
ROTATE = "/merchant/settings/webhook/secret"
PING = "/merchant/settings/webhook/ping"


@dataclass
class Ui:
    app: Flask
    browser: Any
    merchant_id: int

    def merchant(self) -> Merchant:
        with self.app.app_context():
            merchant = db.session.get(
                Merchant, self.merchant_id, options=[joinedload(Merchant.user)]
            )
            db.session.expunge_all()
            return merchant

    def deliveries(self) -> list[tuple[str, str, int]]:
        with self.app.app_context():
            return [
                (d.event, d.status, d.attempts)
                for d in db.session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.merchant_id == self.merchant_id)
                    .order_by(WebhookDelivery.id)
                )
            ]


@pytest.fixture
def ui(app: Flask, factory: Any, browser: Any) -> Ui:
    user = factory.merchant()
    browser.login(user.username)
    return Ui(app, browser, user.merchant.id)


def test_settings_page_shows_the_webhook_section(ui: Ui) -> None:
    page = ui.browser.get(SETTINGS).get_data(as_text=True)
    assert "接口回调" in page and 'id="webhook-section"' in page
    assert "还没有发送记录" in page
    assert "厂家回传运单号后自动发货" in page  # auto-dispatch is settable in 设置
    fragment = ui.browser.get(SETTINGS, htmx=True, target="webhook-section")
    text = fragment.get_data(as_text=True)
    assert text.lstrip().startswith('<section class="card" id="webhook-section">')
    assert "退货地址" not in text  # only the section


@pytest.mark.parametrize(
    "url",
    [
        "http://erp.example.com/hook",  # http only to this machine
        "ftp://127.0.0.1/hook",
        "not a url",
        "https://user:pw@erp.example.com/hook",
        "https:///nohost",
        "https://erp.example.com:99999/hook",
        "https://erp.example.com/" + "a" * 300,
        "https://例子.中国/hook",
    ],
)
def test_a_bad_url_is_refused(ui: Ui, url: str) -> None:
    response = ui.browser.post(SAVE, {"webhook_url": url}, target="webhook-section")
    assert response.status_code == 422
    assert "回调地址需为 https://" in response.get_data(as_text=True)
    merchant = ui.merchant()
    assert (merchant.webhook_url, merchant.webhook_secret) == ("", "")


def test_production_accepts_only_public_https(ui: Ui, app: Flask) -> None:
    app.config["WEBHOOK_ALLOW_LOCAL"] = False
    for url in (
        "http://127.0.0.1:8080/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.1.20/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest",
    ):
        response = ui.browser.post(SAVE, {"webhook_url": url}, target="webhook-section")
        assert response.status_code == 422, url
    response = ui.browser.post(SAVE, {"webhook_url": " https://erp.example.com/hook "})
    assert response.status_code == 200
    assert ui.merchant().webhook_url == "https://erp.example.com/hook"
    with app.app_context():
        # Resolved when sent: a public name must not lead to a private address.
        assert "内网" in webhooks._destination_refusal("https://localhost/hook")


def test_save_url_generates_the_secret_shown_once(ui: Ui, receiver: Receiver) -> None:
    response = ui.browser.post(SAVE, {"webhook_url": receiver.url}, target="webhook-section")
    assert response.status_code == 200
    merchant = ui.merchant()
    assert merchant.webhook_url == receiver.url
    secret = merchant.webhook_secret
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert secret in response.get_data(as_text=True)

    page = ui.browser.get(SETTINGS).get_data(as_text=True)
    assert secret not in page
    assert f"whsec_…{secret[-4:]}" in page

    # Saving the URL again keeps the secret; rotating needs the confirmation field.
    ui.browser.post(SAVE, {"webhook_url": receiver.url})
    assert ui.merchant().webhook_secret == secret
    assert ui.browser.post(ROTATE, {}, target="webhook-section").status_code == 422
    assert ui.merchant().webhook_secret == secret
    response = ui.browser.post(ROTATE, {"confirm": "1"}, target="webhook-section")
    rotated = ui.merchant().webhook_secret
    assert response.status_code == 200 and rotated != secret
    assert rotated in response.get_data(as_text=True)

    # An empty URL switches the webhook off (the secret stays for when it comes back).
    ui.browser.post(SAVE, {"webhook_url": ""})
    assert (ui.merchant().webhook_url, ui.merchant().webhook_secret) == ("", rotated)


def test_test_event_is_logged_and_delivered(ui: Ui, receiver: Receiver, app: Flask) -> None:
    refused = ui.browser.post(PING, {"event": "ping"}, target="webhook-section")
    assert refused.status_code == 409 and "请先设置接口回调地址" in refused.get_data(as_text=True)
    ui.browser.post(SAVE, {"webhook_url": receiver.url})
    response = ui.browser.post(PING, {"event": "ping"}, target="webhook-section")
    assert response.status_code == 200
    assert ui.deliveries() == [("ping", "pending", 0)]
    assert "测试事件" in response.get_data(as_text=True)
    assert 'hx-trigger="every 10s"' in response.get_data(as_text=True)  # refreshes itself

    assert queue.run_pending(app) == 1
    assert ui.deliveries() == [("ping", "delivered", 1)]
    [request] = receiver.received
    merchant = ui.merchant()
    assert request.headers["X-Portal-Event"] == "ping"
    assert verify_signature(merchant.webhook_secret, request.headers, request.body)
    assert json.loads(request.body)["merchant_shop_id"] == merchant.shop_id
    log = ui.browser.get(SETTINGS, htmx=True, target="webhook-deliveries").get_data(as_text=True)
    assert "已送达" in log and "HTTP 200" in log and "every 10s" not in log


def test_a_failed_delivery_can_be_sent_again(
    ui: Ui, receiver: Receiver, app: Flask, factory: Any, make_browser: Any
) -> None:
    ui.browser.post(SAVE, {"webhook_url": receiver.url})
    ui.browser.post(PING, {"event": "ping"})
    queue.run_pending(app)
    with app.app_context():
        delivery_id = db.session.scalar(select(WebhookDelivery.id))
        retry = f"/merchant/settings/webhook/deliveries/{delivery_id}/retry"
    assert ui.browser.post(retry, target="webhook-section").status_code == 409  # delivered

    with app.app_context():
        db.session.execute(
            update(WebhookDelivery).values(status="failed", attempts=6, next_attempt_at=None)
        )
        db.session.commit()
    page = ui.browser.get(SETTINGS).get_data(as_text=True)
    assert "发送失败" in page and "重新发送" in page
    assert ui.browser.post(retry, target="webhook-section").status_code == 200
    assert ui.deliveries() == [("ping", "pending", 0)]
    assert queue.run_pending(app) == 1
    assert ui.deliveries() == [("ping", "delivered", 1)]

    stranger = factory.merchant()
    other_browser = make_browser()
    other_browser.login(stranger.username)
    assert other_browser.post(retry).status_code == 404


def test_empty_posts_change_nothing(ui: Ui, receiver: Receiver, app: Flask) -> None:
    ui.browser.post(SAVE, {"webhook_url": receiver.url})
    before = ui.merchant()
    for url in (SAVE, ROTATE, PING):
        for htmx in (True, False):
            response = ui.browser.post(url, {}, htmx=htmx)
            assert response.status_code == 422, url
    after = ui.merchant()
    assert (after.webhook_url, after.webhook_secret) == (before.webhook_url, before.webhook_secret)
    assert ui.deliveries() == []
    assert queue.pending_count(app) == 0


# --------------------------------------------------------------------------- webhook safety

IPV6_FORMS_OF_PRIVATE = (
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:10.0.0.1",  # IPv4-mapped
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "fec0::1",  # site-local
)


@pytest.mark.parametrize("address", IPV6_FORMS_OF_PRIVATE)
def test_ipv6_forms_that_reach_private_ipv4_are_refused(app: Flask, address: str, monkeypatch):
    app.config["WEBHOOK_ALLOW_LOCAL"] = False
    with app.test_request_context():
        with pytest.raises(DomainError):
            webhooks.validate_webhook_url(f"https://[{address}]/hook")

        def resolve(host, port, *args, **kwargs):
            return [(10, 1, 6, "", (address, port, 0, 0))]

        monkeypatch.setattr(webhooks.socket, "getaddrinfo", resolve)
        assert "内网" in webhooks._destination_refusal("https://erp.example.com/hook")


def test_delivery_connects_to_the_address_it_checked(app: Flask, monkeypatch):
    """DNS rebinding: the name answers a public address to the check and loopback after it;
    the portal resolves once and connects to the checked address."""
    app.config["WEBHOOK_ALLOW_LOCAL"] = False
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    lookups, connections = [], []

    def resolve(host, port, *args, **kwargs):
        lookups.append(host)
        return [(2, 1, 6, "", (next(answers), port))]

    def connect(address, *args, **kwargs):
        connections.append(address)
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(webhooks.socket, "create_connection", connect)
    with app.app_context():
        outcome = webhooks._post("https://erp.example.com/hook", {}, b"{}")
    assert not outcome.ok
    assert lookups == ["erp.example.com"]
    assert connections == [("93.184.216.34", 443)]


def test_the_url_name_is_the_host_header_on_the_pinned_connection(
    hooked: Shop, receiver: Receiver, app: Flask
):
    port = receiver.server.server_port
    hooked.merchant.webhook_url = f"http://localhost:{port}/portal/hook"
    db.session.commit()
    webhooks.send_test_event(hooked.merchant)
    db.session.commit()
    run_jobs(app)
    [request] = receiver.received
    assert request.headers["Host"] == f"localhost:{port}"


def test_a_rotated_secret_signs_alongside_the_new_one_for_a_day(
    hooked: Shop, receiver: Receiver, app: Flask
):
    old = hooked.merchant.webhook_secret
    new = webhooks.rotate_webhook_secret(hooked.merchant)
    db.session.commit()
    rotated_at = hooked.merchant.webhook_secret_rotated_at
    assert webhooks.secrets_in_force(new, old, rotated_at, rotated_at + timedelta(hours=23)) == [
        new,
        old,
    ]
    assert webhooks.secrets_in_force(new, old, rotated_at, rotated_at + timedelta(hours=25)) == [
        new
    ]
    webhooks.send_test_event(hooked.merchant)
    db.session.commit()
    run_jobs(app)
    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)  # receivers not yet switched
    Webhook(new).verify(request.body, request.headers)
    assert new.startswith("whsec_") and len(new) <= 64

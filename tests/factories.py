"""Test data builders shared by several test modules."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import event

from portal.domain.imports.platform_export import ImportedOrder
from portal.extensions import db

# Orders are paid a day before the test session and due two days after its start (the hour
# it started, so two orders built in one test hash alike): never overdue and never near due
# however the calendar moves, unless a test says so.
SESSION_HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

BASE_ORDER = ImportedOrder(
    row=0,
    order_no="261121-000000000000001",
    platform_status="awaiting_shipment",
    platform_status_text="待发货",
    after_sale_status="",
    after_sale_active=False,
    audit_hold=False,
    paid_at=SESSION_HOUR - timedelta(days=1),
    promise_ship_at=SESSION_HOUR + timedelta(days=2),
    receiver_name="张伟",
    receiver_phone="13577446522",
    province="广东省",
    city="广州市",
    district="天河区",
    detail="石牌街道团结路887号18栋3004室",
    goods_id="9021334455",
    goods_name="加厚珊瑚绒毛毯 冬季保暖",
    spec="150x200cm 灰色",
    style_id="100000",
    sku_code="BLK-150-GRY",
    goods_code="4455",
    quantity=2,
    tracking_no="",
    courier_name="",
    merchant_note="",
    buyer_note="请尽快发货",
    goods_total_fen=17980,
    paid_fen=17180,
    merchant_received_fen=17480,
)


def demo_order(order_no: str = BASE_ORDER.order_no, **changes: object) -> ImportedOrder:
    """An awaiting-shipment order with a complete address; override any field."""
    return replace(BASE_ORDER, order_no=order_no, **changes)


def later(hours: int = 1) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


# The header row of a Kuaishou (快手小店) order export: a layout the portal names, not reads.
KUAISHOU_HEADER = ["订单号", "商品名称", "商品数量", "收货人", "收货人电话", "达人ID", "收货地址"]


@contextlib.contextmanager
def statements_sent(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the block sends through the app's engine (executemany once)."""
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)

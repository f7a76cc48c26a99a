"""The platform's batch-shipping file (批量发货): a merchant's dispatched orders as CSV or XLSX."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from portal.domain.couriers import platform_courier_name
from portal.domain.formatting import SHANGHAI
from portal.domain.spreadsheets import csv_chunks, write_xlsx
from portal.extensions import db
from portal.models import Merchant, Order
from portal.models.base import utcnow
from portal.models.orders import STAGE_DISPATCHED

EXPORT_BATCH = 2000
# The platform's batch-shipping (批量发货) columns. Not translated: the platform reads them.
EXPORT_HEADER = ("订单号", "快递公司", "快递单号")


# --- the platform's batch-shipping file ----------------------------------------------------


def dispatch_export_rows(
    merchant: Merchant,
    since: datetime | None = None,
    until: datetime | None = None,
    batch: int = EXPORT_BATCH,
) -> Iterator[list[str]]:
    """Header, then one row per dispatched order (订单号, 快递公司, 快递单号) in dispatch order,
    dispatched in [since, until); read in keyset batches, so memory stays flat."""
    yield list(EXPORT_HEADER)
    conditions = [Order.merchant_id == merchant.id, Order.stage == STAGE_DISPATCHED]
    if since is not None:
        conditions.append(Order.dispatched_at >= since)
    if until is not None:
        conditions.append(Order.dispatched_at < until)
    after: tuple[datetime, int] | None = None
    while True:
        query = select(
            Order.id, Order.order_no, Order.courier, Order.tracking_no, Order.dispatched_at
        )
        query = query.where(*conditions)
        if after is not None:
            at, last_id = after
            query = query.where(
                or_(Order.dispatched_at > at, and_(Order.dispatched_at == at, Order.id > last_id))
            )
        rows = db.session.execute(query.order_by(Order.dispatched_at, Order.id).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield [row.order_no, platform_courier_name(row.courier), row.tracking_no]
        after = (rows[-1].dispatched_at, rows[-1].id)


def dispatch_export_csv(
    merchant: Merchant, since: datetime | None = None, until: datetime | None = None
) -> Iterator[str]:
    return csv_chunks(dispatch_export_rows(merchant, since, until))


def dispatch_export_xlsx(
    merchant: Merchant,
    target: IO[bytes],
    since: datetime | None = None,
    until: datetime | None = None,
) -> None:
    """The same rows as an XLSX. Every cell is text, so long all-digit tracking numbers keep
    their digits."""
    write_xlsx(target, _("批量发货"), dispatch_export_rows(merchant, since, until))


def dispatch_export_filename(extension: str, now: datetime | None = None) -> str:
    return f"dispatch-{(now or utcnow()).astimezone(SHANGHAI):%Y%m%d-%H%M}.{extension}"

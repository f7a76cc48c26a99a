"""Order upsert keyed by (merchant, order number): import and API share this one path.

Rows are processed in batches with set-based statements: one SELECT of the existing orders,
one bulk INSERT, one bulk UPDATE, then the §4.2 consequences (automatic cancellation, address
change holds) as compare-and-set statements evaluated against the rows' current state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import delete, insert, select, update

from portal.domain import allocation, allocation_rules
from portal.domain.imports.platform_export import ImportedLine, ImportedOrder, RowError
from portal.domain.orders.rules import assign_blocker
from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.lookups import NormalizedReceiver
from portal.domain.privacy.phones import Phone, is_valid_phone
from portal.domain.privacy.receiver import ReceiverProtector
from portal.domain.regions import is_complete_address, is_region_unverified, normalize_region
from portal.extensions import db, insert_rows
from portal.models import Merchant, Order, OrderEvent, OrderLine
from portal.models.base import utcnow
from portal.models.orders import (
    AT_FACTORY_STAGES,
    CANCEL_AFTER_SALE,
    CANCEL_AUDIT,
    CANCEL_ORDER_CANCELLED,
    EVENT_ADDRESS_CHANGED,
    EVENT_AFTER_SALE,
    EVENT_AUDIT_HOLD,
    EVENT_CANCELLED,
    EVENT_HOLD_LIFTED,
    PLATFORM_CANCELLED,
    STAGE_UNASSIGNED,
)

BATCH_SIZE = 1000
MAX_REPORTED_REJECTIONS = 1000

# json.dumps(payload, ensure_ascii=False) without building an encoder for every row.
_HASH_JSON = json.JSONEncoder(ensure_ascii=False)


@dataclass(frozen=True)
class Rejection:
    order_no: str
    code: str
    message: str
    row: int | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "order_no": self.order_no,
            "code": self.code,
            "message": self.message,
        }
        if self.row is not None:
            data["row"] = self.row
        return data


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_count: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    cancelled_assignments: int = 0

    def reject(self, rejection: Rejection) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED_REJECTIONS:
            self.rejected.append(rejection)

    def add(self, other: UpsertResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.cancelled_assignments += other.cancelled_assignments
        for rejection in other.rejected:
            self.reject(rejection)
        self.rejected_count += other.rejected_count - len(other.rejected)

    def as_dict(self) -> dict[str, object]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [r.as_dict() for r in self.rejected],
            "rejected_count": self.rejected_count,
            "cancelled_assignments": self.cancelled_assignments,
        }


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def upsert_orders(
    keyring: KeyRing,
    merchant: Merchant,
    rows: Iterable[ImportedOrder | RowError],
    *,
    batch_size: int = BATCH_SIZE,
    after_batch: object = None,
) -> UpsertResult:
    """Create or update orders; a refused row is reported and the others go in.

    `after_batch(result_so_far, rows_seen)` runs after each batch: the import job commits and
    records progress there, so a killed import keeps every committed batch and nothing partial.
    """
    total = UpsertResult()
    seen = 0
    order_nos: set[str] = set()
    protector = ReceiverProtector(keyring, merchant.id)
    for batch in batched(rows, batch_size):
        seen += len(batch)
        total.add(_upsert_batch(protector, merchant, batch, order_nos))
        if after_batch is not None:
            after_batch(total, seen)  # type: ignore[operator]
    return total


def _content_hash(row: ImportedOrder, key: str) -> str:
    """Digest of everything we store from a row; the receiver enters only as its keyed HMAC."""
    payload = [
        row.platform_status,
        row.platform_status_text,
        row.after_sale_status,
        row.after_sale_active,
        row.audit_hold,
        row.paid_at.isoformat() if row.paid_at else "",
        row.promise_ship_at.isoformat() if row.promise_ship_at else "",
        key,
        row.province,
        row.city,
        row.district,
        row.goods_id,
        row.goods_name,
        row.spec,
        row.style_id,
        row.sku_code,
        row.goods_code,
        row.quantity,
        row.tracking_no,
        row.courier_name,
        row.merchant_note,
        row.buyer_note,
        row.goods_total_fen,
        row.paid_fen,
        row.merchant_received_fen,
    ]
    if row.more_lines:
        # Only then: a single-line order hashes as it always did, so nothing stored before
        # order lines existed looks changed on its next import.
        payload.append([list(_line_tuple(line)) for line in row.more_lines])
    return hashlib.sha256(_HASH_JSON.encode(payload).encode()).hexdigest()


def sku_key_for(sku_code: str, goods_id: str, spec: str) -> str:
    return sku_code or f"{goods_id}|{spec}"


def _line_tuple(line: ImportedLine) -> tuple[object, ...]:
    return (
        line.goods_id,
        line.goods_name,
        line.spec,
        line.style_id,
        line.sku_code,
        line.goods_code,
        line.quantity,
    )


def line_rows(merchant_id: int, order_id: int, row: ImportedOrder) -> list[dict[str, object]]:
    """The order_lines rows of one order, line 1 first."""
    return [
        {
            "order_id": order_id,
            "merchant_id": merchant_id,
            "line_no": number,
            "goods_id": line.goods_id,
            "goods_name": line.goods_name,
            "spec": line.spec,
            "style_id": line.style_id,
            "sku_code": line.sku_code,
            "goods_code": line.goods_code,
            "quantity": line.quantity,
            "sku_key": sku_key_for(line.sku_code, line.goods_id, line.spec),
        }
        for number, line in enumerate(row.lines, start=1)
    ]


def _write_lines(
    merchant_id: int, orders: list[tuple[int, ImportedOrder]], *, replace: bool
) -> None:
    """Write the lines of these orders in one executemany (after deleting the old ones)."""
    if not orders:
        return
    if replace:
        db.session.execute(
            delete(OrderLine).where(
                OrderLine.merchant_id == merchant_id,
                OrderLine.order_id.in_([order_id for order_id, _ in orders]),
            )
        )
    insert_rows(
        OrderLine.__table__,
        [item for order_id, row in orders for item in line_rows(merchant_id, order_id, row)],
    )


def _validate(row: ImportedOrder, phone: Phone, order_nos: set[str]) -> Rejection | None:
    if row.order_no in order_nos:
        # Callers' readers catch repeats too, but two rows for one order in a batch would
        # otherwise be two INSERTs and an IntegrityError for the whole batch.
        return Rejection(
            row.order_no,
            "duplicate_order_no",
            f"订单号 {row.order_no} 重复出现，本条未导入",
            row.row or None,
        )
    if row.receiver_phone and not is_valid_phone(phone):
        return Rejection(
            row.order_no, "invalid_phone", f"手机号格式不正确：第 {row.row} 行", row.row or None
        )
    return None


def _normalized_receiver(row: ImportedOrder) -> NormalizedReceiver:
    return NormalizedReceiver.of(
        row.receiver_name, row.receiver_phone, row.province, row.city, row.district, row.detail
    )


def receiver_values(
    protector: ReceiverProtector, order_no: str, receiver: NormalizedReceiver, key: str
) -> dict[str, object]:
    """An order's stored receiver columns: ciphertexts, masks, blind indexes and region flags.

    The import and the merchant's own edit (portal.domain.orders.edits) both store a receiver this
    way.
    """
    protected = protector.protect(order_no, receiver, key)
    # The platform's names are authoritative (DESIGN §10.2): spelled as the division table
    # does where they match, kept as given otherwise and then only flagged.
    province, city, district = normalize_region(receiver.province, receiver.city, receiver.district)
    return {
        "name_enc": protected.name_enc,
        "phone_enc": protected.phone_enc,
        "detail_enc": protected.detail_enc,
        "name_mask": protected.name_mask,
        "phone_mask": protected.phone_mask,
        "detail_mask": protected.detail_mask,
        "province": province,
        "city": city,
        "district": district,
        "phone_index": protected.phone_index,
        "name_index": protected.name_index,
        "receiver_key": key,
        "address_complete": is_complete_address(province, city, district, receiver.detail),
        "region_unverified": is_region_unverified(province, city, district),
    }


def _order_values(
    protector: ReceiverProtector,
    row: ImportedOrder,
    receiver: NormalizedReceiver,
    key: str,
    digest: str,
) -> dict[str, object]:
    return {
        **receiver_values(protector, row.order_no, receiver, key),
        "platform_receiver_key": key,
        **_platform_values(row, digest),
    }


def _platform_values(row: ImportedOrder, digest: str) -> dict[str, object]:
    """Everything an order stores from the platform's row except its receiver."""
    return {
        "platform_status": row.platform_status,
        "platform_status_text": row.platform_status_text,
        "after_sale_status": row.after_sale_status,
        "after_sale_active": row.after_sale_active,
        "audit_hold": row.audit_hold,
        "paid_at": row.paid_at,
        "promise_ship_at": row.promise_ship_at,
        "buyer_note": row.buyer_note,
        "merchant_note": row.merchant_note,
        "goods_id": row.goods_id,
        "goods_name": row.goods_name,
        "spec": row.spec,
        "style_id": row.style_id,
        "sku_code": row.sku_code,
        "goods_code": row.goods_code,
        "quantity": row.quantity,
        "sku_key": sku_key_for(row.sku_code, row.goods_id, row.spec),
        "line_count": 1 + len(row.more_lines),
        "goods_total_fen": row.goods_total_fen,
        "paid_fen": row.paid_fen,
        "merchant_received_fen": row.merchant_received_fen,
        "platform_tracking_no": row.tracking_no,
        "platform_courier": row.courier_name,
        "content_hash": digest,
    }


def _upsert_batch(
    protector: ReceiverProtector,
    merchant: Merchant,
    batch: list[ImportedOrder | RowError],
    order_nos: set[str],
) -> UpsertResult:
    """Upsert one batch; `order_nos` are the numbers already taken earlier in this call."""
    result = UpsertResult()
    rows: list[tuple[ImportedOrder, NormalizedReceiver]] = []
    for row in batch:
        if isinstance(row, RowError):
            result.reject(Rejection(row.order_no, row.code, row.message, row.row))
            continue
        # Normalised once: the phone check, the receiver key and the protection share it.
        receiver = _normalized_receiver(row)
        rejection = _validate(row, receiver.phone, order_nos)
        if rejection:
            result.reject(rejection)
        else:
            order_nos.add(row.order_no)
            rows.append((row, receiver))
    if not rows:
        return result

    now = utcnow()
    changes = _Changes()
    fresh: list[tuple[ImportedOrder, NormalizedReceiver, str, str]] = []
    existing = _existing(merchant, [row.order_no for row, _ in rows])
    for row, receiver in rows:
        key = protector.receiver_key(receiver)
        digest = _content_hash(row, key)
        old = existing.get(row.order_no)
        if old is None:
            fresh.append((row, receiver, key, digest))
        else:
            changes.plan(protector, merchant, old, row, receiver, key, digest, now)

    inserts: list[dict[str, object]] = []
    for row, receiver, key, digest in fresh:
        values = _order_values(protector, row, receiver, key, digest)
        values.update(merchant_id=merchant.id, order_no=row.order_no, created_at=now)
        values["updated_at"] = now
        inserts.append(values)
    placed = allocation_rules.preassign(
        merchant, inserts, now, {row.order_no: row.lines for row, *_ in fresh}
    )
    inserted: dict[str, int] = {}
    if inserts:
        inserted = _insert_new(inserts)
        result.created += len(inserted)
        _write_lines(
            merchant.id,
            [(inserted[row.order_no], row) for row, *_ in fresh if row.order_no in inserted],
            replace=False,
        )
        placed = {no: hit for no, hit in placed.items() if no in inserted}
        # Another request inserted these between our read and our insert (ON CONFLICT DO
        # NOTHING waited for it to commit): they are existing orders now, updated as such.
        lost = [item for item in fresh if item[0].order_no not in inserted]
        if lost:
            existing = _existing(merchant, [row.order_no for row, *_ in lost])
            for row, receiver, key, digest in lost:
                old = existing[row.order_no]
                changes.plan(protector, merchant, old, row, receiver, key, digest, now)
    if placed:
        allocation_rules.record_preassigned(merchant, placed, inserted, now)
    result.unchanged += changes.unchanged
    if updates := changes.updates:
        # Bulk UPDATE by primary key: one executemany for the whole batch. In id order, like
        # every other writer (allocation.lock_orders): an export lists orders newest first,
        # and locking them in that order deadlocks against a concurrent assign or cancel.
        updates.sort(key=lambda values: values["id"])
        db.session.execute(update(Order), updates)
        _write_lines(merchant.id, changes.relined, replace=True)
        result.updated += len(updates)
    if changes.events:
        db.session.execute(insert(OrderEvent), [{**e, "created_at": now} for e in changes.events])
    if changes.to_check_holds:
        result.cancelled_assignments += _cancel_for_holds(merchant, changes.to_check_holds)
    if changes.address_changed:
        _hold_for_address_change(merchant, changes.address_changed, now)
    if changes.arrived:
        allocation_rules.assign_arrived(merchant, changes.arrived)
    return result


def _existing(merchant: Merchant, order_nos: list[str]) -> dict[str, Any]:
    """The stored state the upsert compares with, by order number."""
    return {
        item.order_no: item
        for item in db.session.execute(
            select(
                Order.id,
                Order.order_no,
                Order.content_hash,
                Order.receiver_key,
                Order.platform_receiver_key,
                Order.after_sale_active,
                Order.audit_hold,
                Order.platform_status,
                Order.stage,
                Order.address_complete,
            ).where(Order.merchant_id == merchant.id, Order.order_no.in_(order_nos))
        )
    }


def _insert_new(inserts: list[dict[str, object]]) -> dict[str, int]:
    """INSERT … ON CONFLICT (merchant, order number) DO NOTHING; the ids of the numbers
    actually inserted.

    A Core INSERT of the whole batch (extensions.insert_rows: every dict has the same keys),
    without the ORM bulk path's per-row bookkeeping; new orders are not loaded into the session.
    """
    table = Order.__table__
    inserted = insert_rows(
        table,
        inserts,
        conflict_do_nothing=("merchant_id", "order_no"),
        returning=(table.c.order_no, table.c.id),
    )
    return {no: order_id for no, order_id in inserted or ()}


@dataclass
class _Changes:
    """What an upsert batch does to orders that exist already."""

    unchanged: int = 0
    updates: list[dict[str, object]] = field(default_factory=list)
    events: list[dict[str, object]] = field(default_factory=list)
    # Changed orders, whose lines are written again.
    relined: list[tuple[int, ImportedOrder]] = field(default_factory=list)
    address_changed: list[int] = field(default_factory=list)
    to_check_holds: list[int] = field(default_factory=list)
    # Orders that could not be assigned before: the allocation rules' turn (new orders get
    # theirs as they are inserted).
    arrived: list[str] = field(default_factory=list)

    def plan(
        self,
        protector: ReceiverProtector,
        merchant: Merchant,
        old: Any,
        row: ImportedOrder,
        receiver: NormalizedReceiver,
        key: str,
        digest: str,
        now: object,
    ) -> None:
        if old.content_hash == digest:
            self.unchanged += 1
            return
        if old.platform_receiver_key == key:
            # The platform still sends the receiver it sent before: the stored one stays, be it
            # that one or the merchant's correction of it (orders.edits keeps this key).
            values = _platform_values(row, digest)
        else:
            values = _order_values(protector, row, receiver, key, digest)
            if old.receiver_key != key:
                self.address_changed.append(old.id)
        values.update(id=old.id, updated_at=now)
        self.updates.append(values)
        self.relined.append((old.id, row))
        if old.stage == STAGE_UNASSIGNED and assign_blocker(old) is not None:
            self.arrived.append(row.order_no)
        event = _change_event(old, row)
        if event:
            self.events.append({"order_id": old.id, "merchant_id": merchant.id, **event})
        if row.after_sale_active or row.audit_hold or row.platform_status == PLATFORM_CANCELLED:
            self.to_check_holds.append(old.id)


def _change_event(old: object, row: ImportedOrder) -> dict[str, object] | None:
    """The platform-side change worth a line in the order's history (most important first)."""
    if row.platform_status == PLATFORM_CANCELLED and old.platform_status != PLATFORM_CANCELLED:
        return {"kind": EVENT_CANCELLED, "note": row.platform_status_text[:200]}
    if row.after_sale_active and not old.after_sale_active:
        return {"kind": EVENT_AFTER_SALE, "note": row.after_sale_status[:200]}
    if row.audit_hold and not old.audit_hold:
        return {"kind": EVENT_AUDIT_HOLD, "note": ""}
    if (old.after_sale_active and not row.after_sale_active) or (
        old.audit_hold and not row.audit_hold
    ):
        return {"kind": EVENT_HOLD_LIFTED, "note": ""}
    return None


def _cancel_for_holds(merchant: Merchant, order_ids: list[int]) -> int:
    """§4.2: an assignment without tracking is cancelled by cancellation, after-sale or audit.

    Each statement re-checks the order's current state, so an assignment made concurrently
    after our read is caught as well.
    """
    cancelled = 0
    for reason, condition in (
        (CANCEL_ORDER_CANCELLED, Order.platform_status == PLATFORM_CANCELLED),
        (CANCEL_AFTER_SALE, Order.after_sale_active.is_(True)),
        (CANCEL_AUDIT, Order.audit_hold.is_(True)),
    ):
        cancelled += len(
            allocation.cancel_assignments_where(merchant.id, order_ids, reason, None, condition)
        )
    return cancelled


def _hold_for_address_change(merchant: Merchant, order_ids: list[int], now: object) -> None:
    """Block printing until the merchant acknowledges (assigned), or warn at dispatch (returned)."""
    changed = db.session.execute(
        update(Order)
        .where(
            Order.merchant_id == merchant.id,
            Order.id.in_(order_ids),
            Order.stage.in_(AT_FACTORY_STAGES),
        )
        .values(address_change_pending=True)
        .returning(Order.id, Order.supplier_id)
    ).all()
    if changed:
        db.session.execute(
            insert(OrderEvent),
            [
                {
                    "order_id": order_id,
                    "merchant_id": merchant.id,
                    "kind": EVENT_ADDRESS_CHANGED,
                    "supplier_id": supplier_id,
                    "created_at": now,
                }
                for order_id, supplier_id in changed
            ],
        )

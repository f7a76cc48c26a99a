"""The merchant's own changes to an order: a corrected receiver, its note to the factory and
its flag (DESIGN §10.2).

The receiver is stored exactly as an import stores it (portal.domain.orders.upsert.receiver_values);
on an assigned order the change counts as acknowledged (allocation.accepted_address_values).
Order.platform_receiver_key stays the platform's: later imports keep the correction until the
platform's own receiver changes.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, update

from portal.domain import allocation, allocation_rules
from portal.domain.errors import DomainError
from portal.domain.orders.queries import receiver_for_merchant
from portal.domain.orders.rules import assign_blocker
from portal.domain.orders.upsert import receiver_values
from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.lookups import NormalizedReceiver
from portal.domain.privacy.masks import mask_free_text
from portal.domain.privacy.receiver import ReceiverProtector
from portal.extensions import db
from portal.models import Merchant, Order, OrderEvent, User
from portal.models.base import utcnow
from portal.models.orders import (
    EVENT_RECEIVER_EDITED,
    STAGE_ASSIGNED,
    STAGE_UNASSIGNED,
)

# Until the factory returns a tracking number; after that the parcel may already carry the label.
EDITABLE_STAGES = (STAGE_UNASSIGNED, STAGE_ASSIGNED)
NOTE_LIMIT = OrderEvent.__table__.c.note.type.length
TRACKING_RETURNED = _l("厂家已回传运单号，不能再修改收货信息")
FACTORY_NOTE_LIMIT = Order.__table__.c.factory_note.type.length
FACTORY_NOTE_MASK_LIMIT = Order.__table__.c.factory_note_mask.type.length
FLAGS = range(6)  # 0 grey (no flag) … 5, the merchant's colours


def _masks(order: Order) -> str:
    """The receiver as the history may show it: masks and the region, never plaintext."""
    region = f"{order.province}{order.city}{order.district}"
    return " ".join(p for p in (order.name_mask, order.phone_mask, region + order.detail_mask) if p)


def edit_receiver(
    keyring: KeyRing,
    merchant: Merchant,
    order: Order,
    changes: Mapping[str, str],
    actor: User | None,
) -> bool:
    """Apply the given receiver fields (portal.domain.orders.inputs.parse_receiver_patch); False
    when nothing changed. Refused with `tracking_returned` once the factory returned a number."""
    if order.stage not in EDITABLE_STAGES:
        raise DomainError("tracking_returned", str(TRACKING_RETURNED))
    plain = receiver_for_merchant(keyring, merchant, order)
    current = {
        "name": plain.name,
        "phone": plain.phone,
        "province": order.province,
        "city": order.city,
        "district": order.district,
        "detail": plain.detail,
    }
    receiver = NormalizedReceiver.of(**{**current, **changes})
    protector = ReceiverProtector(keyring, merchant.id)
    key = protector.receiver_key(receiver)
    values = receiver_values(protector, order.order_no, receiver, key)
    if order.factory_note:
        masked = mask_free_text(order.factory_note, [receiver.name])
        values["factory_note_mask"] = masked[:FACTORY_NOTE_MASK_LIMIT]
    if key == order.receiver_key and all(
        getattr(order, name) == values[name] for name in ("province", "city", "district")
    ):
        return False
    before = _masks(order)
    was_blocked = order.stage == STAGE_UNASSIGNED and assign_blocker(order) is not None
    now = utcnow()
    # Compare-and-set on the stage: a number returned meanwhile refuses the edit.
    edited = db.session.execute(
        update(Order)
        .where(
            Order.id == order.id,
            Order.merchant_id == merchant.id,
            Order.stage.in_(EDITABLE_STAGES),
        )
        .values(**values, **allocation.accepted_address_values(now))
        .returning(Order.stage, Order.supplier_id)
    ).one_or_none()
    if edited is None:
        raise DomainError("tracking_returned", str(TRACKING_RETURNED))
    db.session.refresh(order)
    note = f"{before} → {_masks(order)}"
    db.session.execute(
        insert(OrderEvent),
        [
            {
                "order_id": order.id,
                "merchant_id": merchant.id,
                "kind": EVENT_RECEIVER_EDITED,
                "actor_id": actor.id if actor else None,
                "supplier_id": edited.supplier_id if edited.stage == STAGE_ASSIGNED else None,
                "note": note[:NOTE_LIMIT],
                "created_at": now,
            }
        ],
    )
    if was_blocked and assign_blocker(order) is None:
        # Complete now: the allocation rules' turn, as for an import that completes it.
        allocation_rules.assign_arrived(merchant, [order.order_no])
        db.session.refresh(order)
    return True


def set_note(
    keyring: KeyRing, merchant: Merchant, order: Order, note: str, flag: int | None = None
) -> None:
    """The merchant's note to the factory (masked for it now) and, when given, its flag.

    The factory's copy masks phone-like text and names: the receiver's own and any after a
    cue such as 联系人 (privacy.mask_free_text, as buyer notes on a 隐私面单)."""
    note = note.strip()
    if len(note) > FACTORY_NOTE_LIMIT:
        raise DomainError(
            "field_too_long", f"备注最多 {FACTORY_NOTE_LIMIT} 个字", field="note", status=422
        )
    if flag is not None and flag not in FLAGS:
        raise DomainError("validation_error", "旗帜应为 0 到 5", field="flag", status=422)
    values: dict[str, object] = {"factory_note": note, "factory_note_mask": ""}
    if note:
        name = receiver_for_merchant(keyring, merchant, order).name
        values["factory_note_mask"] = mask_free_text(note, [name])[:FACTORY_NOTE_MASK_LIMIT]
    if flag is not None:
        values["flag"] = flag
    db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.merchant_id == merchant.id)
        .values(**values, updated_at=utcnow())
    )
    db.session.refresh(order)

"""JSON shapes of API objects — one function per object, used by every endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from portal.allocation import Refusal
from portal.errors import message_for
from portal.models import Binding, Merchant, Order, ReturnAddress, Supplier, User
from portal.orders.inputs import OrderRejection
from portal.orders.queries import Receiver
from portal.orders.rules import assign_blockers, print_blockers
from portal.orders.upsert import UpsertResult


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def shop_ref(profile: Merchant | Supplier) -> dict[str, str]:
    return {"shop_id": profile.shop_id, "shop_name": profile.shop_name}


def me(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "shop_id": user.shop_id,
        "shop_name": user.shop_name,
    }


def binding(item: Binding) -> dict[str, Any]:
    return {
        "id": item.id,
        "status": item.status,
        "message": item.message,
        "merchant": shop_ref(item.merchant),
        "supplier": shop_ref(item.supplier),
        "created_at": iso(item.created_at),
        "decided_at": iso(item.decided_at),
        "ended_at": iso(item.ended_at),
        "ended_by": item.ended_by,
    }


def return_address(item: ReturnAddress) -> dict[str, Any]:
    return {
        "id": item.id,
        "contact_name": item.contact_name,
        "phone": item.phone,
        "province": item.province,
        "city": item.city,
        "district": item.district,
        "detail": item.detail,
        "is_default": item.is_default,
    }


def refusal(item: Refusal) -> dict[str, str]:
    """A per-order refusal of a batch action: its stable code and the code's message."""
    return {"order_no": item.order_no, "code": item.code, "message": message_for(item.code)}


def upsert_result(
    result: UpsertResult, input_rejections: Iterable[OrderRejection] = ()
) -> dict[str, Any]:
    """Counts of an upsert; orders refused before it (bad JSON fields) are listed first."""
    answer = result.as_dict()
    refused = [item.as_dict() for item in input_rejections]
    answer["rejected"] = [*refused, *answer["rejected"]]
    answer["rejected_count"] = result.rejected_count + len(refused)
    return answer


def order(item: Order, receiver: Receiver) -> dict[str, Any]:
    """An order as the owning merchant sees it, with the plain receiver (DESIGN §8.2)."""
    return {
        "order_no": item.order_no,
        "platform_status": item.platform_status,
        "platform_status_text": item.platform_status_text,
        "after_sale_active": item.after_sale_active,
        "after_sale_status": item.after_sale_status,
        "audit_hold": item.audit_hold,
        "paid_at": iso(item.paid_at),
        "promise_ship_at": iso(item.promise_ship_at),
        "buyer_note": item.buyer_note,
        "merchant_note": item.merchant_note,
        "receiver": {
            "name": receiver.name,
            "phone": receiver.phone,
            "province": item.province,
            "city": item.city,
            "district": item.district,
            # The whole line after the district is stored as one (the platform's 街道).
            "street": "",
            "detail": receiver.detail,
        },
        "lines": [
            {
                "goods_id": item.goods_id,
                "goods_name": item.goods_name,
                "spec": item.spec,
                "sku_code": item.sku_code,
                "quantity": item.quantity,
            }
        ],
        "goods_total_fen": item.goods_total_fen,
        "paid_fen": item.paid_fen,
        "merchant_received_fen": item.merchant_received_fen,
        "stage": item.stage,
        "supplier": shop_ref(item.supplier) if item.supplier else None,
        "tracking": [],  # returned tracking numbers arrive with the factory desk
        "assign_blockers": assign_blockers(item),
        "print_blockers": print_blockers(item),
        "address_change_pending": item.address_change_pending,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }

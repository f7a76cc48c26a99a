"""JSON shapes of API objects — one function per object, used by every endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from portal.models import Binding, Merchant, ReturnAddress, Supplier, User


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

"""Binding services: merchants apply by supplier shop ID, suppliers decide, either side ends."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.domain.allocation import cancel_for_binding_end
from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError
from portal.extensions import db
from portal.models import Binding, Merchant, Supplier, User
from portal.models.accounts import ROLE_MERCHANT, ROLE_SUPPLIER
from portal.models.base import utcnow
from portal.models.bindings import (
    BINDING_ACTIVE,
    BINDING_ENDED,
    BINDING_PENDING,
    BINDING_REJECTED,
    OPEN_STATUSES,
)

# What people type between the digits of a shop ID: spaces (full-width too, after NFKC) and
# dashes of every width ("123-456-789", "123 456 789", "１２３４５６７８９").
_SHOP_ID_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−_]+")


def normalize_shop_id(value: str | None) -> str:
    """A shop ID read the way people type it (DESIGN §10.7)."""
    return _SHOP_ID_SEPARATORS.sub("", unicodedata.normalize("NFKC", value or ""))


def find_supplier_by_shop_id(shop_id: str) -> Supplier | None:
    return _by_shop_id(select(Supplier), shop_id)


def supplier_id_by_shop_id(shop_id: str) -> int | None:
    """The supplier's id alone (a list filter needs no Supplier object)."""
    return _by_shop_id(select(Supplier.id), shop_id)


def _by_shop_id(query: Select[Any], shop_id: str) -> Any:
    shop_id = normalize_shop_id(shop_id)
    if not shop_id.isascii() or not shop_id.isdigit():
        return None
    return db.session.scalar(
        query.join(User, Supplier.user_id == User.id).where(User.shop_id == shop_id)
    )


def apply_for_binding(merchant: Merchant, supplier_shop_id: str, message: str = "") -> Binding:
    supplier = find_supplier_by_shop_id(supplier_shop_id)
    # Unknown IDs and non-supplier IDs get the same answer, so roles cannot be probed.
    if supplier is None:
        raise DomainError("invalid_shop_id", field="supplier_shop_id")
    message = unicodedata.normalize("NFKC", message or "").strip()
    if len(message) > 200:
        raise DomainError("field_too_long", field="message")
    binding = Binding(
        merchant_id=merchant.id, supplier_id=supplier.id, status=BINDING_PENDING, message=message
    )
    try:
        # The partial unique index decides under concurrency; this savepoint keeps the session.
        with db.session.begin_nested():
            db.session.add(binding)
    except IntegrityError:
        raise DomainError("already_bound", field="supplier_shop_id") from None
    return binding


def _bindings_query() -> Select[tuple[Binding]]:
    return select(Binding).options(
        joinedload(Binding.merchant).joinedload(Merchant.user),
        joinedload(Binding.supplier).joinedload(Supplier.user),
    )


def bindings_query(
    profile: Merchant | Supplier, status: str | None = None
) -> Select[tuple[Binding]]:
    """The tenant's bindings, newest first: the filter is in the query, never after it."""
    if isinstance(profile, Merchant):
        query = _bindings_query().where(Binding.merchant_id == profile.id)
    else:
        query = _bindings_query().where(Binding.supplier_id == profile.id)
    if status:
        query = query.where(Binding.status == status)
    return query.order_by(Binding.created_at.desc(), Binding.id.desc())


def bindings_for_merchant(merchant: Merchant, status: str | None = None) -> list[Binding]:
    return list(db.session.scalars(bindings_query(merchant, status)))


def bindings_for_supplier(supplier: Supplier, status: str | None = None) -> list[Binding]:
    return list(db.session.scalars(bindings_query(supplier, status)))


def active_suppliers_for_merchant(merchant: Merchant) -> list[Supplier]:
    return list(
        db.session.scalars(
            select(Supplier)
            .join(Binding, Binding.supplier_id == Supplier.id)
            .options(joinedload(Supplier.user))
            .where(Binding.merchant_id == merchant.id, Binding.status == BINDING_ACTIVE)
            .order_by(Supplier.factory_name)
        )
    )


@dataclass(frozen=True)
class SupplierChoice:
    id: int
    factory_name: str


def shop_refs(merchant: Merchant, supplier_ids: Collection[int]) -> dict[int, dict[str, str]]:
    """{shop_id, shop_name} of suppliers the merchant is or was bound to, by id, in one query
    (a page of the merchant's orders names each one's supplier)."""
    if not supplier_ids:
        return {}
    found = db.session.execute(
        _shop_refs(), {"merchant_id": merchant.id, "supplier_ids": sorted(supplier_ids)}
    ).all()
    return {row.id: {"shop_id": row.shop_id or "", "shop_name": row.factory_name} for row in found}


@cache
def _shop_refs() -> Select[Any]:
    # Built once: every API list page asks (building a statement costs more than SQLite
    # takes to run this one).
    bound = exists().where(
        Binding.merchant_id == bindparam("merchant_id"), Binding.supplier_id == Supplier.id
    )
    return (
        select(Supplier.id, User.shop_id, Supplier.factory_name)
        .join(User, User.id == Supplier.user_id)
        .where(Supplier.id.in_(bindparam("supplier_ids", expanding=True)), bound)
    )


def supplier_choices(merchant: Merchant) -> tuple[list[SupplierChoice], list[SupplierChoice]]:
    """Suppliers to filter by (bound now or before) and to assign to (active bindings only):
    ids and names in one small query, no ORM objects (every list request asks)."""
    found = db.session.execute(_supplier_choices(), {"merchant_id": merchant.id}).all()
    known = {row.id: SupplierChoice(row.id, row.factory_name) for row in found}
    active = {row.id for row in found if row.status == BINDING_ACTIVE}
    return list(known.values()), [choice for choice in known.values() if choice.id in active]


@cache
def _supplier_choices() -> Select[Any]:
    return (
        select(Supplier.id, Supplier.factory_name, Binding.status)
        .join(Binding, Binding.supplier_id == Supplier.id)
        .where(
            Binding.merchant_id == bindparam("merchant_id"),
            Binding.status.in_((BINDING_ACTIVE, BINDING_ENDED)),
        )
        .order_by(Supplier.factory_name, Supplier.id)
    )


def actively_bound_merchant_ids(supplier: Supplier, merchant_ids: Iterable[int]) -> set[int]:
    """Which of these merchants the supplier is bound to now (an ended binding ends access)."""
    ids = set(merchant_ids)
    if not ids:
        return set()
    return set(
        db.session.scalars(
            select(Binding.merchant_id).where(
                Binding.supplier_id == supplier.id,
                Binding.status == BINDING_ACTIVE,
                Binding.merchant_id.in_(ids),
            )
        )
    )


def _transition(binding: Binding, from_status: str, to_status: str, **values: object) -> None:
    """Compare-and-set: two clicks or two tabs can never both decide the same binding."""
    result = db.session.execute(
        update(Binding)
        .where(Binding.id == binding.id, Binding.status == from_status)
        .values(status=to_status, **values)
    )
    if result.rowcount != 1:
        db.session.refresh(binding)
        code = "binding_not_pending" if from_status == BINDING_PENDING else "binding_not_active"
        raise DomainError(code)
    db.session.refresh(binding)


def accept_binding(supplier: Supplier, binding_id: int) -> Binding:
    binding = get_or_404(Binding, supplier, id=binding_id)
    _transition(binding, BINDING_PENDING, BINDING_ACTIVE, decided_at=utcnow())
    return binding


def reject_binding(supplier: Supplier, binding_id: int) -> Binding:
    binding = get_or_404(Binding, supplier, id=binding_id)
    _transition(binding, BINDING_PENDING, BINDING_REJECTED, decided_at=utcnow())
    return binding


def end_binding(binding: Binding, ended_by: str) -> int:
    """End an active binding (a merchant may also withdraw a pending application).

    Returns how many assignments were cancelled because their tracking number was not returned.
    """
    if ended_by not in (ROLE_MERCHANT, ROLE_SUPPLIER):
        raise ValueError(ended_by)
    from_status = binding.status if binding.status in OPEN_STATUSES else BINDING_ACTIVE
    if from_status == BINDING_PENDING and ended_by != ROLE_MERCHANT:
        raise DomainError("binding_not_active")
    _transition(binding, from_status, BINDING_ENDED, ended_at=utcnow(), ended_by=ended_by)
    if from_status == BINDING_PENDING:
        return 0
    return cancel_for_binding_end(binding.merchant_id, binding.supplier_id)

"""Tenant scope: the one getter that finds a merchant's or supplier's object, or answers 404.

The tenant filter is in the query itself (`<model>.merchant_id` or `.supplier_id`, chosen by
the tenant's type): another tenant's object is simply not found, exactly like a missing one.
The role gate that decides who is the current tenant is portal.web.gate (web side).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select

from portal.domain.errors import DomainError
from portal.extensions import db
from portal.models import Merchant, Supplier
from portal.models.base import MAX_ID

T = TypeVar("T")

TENANT_COLUMNS = {Merchant: "merchant_id", Supplier: "supplier_id"}


def tenant_scope(model: Any, tenant: Merchant | Supplier) -> ColumnElement[bool]:
    """`model`'s rows of this tenant (its merchant_id or supplier_id column)."""
    return getattr(model, TENANT_COLUMNS[type(tenant)]) == tenant.id


def get_or_404(
    what: type[T] | Select[tuple[T]],
    tenant: Merchant | Supplier,
    *conditions: ColumnElement[bool],
    **by: object,
) -> T:
    """The tenant's one `what` (a model, or a select of it carrying loader options) matching
    `conditions` and `by` (column=value); DomainError("not_found") — a 404 — otherwise.

    An `id` beyond the column's range is not found either (never a database error).
    """
    query = select(what) if isinstance(what, type) else what
    model = query.column_descriptions[0]["entity"]
    ident = by.get("id")
    if ident is not None and (
        isinstance(ident, bool) or not isinstance(ident, int) or not 0 < ident <= MAX_ID
    ):
        raise DomainError("not_found")
    found = db.session.scalar(
        query.where(
            tenant_scope(model, tenant),
            *conditions,
            *(getattr(model, column) == value for column, value in by.items()),
        )
    )
    if found is None:
        raise DomainError("not_found")
    return found

"""The order lists' search box (DESIGN §10.7), one definition for every desk and the API.

`q` matches any part of 6 or more characters of an order number, a SKU code by prefix
(case-insensitive), and — for the merchant, who owns the buyer data — a receiver's full name or
phone through their merchant-scoped blind indexes, so nothing is decrypted to search.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import ColumnElement, and_, exists, func, or_
from sqlalchemy.orm import aliased

from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.lookups import blind_index, name_index
from portal.domain.privacy.phones import normalize_phone
from portal.models import Order, OrderLine

# Shorter parts of an order number match too much to mean anything (and scan every row).
MIN_ORDER_NO_PART = 6


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


# The lines a search looks through: an alias, so a query that joins order_lines itself
# (备货汇总) does not correlate the search's lines with its own.
_LINE = aliased(OrderLine, name="searched_line")


def _other_line(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """An order with several lines, one of which meets `condition` (line 1 is on the order row,
    so single-line orders never look at order_lines)."""
    return and_(
        Order.line_count > 1,
        exists().where(_LINE.order_id == Order.id, _LINE.line_no > 1, condition),
    )


def sku_prefix(text: str) -> ColumnElement[bool]:
    """Orders with a SKU code starting with `text` on any line, whatever the case (blk-150
    finds BLK-150-GRY)."""
    prefix = _clean(text).lower()
    return or_(
        func.lower(Order.sku_code).startswith(prefix, autoescape=True),
        _other_line(func.lower(_LINE.sku_code).startswith(prefix, autoescape=True)),
    )


def sku_filter(text: str) -> ColumnElement[bool]:
    """The desks' 商家编码 filter: a SKU code prefix, or the exact internal SKU key, on any
    line."""
    key = _clean(text)
    return or_(sku_prefix(text), Order.sku_key == key, _other_line(_LINE.sku_key == key))


def order_search(
    q: str, *, keyring: KeyRing | None = None, merchant_id: int | None = None
) -> ColumnElement[bool] | None:
    """The condition for the search box, or None when there is nothing to search for.

    With `keyring` and `merchant_id` (the merchant's own lists) receivers are searched too."""
    text = _clean(q)
    if not text:
        return None
    matches: list[ColumnElement[bool]] = [Order.order_no == text, sku_prefix(text)]
    if len(text) >= MIN_ORDER_NO_PART:
        matches.append(Order.order_no.contains(text, autoescape=True))
    if keyring is not None and merchant_id is not None:
        if normalize_phone(text).kind in ("mobile", "landline"):
            matches.append(Order.phone_index == blind_index(keyring, merchant_id, text))
        matches.append(Order.name_index == name_index(keyring, merchant_id, text))
    return or_(*matches)

"""An order's goods lines as every screen, file and answer shows them (DESIGN §10.2).

Line 1 is stored on the order row as well, so a page of single-line orders needs no other
query; the lines of a page's orders with several are read in one query (`lines_by_order`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Row, Select, bindparam, select

from portal.domain.allocation import chunks
from portal.extensions import db
from portal.models import OrderLine


class GoodsLine(NamedTuple):
    """One goods line. A named tuple, not a frozen dataclass: a desk page makes one per row,
    and a frozen dataclass sets each field through object.__setattr__ (3–4 µs a line)."""

    line_no: int
    goods_id: str
    goods_name: str
    spec: str
    sku_code: str
    goods_code: str
    quantity: int
    sku_key: str

    def as_api(self) -> dict[str, Any]:
        """The line in the API's shape (DESIGN §8.2)."""
        return {
            "goods_id": self.goods_id,
            "goods_name": self.goods_name,
            "spec": self.spec,
            "sku_code": self.sku_code,
            "quantity": self.quantity,
        }


def first_line(row: Any) -> GoodsLine:
    """Line 1, from an order row (or any row carrying its goods columns)."""
    return _goods_line(row, 1)


def _goods_code(row: Any) -> str:
    """The platform's goods code; "" for a row without the column (the factory's masked rows).
    A missing attribute of a Row raises and formats every column name first: 0.1 ms a page."""
    if isinstance(row, Row):
        return row._mapping.get("goods_code", "")  # type: ignore[no-any-return]
    return getattr(row, "goods_code", "")


def _goods_line(row: Any, line_no: int) -> GoodsLine:
    return GoodsLine(
        line_no,
        row.goods_id,
        row.goods_name,
        row.spec,
        row.sku_code,
        _goods_code(row),
        row.quantity,
        row.sku_key,
    )


def lines_by_order(rows: Iterable[Any]) -> dict[int, list[GoodsLine]]:
    """Every line of each order row (id, line_count and goods columns), by order id.

    The rows come from a tenant-scoped query; only their ids are looked up, in one query for
    all orders with more than one line.
    """
    rows = list(rows)
    lines = {row.id: [first_line(row)] for row in rows}
    several = [row.id for row in rows if getattr(row, "line_count", 1) > 1]
    if several:
        loaded: dict[int, list[GoodsLine]] = {}
        for chunk in chunks(several):
            for line in db.session.execute(_lines_of_orders(), {"order_ids": chunk}):
                loaded.setdefault(line.order_id, []).append(_goods_line(line, line.line_no))
        lines.update(loaded)
    return lines


@cache
def _lines_of_orders() -> Select[Any]:
    """The goods lines of the orders `order_ids`, as rows: built once, every page with an
    order of several lines asks."""
    return (
        select(
            OrderLine.order_id,
            OrderLine.line_no,
            OrderLine.goods_id,
            OrderLine.goods_name,
            OrderLine.spec,
            OrderLine.sku_code,
            OrderLine.goods_code,
            OrderLine.quantity,
            OrderLine.sku_key,
        )
        .where(OrderLine.order_id.in_(bindparam("order_ids", expanding=True)))
        .order_by(OrderLine.order_id, OrderLine.line_no)
    )


def goods_summary(lines: Sequence[GoodsLine]) -> str:
    """One text for all lines: 商品 规格 ×数量；… (labels, exports and history notes)."""
    return "；".join(
        f"{line.goods_name} {line.spec} ×{line.quantity}".replace("  ", " ") for line in lines
    )


def total_quantity(lines: Sequence[GoodsLine]) -> int:
    return sum(line.quantity for line in lines)

"""Reader for a supplier's batch tracking-number file (订单号, 快递公司, 快递单号)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from portal.domain.imports.tabular import (
    ORDER_NO,
    Column,
    FieldError,
    ImportFileError,
    RowError,
    open_order_rows,
)

__all__ = [
    "COLUMNS",
    "MAX_EXTRA_TRACKING_NOS",
    "MAX_FILE_ROWS",
    "ImportFileError",
    "RowError",
    "TrackingRow",
    "open_tracking_file",
    "read_tracking_file",
]

COURIER = "快递公司"
TRACKING_NO = "快递单号"
EXTRA_TRACKING_NOS = "额外运单号"
# Needed only for an order number two of the factory's merchants use (DESIGN §10.6).
MERCHANT_SHOP_ID = "商家店铺ID"

MAX_EXTRA_TRACKING_NOS = 10
# One request returns a whole file: a file is read to its end before anything is saved.
MAX_FILE_ROWS = 10_000
_TRACKING_NO_MAX_LENGTH = 64

COLUMNS: tuple[Column, ...] = (
    Column(ORDER_NO, required=True),
    Column(COURIER, required=True, aliases=("物流公司",), max_length=50),
    Column(
        TRACKING_NO,
        required=True,
        aliases=("运单号", "物流单号"),
        max_length=_TRACKING_NO_MAX_LENGTH,
    ),
    Column(EXTRA_TRACKING_NOS),
    Column(MERCHANT_SHOP_ID, aliases=("店铺ID",), max_length=40, names_order=True),
)

# People separate several numbers in one cell with whatever is at hand, half- or full-width.
_SEPARATORS = re.compile(r"[\s,;，；、]+")


@dataclass(frozen=True, slots=True)
class TrackingRow:
    """One returned parcel: courier and numbers as typed; the tracking service normalises."""

    row: int
    order_no: str
    courier: str
    tracking_no: str
    extra_tracking_nos: tuple[str, ...]
    merchant_shop_id: str = ""


def open_tracking_file(
    stream: BinaryIO, filename: str, *, max_rows: int | None = MAX_FILE_ROWS
) -> Iterator[TrackingRow | RowError]:
    """Check the file and its headers now (ImportFileError), then stream rows lazily."""
    return open_order_rows(stream, filename, COLUMNS, _build_tracking_row, max_rows=max_rows)


def read_tracking_file(
    stream: BinaryIO, filename: str, *, max_rows: int | None = None
) -> Iterator[TrackingRow | RowError]:
    """Like open_tracking_file, but nothing is read until the first next()."""
    yield from open_tracking_file(stream, filename, max_rows=max_rows)


def _build_tracking_row(row: int, order_no: str, cells: Mapping[str, str]) -> TrackingRow:
    courier = cells[COURIER]
    if not courier:
        raise FieldError("missing_courier", "快递公司为空")
    tracking_no = cells[TRACKING_NO]
    if not tracking_no:
        raise FieldError("missing_tracking_no", "快递单号为空")
    return TrackingRow(
        row=row,
        order_no=order_no,
        courier=courier,
        tracking_no=tracking_no,
        extra_tracking_nos=_split_extra(cells[EXTRA_TRACKING_NOS], tracking_no),
        merchant_shop_id=cells[MERCHANT_SHOP_ID],
    )


def _split_extra(text: str, tracking_no: str) -> tuple[str, ...]:
    # dict keeps the typed order while dropping repeats and the main number itself.
    numbers = dict.fromkeys(n for n in _SEPARATORS.split(text) if n and n != tracking_no)
    if len(numbers) > MAX_EXTRA_TRACKING_NOS:
        raise FieldError(
            "too_many_tracking_nos",
            f"“{EXTRA_TRACKING_NOS}”最多 {MAX_EXTRA_TRACKING_NOS} 个，本行有 {len(numbers)} 个",
        )
    for number in numbers:
        if len(number) > _TRACKING_NO_MAX_LENGTH:
            raise FieldError(
                "field_too_long",
                f"“{EXTRA_TRACKING_NOS}”中的单号超过 {_TRACKING_NO_MAX_LENGTH} 个字符",
            )
    return tuple(numbers)

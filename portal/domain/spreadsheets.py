"""The one spreadsheet writer: CSV (UTF-8 with BOM, so Excel/WPS read the Chinese) and XLSX.

Both take rows of cells. Numbers (int, Decimal, float) stay numbers — in the XLSX a Decimal is
money shown with two decimals, so SUM works; everything else is text made safe from formula
injection (a cell starting with =, +, -, @, a tab or a carriage return gets a leading ').
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import IO

import xlsxwriter

# Cells a spreadsheet would run as a formula (or that hide one): prefixed with ' on export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
# An XLSX is built in memory up to this size, then in a temporary file (SpooledTemporaryFile).
XLSX_SPOOL_BYTES = 8 * 1024 * 1024

Row = Sequence[object]


def spreadsheet_safe(value: object) -> str:
    """A cell that Excel/WPS will show as text, never evaluate as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _is_number(cell: object) -> bool:
    return isinstance(cell, int | Decimal | float) and not isinstance(cell, bool)


def _csv_cell(cell: object) -> object:
    return cell if _is_number(cell) else spreadsheet_safe(cell)


def csv_chunks(rows: Iterable[Row], rows_per_chunk: int = 1000) -> Iterator[str]:
    """CSV text in chunks of about `rows_per_chunk` rows, the BOM first (for streaming)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write(BOM)
    for count, row in enumerate(rows, start=1):
        writer.writerow([_csv_cell(cell) for cell in row])
        if count % rows_per_chunk == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def csv_text(rows: Iterable[Row]) -> str:
    """The whole CSV as one string (small files: templates, refusal lists)."""
    return "".join(csv_chunks(rows))


def write_xlsx(target: IO[bytes], sheet_name: str, rows: Iterable[Row]) -> None:
    """One sheet written to `target` with XlsxWriter in constant-memory mode (each row goes to
    a temporary file as it is written, so memory stays flat in the row count).

    Cells are written by type with `write_number` / `write_string` rather than `write_row`,
    whose per-cell type guessing costs more than the rest of the file; a string is therefore
    never turned into a number, a formula or a link.
    """
    workbook = xlsxwriter.Workbook(target, {"constant_memory": True})
    sheet = workbook.add_worksheet(sheet_name)
    money = workbook.add_format({"num_format": "0.00"})
    write_number, write_string = sheet.write_number, sheet.write_string
    for row_number, row in enumerate(rows):
        for column, cell in enumerate(row):
            if isinstance(cell, Decimal):
                write_number(row_number, column, float(cell), money)
            elif _is_number(cell):
                write_number(row_number, column, cell)
            else:
                write_string(row_number, column, spreadsheet_safe(cell))
    workbook.close()


def spooled(write: Callable[[IO[bytes]], None]) -> IO[bytes]:
    """What `write(target)` writes, in memory up to XLSX_SPOOL_BYTES then on disk, rewound."""
    spool = tempfile.SpooledTemporaryFile(max_size=XLSX_SPOOL_BYTES)  # noqa: SIM115
    try:
        write(spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def xlsx_bytes(sheet_name: str, rows: Iterable[Row]) -> bytes:
    """The XLSX as bytes (small files answered whole)."""
    with spooled(lambda target: write_xlsx(target, sheet_name, rows)) as spool:
        return spool.read()

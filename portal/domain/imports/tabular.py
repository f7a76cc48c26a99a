"""Streaming CSV/XLSX reader for uploads, plus the column and row checks every import shares."""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import shutil
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import BinaryIO, TypeVar

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook

# Encoding and delimiter are decided from this much of the start of a CSV; the rest streams.
SNIFF_BYTES = 64 * 1024

# Non-seekable XLSX uploads are spooled; beyond this they go to a temporary file, not memory.
_SPOOL_MAX_MEMORY = 8 * 1024 * 1024
# openpyxl keeps the shared-string table in memory even in read-only mode, so a zip bomb
# aimed at it is refused by its declared size before anything is inflated.
_MAX_SHARED_STRINGS_BYTES = 200 * 1024 * 1024
# Zip bombs are refused from the archive's directory before anything is inflated: no part may
# inflate beyond these, nor all parts together, nor a large part more than _MAX_RATIO times
# (real exports compress 5–20 times; 100 MB of empty rows fit in 138 KB, ~700 times).
_MAX_PART_BYTES = 256 * 1024 * 1024
_MAX_WORKBOOK_BYTES = 384 * 1024 * 1024
_MAX_RATIO = 100
_RATIO_FROM_BYTES = 4 * 1024 * 1024
# Rows are counted whether empty or not, and a row may not reach beyond this column: empty
# rows and one cell far to the right (XFD) are how a small file makes the reader work for hours.
MAX_COLUMNS = 256
# Without a caller's limit, no file is read beyond this many rows.
DEFAULT_MAX_ROWS = 200_000
# openpyxl spends ~10 µs on every cell element, empty or not, and builds a whole row before
# anyone can look at it: one row of millions of <c/> (an 18 MB file stored without compression)
# took 30 s and 1.6 GB. So before it parses anything the sheet is counted at C speed — rows,
# cells per row (MAX_COLUMNS), cells in all (the row limit times an average width) — and so are
# the elements of the other parts it reads on opening (shared strings, styles, …). Tracking,
# price and code files are narrow; platform exports run to 50 columns.
AVERAGE_COLUMNS = 32
EXPORT_AVERAGE_COLUMNS = 64
_OTHER_ELEMENTS_PER_CELL = 4
_MIN_OTHER_ELEMENTS = 1_000_000
# Real cells and strings are never packed below a byte or so each; <c/> packs 200 to a byte.
# So a part may not hold more cells (or elements) than this many per packed byte: the work a
# small upload can cause stays that of a real file of its size, whatever padding fools the
# size ratio (an incompressible comment beside millions of empty cells).
_PER_PACKED_BYTE = 4
_MIN_PER_PART = 200_000
_SCAN_CHUNK = 1024 * 1024
_TOO_BIG = "Excel 文件解压后过大或结构异常，请另存为 CSV 或分批导出后上传"

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and WPS .et) workbooks
# PDF, PNG, JPEG, GIF, gzip, RAR, 7z: common wrong uploads, refused with a clear message.
_BINARY_MAGICS = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"Rar!", b"7z\xbc")

# Invisible in a spreadsheet but they break matching and uniqueness: NUL, soft hyphen,
# zero-width space/joiners, direction marks, word joiner, BOM.
# A regex rather than str.translate, which is ~100x slower on CJK text.
_INVISIBLE = re.compile("[\x00\u00ad\u200b-\u200f\u2060\ufeff]")
# ="0123" is how spreadsheet users (and some exporters) keep a number as text.
_TEXT_FORMULA = re.compile(r'=\s*"(.*)"', re.DOTALL)
# A cleaned cell starting with one of these may be such a text formula or a '-quoted value.
_QUOTED_TEXT_STARTS = ("=", "'")

_UNSUPPORTED_FORMAT = "请上传 CSV（UTF-8 或 GBK 编码）或 Excel .xlsx 文件"


class TableError(Exception):
    """The upload as a whole cannot be read.

    Codes: ``empty_file``, ``unreadable_file``, ``not_spreadsheet``, ``bad_zip``,
    ``undecodable``, ``bad_csv``, ``file_too_large``, ``too_many_rows``, ``too_many_columns``,
    ``too_many_cells``.
    The message is Simplified Chinese.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Table:
    """A spreadsheet opened for reading: normalised headers now, data rows on demand."""

    headers: list[str]
    # (spreadsheet row number, header → cleaned cell); the header is row 1.
    rows: Iterator[tuple[int, dict[str, str]]]


def normalize_header(text: str) -> str:
    """Canonical form of a header, so 商品数量（件）, 商品数量(件) and ' 商品数量 (件)' agree."""
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    return "".join(text.split()).casefold()


def clean_cell(value: str) -> str:
    """Strip what exporters and spreadsheet users put around a value: tabs, ="…", ', NUL."""
    if not value:
        return ""
    text = _INVISIBLE.sub("", value).strip()
    if text[:1] == "=":
        match = _TEXT_FORMULA.fullmatch(text)
        if match:
            text = match.group(1).replace('""', '"').strip()
    if text[:1] == "'":
        text = text[1:].strip()
    return text


def _clean_cells(raw: list[str]) -> list[str]:
    """clean_cell of every cell of a record, cheaply for the usual record.

    Without invisible characters (one search over the record tells), clean_cell is a strip,
    unless the stripped cell starts with = or ', which only clean_cell itself handles.
    """
    if _INVISIBLE.search("".join(raw)):
        return [clean_cell(cell) for cell in raw]
    return [
        clean_cell(text) if (text := cell.strip())[:1] in _QUOTED_TEXT_STARTS else text
        for cell in raw
    ]


def read_table(
    stream: BinaryIO,
    filename: str,
    *,
    max_rows: int | None = None,
    average_columns: int = AVERAGE_COLUMNS,
) -> Table:
    """Open an uploaded CSV or XLSX (decided by content) and stream its rows.

    Raises TableError at once for an empty or unreadable file, and later, from the row
    iterator, for damage found further into the file or for more than ``max_rows`` data rows.
    An XLSX is refused at once for more rows, a wider row or more cells (``max_rows`` + 1
    times ``average_columns``) than that. The caller keeps ownership of ``stream``.
    """
    try:
        sample = _read_up_to(stream, SNIFF_BYTES)
    except OSError as exc:
        raise TableError("unreadable_file", "无法读取上传的文件，请重新上传") from exc
    if not sample:
        raise TableError("empty_file", "上传的文件是空的")
    if sample.startswith(_ZIP_MAGICS):
        max_cells = (_row_limit(max_rows) + 1) * average_columns
        records = _xlsx_records(sample, stream, _row_limit(max_rows), max_cells)
    else:
        try:
            _refuse_binary(sample)
            records = _csv_records(sample, stream, at_eof=len(sample) < SNIFF_BYTES)
        except TableError as exc:
            # Content decides the format, but the name tells us what the user meant to send.
            if filename.lower().endswith((".xlsx", ".xlsm")):
                raise TableError(
                    "bad_zip", f"“{filename}”不是有效的 Excel 文件（可能已损坏），请重新导出后上传"
                ) from exc
            raise
    return _table(records, max_rows)


def _table(records: Iterator[list[str]], max_rows: int | None) -> Table:
    try:
        header_cells = next(records, None)
        if header_cells is None:
            raise TableError("empty_file", "上传的文件是空的")
        headers = [normalize_header(clean_cell(cell)) for cell in header_cells]
        while headers and not headers[-1]:
            headers.pop()
        if not headers:
            raise TableError("empty_file", "第 1 行（表头）是空的，请保留导出文件的表头")
    except BaseException:
        _close(records)
        raise
    return Table(headers=headers, rows=_Rows(records, headers, max_rows))


class _Rows(Iterator[tuple[int, dict[str, str]]]):
    """The data rows; close() releases the file even if iteration never started."""

    def __init__(self, records: Iterator[list[str]], headers: list[str], max_rows: int | None):
        self._records = records
        # A repeated header keeps its first column, the way a person reading the sheet would.
        positions: dict[str, int] = {}
        for index, header in enumerate(headers):
            if header:
                positions.setdefault(header, index)
        self.columns = list(positions.items())
        self._rows = _data_rows(records, self, max_rows)

    def keep(self, headers: Collection[str]) -> None:
        """Before reading: only these headers' cells are cleaned and handed on (a reader that
        uses 25 of an export's 50 columns does not clean the other 25 on every row)."""
        self.columns = [(header, index) for header, index in self.columns if header in headers]

    def __next__(self) -> tuple[int, dict[str, str]]:
        return next(self._rows)

    def close(self) -> None:
        self._rows.close()
        _close(self._records)


def _row_cells(raw: list[str], columns: Sequence[tuple[str, int]]) -> dict[str, str]:
    """header → cleaned cell of one record, for these (header, position) columns: as
    _clean_cells, a strip unless the record holds invisible characters or a cell starts with
    = or '."""
    width = len(raw)
    if _INVISIBLE.search("".join(raw)):
        return {h: clean_cell(raw[i]) if i < width else "" for h, i in columns}
    return {
        h: (clean_cell(text) if (text := raw[i].strip())[:1] in _QUOTED_TEXT_STARTS else text)
        if i < width
        else ""
        for h, i in columns
    }


def _row_limit(max_rows: int | None) -> int:
    return DEFAULT_MAX_ROWS if max_rows is None else max_rows


def _too_many_rows(limit: int) -> TableError:
    return TableError(
        "too_many_rows", f"文件超过 {limit} 行（空行也计算在内），请删除空行或分批导入"
    )


def _too_many_columns(row_no: int) -> TableError:
    return TableError(
        "too_many_columns",
        f"第 {row_no} 行超过 {MAX_COLUMNS} 列（可能有远处的空单元格），"
        "请删除多余的列或另存为 CSV 后上传",
    )


def _data_rows(
    records: Iterator[list[str]], owner: _Rows, max_rows: int | None
) -> Iterator[tuple[int, dict[str, str]]]:
    columns = owner.columns  # read at the first row: after a keep()
    limit = _row_limit(max_rows)
    try:
        for row_no, raw in enumerate(records, start=2):
            # Empty rows count too: a file of a million empty rows is refused, not skipped.
            if row_no - 1 > limit:
                raise _too_many_rows(limit)
            if len(raw) > MAX_COLUMNS:
                raise _too_many_columns(row_no)
            row = _row_cells(raw, columns)
            # An empty row is skipped; one with text only in columns nobody reads is not.
            if not any(row.values()) and not any(_clean_cells(raw)):
                continue
            yield row_no, row
    finally:
        _close(records)


# --- CSV ---------------------------------------------------------------------------------


def _csv_records(sample: bytes, stream: BinaryIO, *, at_eof: bool) -> Iterator[list[str]]:
    encoding, sample_text = _detect_encoding(sample, at_eof=at_eof)
    first_line = sample_text.split("\n", 1)[0]
    # Excel's "Unicode text" and some ERPs write tab-separated files under a .csv name.
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    text = io.TextIOWrapper(
        io.BufferedReader(_ReplayStream(sample, stream)), encoding=encoding, newline=""
    )
    return _csv_rows(text, delimiter, encoding)


def _csv_rows(text: io.TextIOWrapper, delimiter: str, encoding: str) -> Iterator[list[str]]:
    record_no = 0
    try:
        for cells in csv.reader(text, delimiter=delimiter):
            record_no += 1
            yield cells
    except UnicodeDecodeError as exc:
        raise TableError(
            "undecodable",
            f"第 {record_no + 1} 行附近有无法按 {_ENCODING_NAMES[encoding]} 解码的内容，"
            "请将文件另存为 UTF-8 或 GBK 编码的 CSV",
        ) from exc
    except csv.Error as exc:
        raise TableError(
            "bad_csv", f"第 {record_no + 1} 行附近的 CSV 格式有误（引号不配对或单元格过长）"
        ) from exc
    except OSError as exc:
        raise TableError("unreadable_file", "读取上传的文件时出错，请重新上传") from exc
    finally:
        text.close()


_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "gb18030": "GBK/GB18030",
}


def _detect_encoding(sample: bytes, *, at_eof: bool) -> tuple[str, str]:
    if sample.startswith(codecs.BOM_UTF8):
        candidates: tuple[str, ...] = ("utf-8-sig",)
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        # GB18030 decodes everything GBK does; trying UTF-8 first is safe because real
        # Chinese GBK text is almost never valid UTF-8.
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            # Incremental, so a character cut in two by the end of the sample is not an error.
            text = codecs.getincrementaldecoder(encoding)().decode(sample, final=at_eof)
        except UnicodeDecodeError:
            continue
        return encoding, text
    raise TableError("undecodable", f"无法识别文件的文字编码，{_UNSUPPORTED_FORMAT}")


def _refuse_binary(sample: bytes) -> None:
    # Only the content counts: many ERPs save CSV or tab-separated text under a .xls name.
    if sample.startswith(_OLE2_MAGIC):
        raise TableError(
            "not_spreadsheet", "不支持旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 或 CSV"
        )
    utf16 = sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    # A stray NUL in a cell is tolerated (and cleaned); a sample full of them is not text.
    if sample.startswith(_BINARY_MAGICS) or (not utf16 and sample.count(0) * 10 > len(sample)):
        raise TableError("not_spreadsheet", f"上传的文件不是表格，{_UNSUPPORTED_FORMAT}")


class _ReplayStream(io.RawIOBase):
    """Gives back the sniffed sample, then the rest of the upload, without rewinding it."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --- XLSX --------------------------------------------------------------------------------


def _xlsx_records(
    sample: bytes, stream: BinaryIO, max_rows: int, max_cells: int
) -> Iterator[list[str]]:
    spool: BinaryIO | None = None
    if _seekable(stream):
        # zipfile locates everything from the end of the file, so no need to rewind.
        source = stream
    else:
        # zipfile needs random access to the central directory at the end of the file.
        # Not a with-block: the spool must outlive this call; _xlsx_rows closes it.
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX_MEMORY)  # noqa: SIM115
        spool.write(sample)
        shutil.copyfileobj(stream, spool)
        spool.seek(0)
        source = spool
    try:
        workbook = _open_workbook(source, max_rows, max_cells)
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    return _xlsx_rows(workbook, spool)


def _open_workbook(source: BinaryIO, max_rows: int, max_cells: int) -> Workbook:
    try:
        with zipfile.ZipFile(source) as archive:
            _refuse_zip_bomb(archive.infolist())
            _refuse_crowded_parts(archive, max_rows, max_cells)
        return load_workbook(source, read_only=True, data_only=True)
    except zipfile.BadZipFile as exc:
        raise TableError("bad_zip", "Excel 文件已损坏或不完整，请重新导出后上传") from exc
    except (InvalidFileException, KeyError, OSError, ValueError, SyntaxError, zlib.error) as exc:
        raise TableError(
            "not_spreadsheet", f"压缩包里没有可读取的 Excel 工作表，{_UNSUPPORTED_FORMAT}"
        ) from exc


def _refuse_crowded_parts(archive: zipfile.ZipFile, max_rows: int, max_cells: int) -> None:
    """Count what openpyxl will parse, as bytes, before it parses anything: opening a workbook
    reads every sheet through (for its size, when it states none) and every other XML part
    (shared strings, styles, …). Each sheet's rows and each row's cells, the cells of all
    sheets and the elements of the other parts (bounded by the cells) are limited, empty ones
    included."""
    budget = max(max_cells * _OTHER_ELEMENTS_PER_CELL, _MIN_OTHER_ELEMENTS)
    cells = elements = 0
    for info in archive.infolist():
        if not info.filename.lower().endswith((".xml", ".rels")):
            continue
        with archive.open(info) as part:
            chunk = part.read(_SCAN_CHUNK)
            if not chunk.strip():
                continue  # nothing to parse
            prefix, name = _root_element(chunk)
            packed_cap = max(info.compress_size * _PER_PACKED_BYTE, _MIN_PER_PART)
            if name == b"worksheet":
                limits = (max_rows, max_cells, packed_cap)
                cells = _scan_sheet(chunk, part, prefix, limits, cells)
                continue
            in_part = 0
            while chunk:
                # '<' in text is always escaped: every other '<' opens a tag.
                found = (
                    chunk.count(b"<") - chunk.count(b"</") - chunk.count(b"<?") - chunk.count(b"<!")
                )
                elements += found
                in_part += found
                if elements > budget or in_part > packed_cap:
                    raise TableError("file_too_large", _TOO_BIG)
                chunk = part.read(_SCAN_CHUNK)


_TAG_ENDS = (b" ", b">", b"/", b"\t", b"\n", b"\r")
_PROLOG_NOISE = re.compile(rb"<\?.*?\?>|<!--.*?-->", re.DOTALL)
_ELEMENT = re.compile(rb"<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


def _root_element(chunk: bytes) -> tuple[bytes, bytes]:
    """(namespace prefix with its colon, local name) of a part's root element, from its first
    chunk. What hides it — a prolog longer than the chunk, an unclosed comment, a DOCTYPE (no
    workbook has one) — refuses the file: a sheet must not pass for another part."""
    head = _PROLOG_NOISE.sub(b"", chunk)
    root = _ELEMENT.search(head)
    if root is None or b"<!" in head[: root.start()]:
        raise TableError("file_too_large", _TOO_BIG)
    return root.group(1) or b"", root.group(2)


def _scan_sheet(
    chunk: bytes, part: BinaryIO, prefix: bytes, limits: tuple[int, int, int], cells: int
) -> int:
    """Count one sheet's rows and cells (empty ones too) as bytes, from its first `chunk`.
    `limits` are (max_rows, max_cells, packed_cap): more than max_rows data rows, a row of more
    than MAX_COLUMNS cells, more than max_cells cells with the `cells` of the sheets before, or
    more than packed_cap in this sheet refuse the file. Returns the cells counted so far."""
    max_rows, max_cells, packed_cap = limits
    first = cells
    row_tags = [b"<" + prefix + b"row" + end for end in _TAG_ENDS]
    cell_tags = [b"<" + prefix + b"c" + end for end in _TAG_ENDS]
    keep = max(len(tag) for tag in row_tags) - 1  # a tag cut by the chunk's end waits for it
    rows = row_cells = 0
    data = b""
    while chunk:
        data += chunk
        chunk = part.read(_SCAN_CHUNK)
        cut = len(data) - keep if chunk else len(data)
        starts = sorted(position for tag in row_tags for position in _positions(data, tag, cut))
        begin = 0
        for end in (*starts, cut):
            if end == cut:  # the last stretch: tags that begin before the cut
                found = sum(data.count(tag, begin, cut + len(tag) - 1) for tag in cell_tags)
            else:
                found = sum(data.count(tag, begin, end) for tag in cell_tags)
            row_cells += found
            cells += found
            if row_cells > MAX_COLUMNS:
                raise _too_many_columns(max(rows, 1))
            if cells - first > packed_cap:
                raise TableError("file_too_large", _TOO_BIG)
            if cells > max_cells:
                raise TableError(
                    "too_many_cells",
                    f"文件的单元格过多（超过 {max_cells} 个，空单元格也计算在内），"
                    "请删除多余的行列或另存为 CSV 后上传",
                )
            if end != cut:
                rows += 1
                row_cells = 0
                if rows - 1 > max_rows:  # the header row and max_rows data rows
                    raise _too_many_rows(max_rows)
            begin = end
        data = data[cut:]
    return cells


def _positions(data: bytes, tag: bytes, cut: int) -> Iterator[int]:
    """Where `tag` begins in data before `cut`: at most a chunk's worth (a MB of <row/> is
    170 000); the caller refuses the file as soon as the rows are too many."""
    position = data.find(tag, 0, cut + len(tag) - 1)
    while position != -1:
        yield position
        position = data.find(tag, position + 1, cut + len(tag) - 1)


def _refuse_zip_bomb(parts: list[zipfile.ZipInfo]) -> None:
    """Refuse by the sizes the archive declares; zipfile checks while inflating that no part
    yields more than it declared, so the declared sizes bound the work."""
    total = 0
    for part in parts:
        total += part.file_size
        too_big = part.file_size > _MAX_PART_BYTES or (
            part.filename == "xl/sharedStrings.xml" and part.file_size > _MAX_SHARED_STRINGS_BYTES
        )
        packed_too_tight = part.file_size > _RATIO_FROM_BYTES and part.file_size > _MAX_RATIO * max(
            part.compress_size, 1
        )
        if too_big or packed_too_tight or total > _MAX_WORKBOOK_BYTES:
            raise TableError("file_too_large", _TOO_BIG)


def _xlsx_rows(workbook: Workbook, spool: BinaryIO | None) -> Iterator[list[str]]:
    row_no = 0
    try:
        if not workbook.worksheets:
            raise TableError("not_spreadsheet", "Excel 文件中没有工作表")
        sheet = workbook.worksheets[0]
        # Some generators write a wrong <dimension>; without it every row is read in full.
        sheet.reset_dimensions()
        for values in sheet.iter_rows(values_only=True):
            row_no += 1
            yield [_xlsx_text(value) for value in values]
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError, SyntaxError) as exc:
        raise TableError(
            "bad_zip", f"Excel 文件第 {row_no + 1} 行附近已损坏，请重新导出后上传"
        ) from exc
    finally:
        workbook.close()
        if spool is not None:
            spool.close()


def _xlsx_text(value: object) -> str:
    """Render a typed XLSX value the way the same cell reads in a CSV export."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer():
            return str(int(value))
        # repr is the shortest exact form (179.8, not 179.80000000000001); 'f' avoids 1e-05.
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        # Excel stores times as fractions of a day; 08:00:11 may come back as 08:00:10.999999.
        if value.microsecond >= 500_000:
            value += timedelta(seconds=1)
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, time):
        return f"{value:%H:%M:%S}"
    return str(value)


# --- stream helpers ----------------------------------------------------------------------


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    # A single read() may return less than asked before the end (pipes, sockets, wrappers).
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _close(iterator: Iterator[object]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


# --- shared by the import readers --------------------------------------------------------

ORDER_NO = "订单号"
_ORDER_NO_PATTERN = re.compile(r"[0-9A-Za-z-]{6,40}")
# How much of a bad value is echoed back in a report.
_ECHO_CHARS = 64

Record = TypeVar("Record")


class ImportFileError(TableError):
    """An import file that cannot be used at all; ``columns`` names missing required columns."""

    def __init__(self, code: str, message: str, columns: Sequence[str] = ()) -> None:
        super().__init__(code, message)
        self.columns = list(columns)


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected data row: its spreadsheet row number and why, in Chinese."""

    row: int
    order_no: str
    code: str
    message: str


class FieldError(Exception):
    """A cell failed validation; the shared row loop reports it as a RowError."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Column:
    """A column an import understands: its name in messages, other header spellings, limits."""

    name: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    max_length: int | None = None
    # Part of what names an order besides its number (a merchant's shop ID): a number may
    # then repeat in a file for different values of it.
    names_order: bool = False


def open_order_rows(
    stream: BinaryIO,
    filename: str,
    columns: Sequence[Column],
    build: Callable[[int, str, Mapping[str, str]], Record],
    *,
    max_rows: int | None = None,
    recognise: Callable[[Sequence[str]], ImportFileError | None] | None = None,
) -> Iterator[Record | RowError]:
    """Check the headers now, then stream one record or RowError per data row.

    ``recognise`` names a layout the reader can't read (another platform's export) from the
    normalised headers: its error replaces the list of missing columns, which would only
    puzzle someone who uploaded the right file from the wrong shop.

    Every file-level problem, now or later, is raised as ImportFileError. ``build`` gets the
    row number, the validated order number and the cells by column name; it raises FieldError.
    Rows are keyed by 订单号: a number seen earlier in the file rejects the later row.
    """
    return order_rows(open_table(stream, filename, max_rows=max_rows), columns, build, recognise)


def open_table(
    stream: BinaryIO,
    filename: str,
    *,
    max_rows: int | None = None,
    average_columns: int = AVERAGE_COLUMNS,
) -> Table:
    """read_table, its errors as ImportFileError: for readers that pick their columns by the
    header row (the platform export: which platform's layout)."""
    try:
        return read_table(stream, filename, max_rows=max_rows, average_columns=average_columns)
    except TableError as exc:
        raise _as_import_error(exc) from exc


def order_rows(
    table: Table,
    columns: Sequence[Column],
    build: Callable[[int, str, Mapping[str, str]], Record],
    recognise: Callable[[Sequence[str]], ImportFileError | None] | None = None,
    *,
    keys: Mapping[str, str | None] | None = None,
) -> Iterator[Record | RowError]:
    """open_order_rows of an opened table; `keys` (column → header) when the caller matched
    the headers itself (a merchant's saved mapping)."""
    if keys is None:
        keys = match_table(table, columns, recognise)
    if isinstance(table.rows, _Rows):
        table.rows.keep({header for header in keys.values() if header})
    return _order_rows(table.rows, keys, columns, build)


def open_columns(
    stream: BinaryIO,
    filename: str,
    columns: Sequence[Column],
    *,
    max_rows: int | None = None,
    recognise: Callable[[Sequence[str]], ImportFileError | None] | None = None,
) -> tuple[Iterator[tuple[int, dict[str, str]]], dict[str, str | None]]:
    """Open an upload and match its header to ``columns`` now (ImportFileError), returning the
    streamed rows and the header each column was found under (None: optional and absent)."""
    table = open_table(stream, filename, max_rows=max_rows)
    return table.rows, match_table(table, columns, recognise)


def match_table(
    table: Table,
    columns: Sequence[Column],
    recognise: Callable[[Sequence[str]], ImportFileError | None] | None = None,
) -> dict[str, str | None]:
    """The header each column was found under; a missing required column closes the table and
    raises ImportFileError (``recognise``'s, when it names the layout)."""
    try:
        return _match_columns(table.headers, columns)
    except ImportFileError as exc:
        _close(table.rows)
        other = recognise(table.headers) if recognise is not None else None
        if other is not None:
            raise other from exc
        raise


def _match_columns(headers: Sequence[str], columns: Sequence[Column]) -> dict[str, str | None]:
    present = set(headers)
    keys: dict[str, str | None] = {}
    missing: list[Column] = []
    for column in columns:
        spellings = (normalize_header(name) for name in (column.name, *column.aliases))
        keys[column.name] = next((key for key in spellings if key in present), None)
        if keys[column.name] is None and column.required:
            missing.append(column)
    if missing:
        names = "、".join(
            f"{c.name}（或 {' / '.join(c.aliases)}）" if c.aliases else c.name for c in missing
        )
        raise ImportFileError(
            "missing_columns",
            f"文件缺少必需的列：{names}。请检查第 1 行表头是否为原始导出的列名",
            columns=[c.name for c in missing],
        )
    return keys


def _order_rows(
    rows: Iterator[tuple[int, dict[str, str]]],
    keys: Mapping[str, str | None],
    columns: Sequence[Column],
    build: Callable[[int, str, Mapping[str, str]], Record],
) -> Iterator[Record | RowError]:
    limits = [(c.name, c.max_length) for c in columns if c.max_length is not None]
    naming = [c.name for c in columns if c.names_order]
    # First row of each order; one short string per row keeps 100k rows cheap.
    first_row: dict[str, int] = {}
    try:
        for row_no, cells in rows:
            values = {name: cells.get(key, "") if key else "" for name, key in keys.items()}
            reported_no = values[ORDER_NO][:_ECHO_CHARS]
            try:
                order_no = parse_order_no(values[ORDER_NO])
                reported_no = order_no
                key = "\x00".join([order_no, *(values[name] for name in naming)])
                if key in first_row:
                    raise FieldError(
                        "duplicate_in_file",
                        f"订单号 {order_no} 在文件中重复出现（第 {first_row[key]} 行已有），"
                        "本行未导入",
                    )
                first_row[key] = row_no
                _check_lengths(values, limits)
                record = build(row_no, order_no, values)
            except FieldError as exc:
                yield RowError(row_no, reported_no, exc.code, exc.message)
                continue
            yield record
    except ImportFileError:
        raise
    except TableError as exc:
        raise _as_import_error(exc) from exc
    finally:
        _close(rows)


def parse_order_no(text: str) -> str:
    """Validate an order number like 231121-538292030421876 (full-width digits allowed)."""
    if not text:
        raise FieldError("missing_order_no", "订单号为空")
    value = unicodedata.normalize("NFKC", text)
    if not _ORDER_NO_PATTERN.fullmatch(value):
        raise FieldError(
            "invalid_order_no",
            f"订单号“{text[:_ECHO_CHARS]}”格式不正确，应为 6–40 位数字、字母或“-”",
        )
    return value


def _check_lengths(values: Mapping[str, str], limits: Sequence[tuple[str, int]]) -> None:
    for name, limit in limits:
        length = len(values[name])
        if length > limit:
            raise FieldError("field_too_long", f"“{name}”超过 {limit} 个字符（本行为 {length} 个）")


def _as_import_error(exc: TableError) -> ImportFileError:
    if isinstance(exc, ImportFileError):
        return exc
    return ImportFileError(exc.code, exc.message)

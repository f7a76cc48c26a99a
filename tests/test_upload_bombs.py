"""Hostile uploads: zip bombs, empty rows, far columns are refused at once with a clear 422, and
reading an upload never holds the write lock other shops' requests need."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import time
import zipfile
from dataclasses import dataclass

import pytest
from openpyxl import Workbook

from portal.domain.imports import tabular
from portal.domain.imports.tabular import TableError, read_table
from portal.extensions import db
from tests import test_api_supplier, test_prices
from tests.conftest import PG_URL
from tests.factories import demo_order
from tests.test_order_rules import export_bytes
from tests.test_prices import IMPORT_URL as PRICE_IMPORT_URL
from tests.test_prices import csv_bytes

# The fixtures of the API and price suites: a bound shop and factory with tokens, a price site.
desk = test_api_supplier.desk
site = test_prices.site
clock = test_prices.clock

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def empty_rows_bomb(headers: list[str], rows: int = 1_500_000) -> bytes:
    """A small .xlsx whose sheet inflates to many MB of empty rows (the reported 138 KB one)."""
    return _workbook(headers, [b"<row/>" * rows], zipfile.ZIP_DEFLATED)


def stored_sheet(headers: list[str], rows: list[bytes]) -> bytes:
    """An .xlsx stored without compression (ratio 1: nothing for the zip checks to see) whose
    sheet holds these raw <row> elements below the header: as many cells as bytes allow."""
    return _workbook(headers, rows, zipfile.ZIP_STORED)


def _workbook(headers: list[str], rows: list[bytes], compression: int) -> bytes:
    """A one-sheet .xlsx: the header row, then these raw <row> elements."""
    header_cells = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{h}</t></is></c>'
        for i, h in enumerate(headers)
    )
    buffer = io.BytesIO()
    level = 9 if compression == zipfile.ZIP_DEFLATED else None
    with zipfile.ZipFile(buffer, "w", compression, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns='
                b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                + f'<row r="1">{header_cells}</row>'.encode()
            )
            for row in rows:
                sheet.write(row)
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


def with_part(
    content: bytes, name: str, data: bytes, compression: int = zipfile.ZIP_STORED
) -> bytes:
    """The workbook with its part `name` written (replaced or added)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(content)) as source,
        zipfile.ZipFile(buffer, "w", compression) as target,
    ):
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item.filename, source.read(item))
        target.writestr(name, data)
    return buffer.getvalue()


def one_row_of_cells(headers: list[str], cells: int = 4_000_000) -> bytes:
    """One data row of millions of empty cells: 16 MB, under the upload limit, that openpyxl
    spent 30 s and 1.6 GB building into one row before anyone could look at its width."""
    return stored_sheet(headers, [b"<row>" + b"<c/>" * cells + b"</row>"])


def far_columns_file(headers: list[str], rows: int = 3) -> bytes:
    """A real workbook whose data rows each have one cell in the last column (XFD)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in range(2, rows + 2):
        sheet.cell(row=row, column=1, value="x")
        sheet.cell(row=row, column=16384, value="x")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- the reader --------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_from_the_directory_before_inflating():
    bomb = empty_rows_bomb(["订单号"])
    assert len(bomb) < 200_000
    with pytest.raises(TableError) as caught:
        read_table(io.BytesIO(bomb), "orders.xlsx")
    assert caught.value.code == "file_too_large"
    assert "解压后过大" in caught.value.message


def test_empty_rows_count_toward_the_row_limit():
    content = b"\xe8\xae\xa2\xe5\x8d\x95\xe5\x8f\xb7\n" + b",\n" * 30 + b"1\n"
    table = read_table(io.BytesIO(content), "x.csv", max_rows=10)
    with pytest.raises(TableError) as caught:
        list(table.rows)
    assert caught.value.code == "too_many_rows" and "空行也计算在内" in caught.value.message


@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    """The workbooks openpyxl was asked to open: a hostile one must be refused before."""
    opened: list[str] = []
    load = tabular.load_workbook

    def recording_load(*args, **kwargs):
        opened.append("opened")
        return load(*args, **kwargs)

    monkeypatch.setattr(tabular, "load_workbook", recording_load)
    return opened


def test_a_row_of_millions_of_cells_is_refused_before_parsing(parsed):
    started = time.monotonic()
    with pytest.raises(TableError) as caught:
        read_table(io.BytesIO(one_row_of_cells(["订单号"], 300_000)), "x.xlsx")
    assert caught.value.code == "too_many_columns" and "第 2 行" in caught.value.message
    assert parsed == [] and time.monotonic() - started < 5


def test_empty_cells_count_toward_a_cell_limit(parsed):
    row = b"<row>" + b"<c/>" * 40 + b"</row>"  # narrow enough, but 40 a row on average
    content = stored_sheet(["订单号"], [row] * 1_000)
    with pytest.raises(TableError) as caught:
        read_table(io.BytesIO(content), "x.xlsx", max_rows=1_000)
    assert caught.value.code == "too_many_cells" and "空单元格也计算在内" in caught.value.message
    assert parsed == []
    # the same rows 32 wide on average are read (and skipped: they are empty)
    row = b"<row>" + b"<c/>" * 31 + b"</row>"
    table = read_table(
        io.BytesIO(stored_sheet(["订单号"], [row] * 1_000)), "x.xlsx", max_rows=1_000
    )
    assert list(table.rows) == []


def test_rows_beyond_the_limit_are_refused_before_parsing(parsed):
    content = stored_sheet(["订单号"], [b"<row/>"] * 30)
    with pytest.raises(TableError) as caught:
        read_table(io.BytesIO(content), "x.xlsx", max_rows=10)
    assert caught.value.code == "too_many_rows" and parsed == []


def test_a_crowded_shared_strings_part_is_refused_before_parsing(parsed, monkeypatch):
    monkeypatch.setattr(tabular, "_MIN_OTHER_ELEMENTS", 1_000)
    strings = b"<sst>" + b"<si><t>x</t></si>" * 2_000 + b"</sst>"
    content = with_part(stored_sheet(["订单号"], []), "xl/sharedStrings.xml", strings)
    with pytest.raises(TableError) as caught:
        read_table(io.BytesIO(content), "x.xlsx", max_rows=10)
    assert caught.value.code == "file_too_large" and parsed == []


def test_a_namespace_prefix_does_not_hide_the_cells(parsed):
    sheet = (
        b'<?xml version="1.0"?><x:worksheet xmlns:x="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main"><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr">'
        b"<x:is><x:t>\xe8\xae\xa2\xe5\x8d\x95\xe5\x8f\xb7</x:t></x:is></x:c></x:row>"
        + b"<x:row>"
        + b"<x:c/>" * 1_000
        + b"</x:row></x:sheetData></x:worksheet>"
    )
    content = with_part(stored_sheet(["订单号"], []), "xl/worksheets/sheet1.xml", sheet)
    with pytest.raises(TableError) as caught:
        read_table(io.BytesIO(content), "x.xlsx")
    assert caught.value.code == "too_many_columns" and parsed == []


def test_padding_cannot_buy_millions_of_empty_cells(parsed):
    """Random bytes beside the empty cells keep the packed ratio under 100, so the zip checks
    pass; the cells a packed byte may carry do not."""
    content = stored_sheet(["订单号"], [b"<row>" + b"<c/>" * 30 + b"</row>"] * 20_000)
    with zipfile.ZipFile(io.BytesIO(content)) as source:
        sheet = source.read("xl/worksheets/sheet1.xml")
    padding = b"<!--" + os.urandom(30_000).hex().encode() + b"-->"
    sheet = sheet.replace(b"<sheetData>", padding + b"<sheetData>")
    packed = with_part(content, "xl/worksheets/sheet1.xml", sheet, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size < 100 * info.compress_size  # the ratio check lets it through
    with pytest.raises(TableError) as caught:
        read_table(io.BytesIO(packed), "orders.xlsx", average_columns=64)
    assert caught.value.code == "file_too_large" and parsed == []


@pytest.mark.parametrize(
    "prolog",
    [b"<!--" + b" " * 1_100_000 + b"-->", b"<!DOCTYPE worksheet>", b"<!-- unclosed <a "],
)
def test_a_sheet_cannot_hide_behind_its_prolog(parsed, prolog):
    content = one_row_of_cells(["订单号"], 1_000)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    declaration, rest = sheet.split(b"?>", 1)
    hidden = with_part(content, "xl/worksheets/sheet1.xml", declaration + b"?>" + prolog + rest)
    with pytest.raises(TableError) as caught:
        read_table(io.BytesIO(hidden), "x.xlsx")
    assert caught.value.code == "file_too_large" and parsed == []


def test_a_cell_far_to_the_right_refuses_the_file():
    table = read_table(io.BytesIO(far_columns_file(["订单号"])), "x.xlsx")
    with pytest.raises(TableError) as caught:
        list(table.rows)
    assert caught.value.code == "too_many_columns" and "第 2 行" in caught.value.message


def test_without_a_limit_the_reader_still_stops(monkeypatch):
    monkeypatch.setattr(tabular, "DEFAULT_MAX_ROWS", 5)
    table = read_table(io.BytesIO("订单号\n".encode() + b"\n" * 10), "x.csv")
    with pytest.raises(TableError) as caught:
        list(table.rows)
    assert caught.value.code == "too_many_rows"


# --- each import refuses them with a 422 -------------------------------------------------------

# The export's own header row, so that only what lies below it is hostile.
ORDER_HEADERS = next(csv.reader(io.StringIO(export_bytes([demo_order("261121-1")]).decode("gbk"))))
EMPTY_CSV_ROWS = b",\n" * (tabular.DEFAULT_MAX_ROWS + 1)


def test_order_import_api_refuses_hostile_files(desk):
    for content, filename in (
        (empty_rows_bomb(ORDER_HEADERS), "orders.xlsx"),
        (far_columns_file(ORDER_HEADERS), "orders.xlsx"),
        (",".join(ORDER_HEADERS).encode() + b"\n" + EMPTY_CSV_ROWS, "orders.csv"),
    ):
        response = desk.merchant.upload(content, filename)
        assert response.status_code == 422, response.json
        assert response.json["error"]["code"] == "invalid_file"


def test_tracking_import_api_refuses_hostile_files(desk):
    headers = ["订单号", "快递公司", "快递单号"]
    for content, filename in (
        (empty_rows_bomb(headers), "t.xlsx"),
        (far_columns_file(headers), "t.xlsx"),
        (",".join(headers).encode() + b"\n" + b",,\n" * 10_001, "t.csv"),
    ):
        response = desk.supplier.upload_tracking(content, filename)
        assert response.status_code == 422, response.json
        assert response.json["error"]["code"] == "invalid_file"


def test_price_import_refuses_hostile_files(site):
    headers = ["商家店铺ID", "SKU键", "结算价(元)"]
    for content, filename in (
        (empty_rows_bomb(headers), "p.xlsx"),
        (far_columns_file(headers), "p.xlsx"),
    ):
        data = {"file": (io.BytesIO(content), filename)}
        response = site.browser.post(PRICE_IMPORT_URL, data, target="price-import")
        assert response.status_code == 422
        assert "过大" in response.get_data(as_text=True) or "列" in response.get_data(as_text=True)


# --- a hostile file is refused within seconds, and nobody waits for it ------------------------


def _refused_at_once(app, monkeypatch, parsed, send):
    """`send` posts the 16 MB one-row bomb: refused with a 422 within a few seconds (it took
    30 s), before openpyxl parsed it, and another shop could write while it was looked at."""
    free: list[bool] = []
    scan = tabular._refuse_zip_bomb

    def scan_and_probe(*args, **kwargs):
        if not PG_URL:
            free.append(_write_lock_free(app))
        return scan(*args, **kwargs)

    monkeypatch.setattr(tabular, "_refuse_zip_bomb", scan_and_probe)
    started = time.monotonic()
    response = send()
    elapsed = time.monotonic() - started
    assert response.status_code == 422
    assert elapsed < 5 and parsed == []
    assert free == ([] if PG_URL else [True])
    return response


def test_the_order_import_api_refuses_a_row_of_millions_of_cells_at_once(
    app, desk, monkeypatch, parsed
):
    bomb = one_row_of_cells(ORDER_HEADERS)
    response = _refused_at_once(
        app, monkeypatch, parsed, lambda: desk.merchant.upload(bomb, "o.xlsx")
    )
    assert response.json["error"]["code"] == "invalid_file"
    assert "列" in response.json["error"]["message"]


def test_the_order_upload_page_refuses_a_row_of_millions_of_cells_at_once(
    app, desk, monkeypatch, parsed
):
    from portal.domain import import_jobs
    from portal.domain.errors import DomainError
    from portal.models import Merchant

    bomb = one_row_of_cells(ORDER_HEADERS)

    def start():
        with app.test_request_context():
            merchant = db.session.scalar(db.select(Merchant).limit(1))
            try:
                import_jobs.start_import(merchant, None, "o.xlsx", bomb)
            except DomainError as error:
                assert error.code == "too_many_columns"
                return _Answer(422)
            return _Answer(200)

    _refused_at_once(app, monkeypatch, parsed, start)


def test_the_tracking_import_refuses_a_row_of_millions_of_cells_at_once(
    app, desk, monkeypatch, parsed
):
    bomb = one_row_of_cells(["订单号", "快递公司", "快递单号"])
    send = lambda: desk.supplier.upload_tracking(bomb, "t.xlsx")  # noqa: E731
    response = _refused_at_once(app, monkeypatch, parsed, send)
    assert response.json["error"]["code"] == "invalid_file"


def test_the_price_import_refuses_a_row_of_millions_of_cells_at_once(
    app, site, monkeypatch, parsed
):
    bomb = one_row_of_cells(["商家店铺ID", "SKU键", "结算价(元)"])

    def send():
        data = {"file": (io.BytesIO(bomb), "p.xlsx")}
        return site.browser.post(PRICE_IMPORT_URL, data, target="price-import")

    response = _refused_at_once(app, monkeypatch, parsed, send)
    assert "列" in response.get_data(as_text=True)


@dataclass
class _Answer:
    status_code: int


def _write_lock_free(app) -> bool:
    """Can another connection (another shop's request) take SQLite's write lock right now?"""
    with app.app_context():
        path = db.engine.url.database
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


# --- reading an upload never holds the write lock ---------------------------------------------


def _lock_free_while_reading(app, monkeypatch, at_row: int) -> list[bool]:
    """While the reader cleans row `at_row`, another shop's request tries to write at once."""
    with app.app_context():
        from portal.extensions import db

        path = db.engine.url.database
    seen: list[bool] = []
    clean = tabular._row_cells
    calls = {"n": 0}

    def clean_and_probe(raw, columns):
        calls["n"] += 1
        if calls["n"] == at_row and not seen:
            other = sqlite3.connect(path, isolation_level=None, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                seen.append(True)
            except sqlite3.OperationalError:
                seen.append(False)
            finally:
                other.close()
        return clean(raw, columns)

    monkeypatch.setattr(tabular, "_row_cells", clean_and_probe)
    return seen


sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite's single write lock")


@sqlite_only
def test_order_import_api_commits_in_batches_and_never_parses_under_the_lock(
    app, desk, monkeypatch
):
    orders = [demo_order(f"261121-7{i:014d}") for i in range(2500)]
    content = export_bytes(orders)
    # row 2000 of the second reading comes after the first batch was written
    free = _lock_free_while_reading(app, monkeypatch, at_row=2500 + 2000)
    response = desk.merchant.upload(content, "orders.csv")
    assert response.status_code == 200, response.json
    assert response.json["created"] == 2500
    assert free == [True]


@sqlite_only
def test_tracking_import_api_never_parses_under_the_lock(app, desk, monkeypatch):
    content = "订单号,快递公司,快递单号\n".encode() + b"".join(
        f"261121-8{i:014d},SF,SF{i:013d}\n".encode() for i in range(50)
    )
    free = _lock_free_while_reading(app, monkeypatch, at_row=40)
    response = desk.supplier.upload_tracking(content)
    assert response.status_code == 200, response.json
    assert free == [True]


@sqlite_only
def test_price_import_never_parses_under_the_lock(app, site, monkeypatch):
    shop = site.merchant_user.shop_id
    content = csv_bytes([["商家店铺ID", "SKU键", "结算价(元)"]] + [[shop, "A", "1"]] * 20)
    free = _lock_free_while_reading(app, monkeypatch, at_row=10)
    site.browser.post(
        PRICE_IMPORT_URL, {"file": (io.BytesIO(content), "p.csv")}, target="price-import"
    )
    assert free == [True]

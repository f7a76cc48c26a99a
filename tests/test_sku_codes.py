"""The factory's own codes (厂家编码) per merchant SKU: set in batch, inline and by file, and
shown beside the merchant's code on the desk, labels, 备货汇总, price list and statements."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from pypdf import PdfReader
from sqlalchemy import select

from portal.domain import sku_codes
from portal.domain.keyring import current_keyring
from portal.domain.printing.jobs import create_print_job, render_print_job
from portal.domain.sku_codes import CodeItem
from portal.domain.statements import files as statement_files
from portal.extensions import db
from portal.models import SupplierSkuCode
from tests import test_statements, test_supplier_desk
from tests.test_statements import Pair, build, shanghai
from tests.test_supplier_desk import SupplierDesk, order_no, private_order, row_html

desk = test_supplier_desk.desk  # fixture: a factory bound to two merchants, logged in
pair = test_statements.pair  # fixtures: a bound pair on a fixed clock
clock = test_statements.clock


def codes(desk: SupplierDesk) -> dict[tuple[str, str], str]:
    with desk.app.app_context():
        rows = db.session.execute(
            select(
                SupplierSkuCode.merchant_id, SupplierSkuCode.sku_key, SupplierSkuCode.supplier_code
            )
        ).all()
        shops = {desk.merchant().id: "A", desk.merchant(other=True).id: "B"}
        return {(shops[m], key): code for m, key, code in rows}


def set_codes(desk: SupplierDesk, *items: CodeItem) -> sku_codes.CodeResult:
    with desk.app.app_context():
        result = sku_codes.set_supplier_codes(desk.supplier(), list(items))
        db.session.commit()
        return result


def test_codes_are_set_per_merchant_sku_with_refusals_named(desk: SupplierDesk, factory) -> None:
    desk.seed_assigned(private_order(order_no(1)))  # BLK-150-GRY
    desk.seed_assigned(private_order(order_no(2), 1, sku_code="BED-18"), other=True)
    a, b = desk.merchant_user.shop_id, desk.other_merchant_user.shop_id
    stranger = factory.merchant().shop_id
    result = set_codes(
        desk,
        CodeItem(a, "BLK-150-GRY", " F-001 "),
        CodeItem(b, "BED-18", "F-BED"),
        CodeItem(b, "BLK-150-GRY", "F-X"),  # merchant B never sent this SKU
        CodeItem(stranger, "BLK-150-GRY", "F-Y"),
        CodeItem(a, "", "F-Z"),
        CodeItem(a, "BLK-150-GRY", "x" * 65),
        CodeItem(a, "BLK-150-GRY", "F-002"),  # repeated in one batch
    )
    assert [c.supplier_code for c in result.saved] == ["F-001", "F-BED"]
    assert [(r.index, r.code) for r in result.refused] == [
        (2, "unknown_sku"),
        (3, "not_bound"),
        (4, "invalid_sku_key"),
        (5, "invalid_supplier_code"),
        (6, "duplicate_sku"),
    ]
    assert codes(desk) == {("A", "BLK-150-GRY"): "F-001", ("B", "BED-18"): "F-BED"}
    # Set again: replaced; "" removes it.
    set_codes(desk, CodeItem(a, "BLK-150-GRY", "F-009"), CodeItem(b, "BED-18", ""))
    assert codes(desk) == {("A", "BLK-150-GRY"): "F-009"}


def test_the_code_shows_on_the_desk_labels_and_goods_summary(desk: SupplierDesk) -> None:
    desk.seed_assigned(private_order(order_no(1)))
    desk.seed_assigned(private_order(order_no(2), 1), other=True)  # same key, other merchant
    set_codes(desk, CodeItem(desk.merchant_user.shop_id, "BLK-150-GRY", "F-001"))
    page = desk.page()
    assert "F-001" in row_html(page, order_no(1))
    assert "F-001" not in row_html(page, order_no(2))  # merchant B's SKU has no code
    goods = desk.get("/supplier/orders/goods?tab=to_print").get_data(as_text=True)
    assert re.search(r'data-sku="BLK-150-GRY">.*?supplier-code">F-001<', goods, re.S)
    with desk.app.app_context():
        supplier = desk.supplier()
        job = create_print_job(supplier, [order_no(1)], "SF", "100x180", "", None).job
        pdf = render_print_job(current_keyring(), supplier, job, None).pdf()
        db.session.commit()
    text = PdfReader(io.BytesIO(pdf)).pages[1].extract_text().replace("\n", "")
    assert "BLK-150-GRY · 厂家编码 F-001" in text


def test_price_list_inline_edit_and_files(desk: SupplierDesk) -> None:
    desk.seed_assigned(private_order(order_no(1)))
    prices_page = desk.get("/supplier/prices").get_data(as_text=True)
    assert 'name="supplier_code"' in prices_page
    with desk.app.app_context():
        merchant_id = desk.merchant().id
    saved = desk.post(
        "/supplier/prices/code",
        {"merchant_id": merchant_id, "sku_key": "BLK-150-GRY", "supplier_code": "F-777"},
        target="price-row",
    )
    assert saved.status_code == 200 and 'value="F-777"' in saved.get_data(as_text=True)
    refused = desk.post(
        "/supplier/prices/code",
        {"merchant_id": merchant_id, "sku_key": "BLK-150-GRY", "supplier_code": "y" * 70},
        target="price-row",
    )
    assert refused.status_code == 422 and "厂家编码" in refused.get_data(as_text=True)
    assert (
        desk.post(
            "/supplier/prices/code",
            {"merchant_id": merchant_id, "sku_key": "NOPE", "supplier_code": "F"},
            target="price-row",
        ).status_code
        == 404
    )

    exported = desk.get("/supplier/sku-codes/export").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(exported.lstrip("\ufeff"))))
    assert rows[0] == list(sku_codes.EXPORT_HEADER)
    assert rows[1][4:] == ["BLK-150-GRY", "F-777", ""]
    rows[1][5:] = ["F-888", "K-07"]  # the 库位 column: a whole store's locations in one file
    rows.append([desk.merchant_user.shop_id, "", "", "", "UNKNOWN", "F-1", ""])

    def upload(rows: list[list[str]]) -> str:
        body = io.StringIO()
        csv.writer(body).writerows(rows)
        response = desk.browser.client.post(
            "/supplier/sku-codes/import",
            data={"file": (io.BytesIO(body.getvalue().encode()), "codes.csv")},
            headers={**desk.browser.headers(True, "sku-code-import")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def location() -> str:
        with desk.app.app_context():
            return db.session.scalar(select(SupplierSkuCode.location))

    html = upload(rows)
    assert "第 3 行" in html and "UNKNOWN" in html
    assert codes(desk) == {("A", "BLK-150-GRY"): "F-888"} and location() == "K-07"
    # a file without the 库位 column (the older layout) leaves the location as it is
    upload([row[:6] for row in rows[:2]])
    assert location() == "K-07"
    exported = desk.get("/supplier/sku-codes/export").get_data(as_text=True)
    assert list(csv.reader(io.StringIO(exported)))[1][5:] == ["F-888", "K-07"]


def test_statements_show_the_code_beside_the_merchants(pair: Pair) -> None:
    pair.returned_order(shanghai(2026, 11, 20, 10, 0))
    pair.returned_order(shanghai(2026, 11, 20, 11, 0), sku="BED-18")
    sku_codes.set_supplier_codes(
        pair.supplier, [CodeItem(pair.merchant.shop_id, "BLK-150-GRY", "F-001")]
    )
    db.session.commit()
    statement = build(pair.request(date(2026, 11, 20), date(2026, 11, 20)))
    header, *lines, _totals = statement_files.statement_rows(statement)
    sku, code = header.index("SKU"), header.index("厂家编码")
    assert sorted((line[sku], line[code]) for line in lines) == [
        ("BED-18", ""),
        ("BLK-150-GRY", "F-001"),
    ]

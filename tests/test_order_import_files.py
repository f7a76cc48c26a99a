"""Importing real platform export files through upsert_orders: formats, headers, bad rows, size.

Files are written the way the platform writes them (portal.domain.demo_data.write_platform_export:
CRLF, tab-prefixed order numbers, GBK by default) and then edited where a test needs a
variant, so every test reads a file a merchant could really upload.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from portal.domain.demo_data import generate_orders, write_platform_export
from portal.domain.imports.platform_export import (
    ImportFileError,
    open_platform_export,
    read_platform_export,
)
from portal.domain.keyring import current_keyring
from portal.domain.orders.queries import receiver_for_merchant
from portal.domain.orders.upsert import UpsertResult, upsert_orders
from portal.domain.privacy.normalize import normalize_text
from portal.domain.privacy.phones import normalize_phone
from portal.extensions import db
from portal.models import Merchant, Order, OrderEvent
from tests.factories import demo_order
from tests.test_order_rules import Shop, bound_shop, import_file

NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)


def orders(count: int, seed: int = 3) -> list[dict[str, Any]]:
    return list(generate_orders(count, seed=seed, now=NOW))


def export(rows: Sequence[Mapping[str, Any]], fmt: str = "csv", encoding: str = "gbk") -> bytes:
    buffer = io.BytesIO()
    assert write_platform_export(rows, buffer, fmt=fmt, encoding=encoding) == len(rows)
    return buffer.getvalue()


def table(data: bytes, encoding: str = "gbk") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def to_csv(rows: Sequence[Sequence[str]], encoding: str = "gbk") -> bytes:
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode(encoding)


def edit(data: bytes, edits: Mapping[int, Mapping[str, str]], encoding: str = "gbk") -> bytes:
    """Change cells of a CSV export: {spreadsheet row number: {header: new value}}."""
    rows = table(data, encoding)
    for row_no, cells in edits.items():
        for header, value in cells.items():
            rows[row_no - 1][rows[0].index(header)] = value
    return to_csv(rows, encoding)


@pytest.fixture
def shop(app_ctx: Any, factory: Any) -> Shop:
    return bound_shop(factory)


@pytest.fixture
def upload(shop: Shop, tmp_path: Path) -> Callable[..., UpsertResult]:
    """Save the bytes as a file, import it for the shop's merchant (or another), commit."""
    counter = iter(range(1, 1000))

    def upload(data: bytes, suffix: str = "csv", merchant: Merchant | None = None) -> UpsertResult:
        path = tmp_path / f"订单导出-{next(counter)}.{suffix}"
        path.write_bytes(data)
        result = import_file(merchant or shop.merchant, path)
        db.session.commit()
        return result

    return upload


def counts(result: UpsertResult) -> tuple[int, int, int, int]:
    return result.created, result.updated, result.unchanged, result.rejected_count


def order_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def stored(shop: Shop, order_no: str) -> Order:
    db.session.expire_all()
    return db.session.scalar(
        select(Order).where(Order.merchant_id == shop.merchant.id, Order.order_no == order_no)
    )


# --------------------------------------------------------------------------- encodings, formats

FORMATS = {
    "gbk": ("csv", "gbk"),
    "gb18030": ("csv", "gb18030"),
    "utf-8": ("csv", "utf-8"),
    "utf-8-bom": ("csv", "utf-8-sig"),
    "xlsx": ("xlsx", ""),
}


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_imports_the_same_orders(shop: Shop, upload: Any, name: str) -> None:
    generated = orders(40)
    fmt, encoding = FORMATS[name]
    data = export(generated, fmt, encoding or "utf-8")
    if name == "utf-8-bom":
        assert data.startswith(codecs.BOM_UTF8)
    assert counts(upload(data, fmt)) == (40, 0, 0, 0)

    for source in generated:
        order = stored(shop, source["order_no"])
        receiver = source["receiver"]
        plain = receiver_for_merchant(current_keyring(), shop.merchant, order)
        assert plain.name == receiver["name"]
        assert plain.phone == normalize_phone(receiver["phone"]).canonical
        assert plain.detail == receiver["detail"]
        assert (order.province, order.city, order.district) == (
            receiver["province"],
            receiver["city"],
            receiver["district"],
        )
        line = source["lines"][0]
        assert (order.goods_id, order.spec, order.quantity) == (
            line["goods_id"],
            line["spec"],
            line["quantity"],
        )
        assert (order.platform_status, order.audit_hold, order.paid_at) == (
            source["platform_status"],
            source["audit_hold"],
            source["paid_at"],
        )
        assert order.after_sale_status == source["after_sale_status"]
        assert (order.goods_total_fen, order.paid_fen) == (
            source["goods_total_fen"],
            source["paid_fen"],
        )

    # The same export in every other encoding and format is the same data: nothing changes.
    for other, (other_fmt, other_encoding) in FORMATS.items():
        if other != name:
            again = export(generated, other_fmt, other_encoding or "utf-8")
            assert counts(upload(again, other_fmt)) == (0, 0, 40, 0), other


def test_gbk_file_with_characters_beyond_gb2312(shop: Shop, upload: Any) -> None:
    generated = orders(3)
    receiver = {**generated[0]["receiver"], "name": "喆䶮", "street": "", "detail": "昇𠀀路1号"}
    generated[0]["receiver"] = receiver
    data = export(generated, "csv", "gb18030")
    assert counts(upload(data)) == (3, 0, 0, 0)
    order = stored(shop, generated[0]["order_no"])
    receiver = receiver_for_merchant(current_keyring(), shop.merchant, order)
    assert (receiver.name, receiver.detail) == ("喆䶮", "昇𠀀路1号")


# --------------------------------------------------------------------------- headers and columns


def test_full_width_and_half_width_headers(shop: Shop, upload: Any) -> None:
    generated = orders(10)
    data = export(generated)
    header, rest = data.split(b"\r\n", 1)
    full_width = header.decode("gbk").replace("(", "（").replace(")", "）")
    assert "商品数量（件）" in full_width and "用户实付金额（元）" in full_width
    assert counts(upload(full_width.encode("gbk") + b"\r\n" + rest)) == (10, 0, 0, 0)
    assert counts(upload(data)) == (0, 0, 10, 0)
    # Spaces and a spreadsheet's leading tab around the headers change nothing either.
    spaced = header.decode("gbk").replace("商品数量(件)", "\t商品数量 ( 件 )")
    assert counts(upload(spaced.encode("gbk") + b"\r\n" + rest)) == (0, 0, 10, 0)


def test_extra_and_reordered_columns(shop: Shop, upload: Any) -> None:
    generated = orders(10)
    data = export(generated)
    rows = table(data)
    extra = ["店铺名称", "旗舰店"], ["备注（内部）", "=SUM(A1)"]
    reordered = [
        [*reversed(row), *(column[0] if index == 0 else column[1] for column in extra)]
        for index, row in enumerate(rows)
    ]
    assert counts(upload(to_csv(reordered))) == (10, 0, 0, 0)
    # Same data as the platform's own column order.
    assert counts(upload(data)) == (0, 0, 10, 0)


def test_xlsx_with_reordered_columns_and_full_width_headers(shop: Shop, upload: Any) -> None:
    generated = orders(5)
    rows = table(export(generated))
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append([c.replace("(", "（").replace(")", "）") for c in reversed(row)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert counts(upload(buffer.getvalue(), "xlsx")) == (5, 0, 0, 0)
    assert counts(upload(export(generated))) == (0, 0, 5, 0)


@pytest.mark.parametrize("missing", ["手机", "订单号", "区", "售后状态"])
@pytest.mark.parametrize("reader", [open_platform_export, read_platform_export])
def test_missing_required_column_imports_nothing(
    shop: Shop, tmp_path: Path, missing: str, reader: Callable[..., Any]
) -> None:
    rows = table(export(orders(20)))
    index = rows[0].index(missing)
    path = tmp_path / "orders.csv"
    path.write_bytes(to_csv([row[:index] + row[index + 1 :] for row in rows]))
    with path.open("rb") as handle, pytest.raises(ImportFileError) as error:
        upsert_orders(current_keyring(), shop.merchant, reader(handle, path.name))
    assert error.value.code == "missing_columns"
    assert error.value.columns == [missing]
    assert missing in error.value.message
    db.session.commit()
    assert order_count() == 0


def test_missing_required_column_in_xlsx(shop: Shop, tmp_path: Path) -> None:
    rows = table(export(orders(3)))
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row[:10] + row[11:])  # 收货人 left out
    path = tmp_path / "orders.xlsx"
    workbook.save(path)
    with pytest.raises(ImportFileError) as error:
        import_file(shop.merchant, path)
    assert error.value.columns == ["收货人"]
    assert order_count() == 0


# --------------------------------------------------------------------------- bad rows


def test_bad_rows_are_reported_by_row_number_and_good_rows_go_in(shop: Shop, upload: Any) -> None:
    generated = orders(12)
    numbers = [o["order_no"] for o in generated]
    bad = {
        3: ({"手机": "无"}, "invalid_phone"),
        4: ({"商品数量(件)": "0"}, "invalid_quantity"),
        6: ({"订单状态": "火星状态"}, "unknown_status"),
        7: ({"订单号": "\t" + numbers[0]}, "duplicate_in_file"),
        9: ({"订单号": "单号?"}, "invalid_order_no"),
        10: ({"支付时间": "2026-13-45 25:00:00"}, "invalid_datetime"),
        11: ({"是否审核中": "也许"}, "invalid_audit_hold"),
        12: ({"用户实付金额(元)": "-5"}, "invalid_amount"),
        13: ({"商品": ""}, "missing_goods"),
    }
    data = edit(export(generated), {row: cells for row, (cells, _) in bad.items()})
    result = upload(data)

    good = [numbers[row - 2] for row in range(2, 14) if row not in bad]
    assert counts(result) == (len(good), 0, 0, len(bad))
    assert [(r.row, r.code) for r in result.rejected] == [
        (row, code) for row, (_, code) in sorted(bad.items())
    ]
    reported = {r.row: r.order_no for r in result.rejected}
    assert reported[3] == numbers[1] and reported[7] == numbers[0] and reported[9] == "单号?"
    assert all(r.message for r in result.rejected)
    assert "第 3 行" in result.as_dict()["rejected"][0]["message"]
    assert result.as_dict()["rejected"][0]["row"] == 3
    assert sorted(db.session.scalars(select(Order.order_no))) == sorted(good)

    # Fixing the rows in a later export brings them in; the good ones stay unchanged.
    result = upload(export(generated))
    assert counts(result) == (len(bad), 0, len(good), 0)


def test_blank_rows_are_skipped_but_numbering_follows_the_sheet(shop: Shop, upload: Any) -> None:
    rows = table(export(orders(3)))
    rows.insert(2, [""] * len(rows[0]))  # an empty line becomes row 3
    rows[4][rows[0].index("手机")] = "无"  # spreadsheet row 5
    result = upload(to_csv(rows))
    assert counts(result) == (2, 0, 0, 1)
    assert [(r.row, r.code) for r in result.rejected] == [(5, "invalid_phone")]


def test_spreadsheet_text_markers_are_stripped(shop: Shop, upload: Any) -> None:
    generated = orders(1)
    number = generated[0]["order_no"]
    phone = normalize_phone(generated[0]["receiver"]["phone"]).canonical
    data = edit(export(generated), {2: {"订单号": f'="{number}"', "手机": "'" + phone}})
    assert counts(upload(data)) == (1, 0, 0, 0)
    order = stored(shop, number)
    assert receiver_for_merchant(current_keyring(), shop.merchant, order).phone == phone


# --------------------------------------------------------------------------- re-import


def test_reimport_is_a_no_op(shop: Shop, upload: Any) -> None:
    data = export(orders(30))
    assert counts(upload(data)) == (30, 0, 0, 0)
    before = db.session.execute(
        select(Order.id, Order.updated_at, Order.name_enc, Order.content_hash).order_by(Order.id)
    ).all()
    assert counts(upload(data)) == (0, 0, 30, 0)
    assert counts(upload(data, "csv")) == (0, 0, 30, 0)
    db.session.expire_all()
    after = db.session.execute(
        select(Order.id, Order.updated_at, Order.name_enc, Order.content_hash).order_by(Order.id)
    ).all()
    assert after == before  # not even re-encrypted
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == 0


def test_later_export_applies_its_changes(shop: Shop, upload: Any) -> None:
    generated = orders(20)
    awaiting = [o for o in generated if o["platform_status"] == "awaiting_shipment"]
    assert counts(upload(export(generated))) == (20, 0, 0, 0)
    first, second, third = awaiting[0], awaiting[1], awaiting[2]
    first["merchant_note"] = "加急，优先发货"
    second["lines"] = [{**second["lines"][0], "quantity": 3}]
    third.update(after_sale_status="退款中")
    result = upload(export(generated))
    assert counts(result) == (0, 3, 17, 0)
    assert stored(shop, first["order_no"]).merchant_note == "加急，优先发货"
    assert stored(shop, second["order_no"]).quantity == 3
    changed = stored(shop, third["order_no"])
    assert (changed.after_sale_active, changed.after_sale_status) == (True, "退款中")
    # The after-sale is cancelled in a later export: 无售后或售后取消 clears it.
    third.update(after_sale_status="")
    assert counts(upload(export(generated, "xlsx"), "xlsx")) == (0, 1, 19, 0)
    assert stored(shop, third["order_no"]).after_sale_active is False


def test_orders_are_per_merchant(shop: Shop, upload: Any, factory: Any) -> None:
    data = export(orders(5))
    assert counts(upload(data)) == (5, 0, 0, 0)
    db.session.commit()
    other = db.session.get(Merchant, factory.merchant().merchant.id)
    # The same order numbers under another merchant are that merchant's own new orders.
    assert counts(upload(data, merchant=other)) == (5, 0, 0, 0)
    assert order_count() == 10


def test_the_same_order_twice_in_one_service_call(shop: Shop) -> None:
    """Rows from the API or a script have no file reader in front to catch repeats."""
    number = "261121-500000000000001"
    rows = [
        demo_order(number),
        demo_order(number, receiver_name="李娜"),
        demo_order("261121-500000000000002"),
    ]
    result = upsert_orders(current_keyring(), shop.merchant, rows, batch_size=2)
    db.session.commit()
    assert counts(result) == (2, 0, 0, 1)
    assert [(r.order_no, r.code) for r in result.rejected] == [(number, "duplicate_order_no")]
    order = stored(shop, number)
    assert receiver_for_merchant(current_keyring(), shop.merchant, order).name == "张伟"
    # Across batches of one call, too.
    rows = [demo_order("261121-500000000000003"), demo_order("261121-500000000000003")]
    result = upsert_orders(current_keyring(), shop.merchant, rows, batch_size=1)
    assert counts(result) == (1, 0, 0, 1)


# --------------------------------------------------------------------------- size


def test_ten_thousand_rows(shop: Shop, upload: Any) -> None:
    generated = orders(10_000, seed=11)
    data = export(generated)
    assert data.count(b"\r\n") == 10_001
    result = upload(data)
    assert counts(result) == (10_000, 0, 0, 0)
    assert order_count() == 10_000
    last = generated[-1]
    order = stored(shop, last["order_no"])
    plain = receiver_for_merchant(current_keyring(), shop.merchant, order)
    assert plain.name == normalize_text(last["receiver"]["name"])

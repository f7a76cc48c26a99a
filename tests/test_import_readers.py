"""Tests for the streaming spreadsheet readers: platform order export and tracking files."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from portal.domain.imports import (
    ImportedOrder,
    ImportFileError,
    RowError,
    TableError,
    TrackingRow,
    open_platform_export,
    open_tracking_file,
    read_platform_export,
    read_table,
    read_tracking_file,
)
from portal.domain.imports.tabular import SNIFF_BYTES, clean_cell, normalize_header

SAMPLE = Path(__file__).parent / "data" / "pdd_orders_export_gbk.csv"

HEADERS = [
    "商品",
    "订单号",
    "订单状态",
    "商品总价(元)",
    "用户实付金额(元)",
    "商家实收金额(元)",
    "商品数量(件)",
    "收货人",
    "手机",
    "是否审核中",
    "省",
    "市",
    "区",
    "街道",
    "支付时间",
    "承诺发货时间",
    "商品id",
    "商品规格",
    "样式ID",
    "商家编码-SKU维度",
    "商家编码-商品维度",
    "快递单号",
    "快递公司",
    "商家备注",
    "售后状态",
    "买家留言",
]

BASE_ROW = {
    "商品": "加厚珊瑚绒毛毯 冬季保暖",
    "订单号": "\t261118-676264143056892",
    "订单状态": "待发货",
    "商品总价(元)": "179.80",
    "用户实付金额(元)": "171.80",
    "商家实收金额(元)": "174.80",
    "商品数量(件)": "2",
    "收货人": "张伟",
    "手机": "13577446522",
    "是否审核中": "否",
    "省": "广东省",
    "市": "广州市",
    "区": "天河区",
    "街道": "石牌街道团结路887号18栋3004室",
    "支付时间": "2026-11-18 08:00:11",
    "承诺发货时间": "2026-11-20 08:00:11",
    "商品id": "9021334455",
    "商品规格": "150x200cm 灰色",
    "样式ID": "100000",
    "商家编码-SKU维度": "BLK-150-GRY",
    "商家编码-商品维度": "4455",
    "快递单号": "",
    "快递公司": "",
    "商家备注": "",
    "售后状态": "无售后或售后取消",
    "买家留言": "请尽快发货，谢谢",
}


def order_row(number: int = 0, **changes: str) -> dict[str, str]:
    """A valid export row; ``number`` makes the order number unique."""
    row = dict(BASE_ROW, 订单号=f"\t261118-{number:015d}")
    row.update(changes)
    return row


def write_csv(
    path: Path,
    rows: Iterable[dict[str, str]],
    headers: Sequence[str] = HEADERS,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(headers)
        for row in rows:
            writer.writerow([row.get(h, "") for h in headers])
    return path


def write_xlsx(path: Path, rows: Iterable[Sequence[object]], headers: Sequence[str]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def read_orders(path: Path) -> list[ImportedOrder | RowError]:
    with path.open("rb") as stream:
        items = list(read_platform_export(stream, path.name))
        assert not stream.closed  # the caller owns the upload
    return items


def only_orders(items: list[ImportedOrder | RowError]) -> list[ImportedOrder]:
    assert all(isinstance(item, ImportedOrder) for item in items), items
    return items  # type: ignore[return-value]


class CountingReader(io.RawIOBase):
    """A non-seekable binary stream that remembers how much has been read from it."""

    def __init__(self, data: io.BufferedIOBase) -> None:
        super().__init__()
        self._data = data
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.bytes_read += len(chunk)
        return len(chunk)


# --- the real sample -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_orders() -> dict[str, ImportedOrder]:
    orders = only_orders(read_orders(SAMPLE))
    assert len(orders) == 40
    return {order.order_no: order for order in orders}


def test_sample_first_row_exact(sample_orders: dict[str, ImportedOrder]) -> None:
    first = next(iter(sample_orders.values()))
    assert first == ImportedOrder(
        row=2,
        order_no="261118-676264143056892",  # the platform's leading tab is gone
        platform_status="awaiting_shipment",
        platform_status_text="待发货",
        after_sale_status="",
        after_sale_active=False,
        audit_hold=False,
        paid_at=datetime(2026, 11, 18, 0, 0, 11, tzinfo=UTC),
        promise_ship_at=datetime(2026, 11, 20, 0, 0, 11, tzinfo=UTC),
        receiver_name="张伟",
        receiver_phone="13577446522",
        province="广东省",
        city="广州市",
        district="天河区",
        detail="石牌街道团结路887号18栋3004室",
        goods_id="9021334455",
        goods_name="加厚珊瑚绒毛毯 冬季保暖",
        spec="150x200cm 灰色",
        style_id="100000",
        sku_code="BLK-150-GRY",
        goods_code="4455",
        quantity=2,
        tracking_no="",
        courier_name="",
        merchant_note="",
        buyer_note="请尽快发货，谢谢",
        goods_total_fen=17980,
        paid_fen=17180,
        merchant_received_fen=17480,
    )


def test_sample_rows_are_numbered_like_the_spreadsheet(
    sample_orders: dict[str, ImportedOrder],
) -> None:
    assert [order.row for order in sample_orders.values()] == list(range(2, 42))


def test_sample_dongguan_has_no_district(sample_orders: dict[str, ImportedOrder]) -> None:
    order = sample_orders["261119-726629807805700"]
    assert (order.province, order.city, order.district) == ("广东省", "东莞市", "")
    assert order.detail == "虎门镇解放大道190号26栋3304室"


def test_sample_virtual_phone_and_dotted_name(sample_orders: dict[str, ImportedOrder]) -> None:
    assert sample_orders["261118-190888440937964"].receiver_phone == "13242203407-1041"
    assert sample_orders["261118-939889443190443"].receiver_name == "阿卜杜热西提·买买提"


def test_sample_after_sale_audit_and_refund(sample_orders: dict[str, ImportedOrder]) -> None:
    active = {no for no, order in sample_orders.items() if order.after_sale_active}
    assert active == {
        "261120-383177489795629",
        "261120-717158056913236",
        "261120-306098151493941",  # refunded before shipping
    }
    requested = sample_orders["261120-383177489795629"]
    assert requested.after_sale_status == "买家申请退款，待商家处理"
    assert requested.platform_status == "awaiting_shipment"

    held = {no for no, order in sample_orders.items() if order.audit_hold}
    assert held == {"261118-619121373567645", "261119-953052095549730"}

    refunded = sample_orders["261120-306098151493941"]
    assert refunded.platform_status == "cancelled"
    assert refunded.platform_status_text == "未发货，退款成功"
    assert refunded.after_sale_status == "退款成功"


def test_sample_shipped_row_keeps_tracking(sample_orders: dict[str, ImportedOrder]) -> None:
    shipped = [order for order in sample_orders.values() if order.platform_status == "shipped"]
    assert len(shipped) == 1
    assert shipped[0].order_no == "261119-852724877741932"
    assert (shipped[0].tracking_no, shipped[0].courier_name) == ("YT7460266611111", "圆通快递")


def test_sample_sku_without_merchant_code(sample_orders: dict[str, ImportedOrder]) -> None:
    order = sample_orders["261120-383177489795629"]
    assert (order.sku_code, order.goods_id, order.spec) == ("", "9021339900", "500ml 兔子")


# --- encodings and formats -----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_text_encodings(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "orders.csv", [order_row(1)], encoding=encoding)
    [order] = only_orders(read_orders(path))
    assert order.receiver_name == "张伟"
    assert order.buyer_note == "请尽快发货，谢谢"
    assert order.order_no == "261118-000000000000001"


def test_gb18030_only_characters(tmp_path: Path) -> None:
    name = "𠮷野·䶮"
    with pytest.raises(UnicodeEncodeError):
        name.encode("gbk")  # the point: GBK alone could not have read this file
    path = write_csv(tmp_path / "orders.csv", [order_row(1, 收货人=name)], encoding="gb18030")
    [order] = only_orders(read_orders(path))
    assert order.receiver_name == name


def test_utf16_tab_separated_unicode_text(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.txt", [order_row(1)], encoding="utf-16", delimiter="\t")
    assert path.read_bytes().startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    [order] = only_orders(read_orders(path))
    assert (order.receiver_name, order.quantity) == ("张伟", 2)


def test_tab_separated_utf8(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.csv", [order_row(1)], delimiter="\t")
    [order] = only_orders(read_orders(path))
    assert order.detail == BASE_ROW["街道"]


def test_xlsx_typed_cells(tmp_path: Path) -> None:
    row = order_row(1)
    typed: dict[str, object] = {
        **row,
        "订单号": "261118-000000000000001",
        "商品数量(件)": 2,
        "商品总价(元)": 179.8,
        "用户实付金额(元)": 171.8,
        "商家实收金额(元)": 174.8,
        "商品id": 9021334455,
        "样式ID": 100000.0,
        "商家编码-商品维度": 4455,
        "支付时间": datetime(2026, 11, 18, 8, 0, 11),
    }
    path = write_xlsx(tmp_path / "orders.xlsx", [[typed[h] for h in HEADERS]], HEADERS)
    [order] = only_orders(read_orders(path))
    assert order.quantity == 2
    assert (order.goods_total_fen, order.paid_fen, order.merchant_received_fen) == (
        17980,
        17180,
        17480,
    )
    assert (order.goods_id, order.style_id, order.goods_code) == ("9021334455", "100000", "4455")
    assert order.paid_at == datetime(2026, 11, 18, 0, 0, 11, tzinfo=UTC)
    assert order.promise_ship_at == datetime(2026, 11, 20, 0, 0, 11, tzinfo=UTC)


def test_xlsx_cells_render_like_csv(tmp_path: Path) -> None:
    values = [2, 2.5, 100000.0, datetime(2026, 11, 18, 8, 0, 10, 999_999), None, True, "  x "]
    headers = ["a", "b", "c", "d", "e", "f", "g"]
    path = write_xlsx(tmp_path / "t.xlsx", [values], headers)
    with path.open("rb") as stream:
        table = read_table(stream, path.name)
        rows = list(table.rows)
    assert rows == [
        (
            2,
            {
                "a": "2",
                "b": "2.5",
                "c": "100000",
                "d": "2026-11-18 08:00:11",
                "e": "",
                "f": "TRUE",
                "g": "x",
            },
        )
    ]


def test_xlsx_row_numbers_with_gaps_and_first_sheet_only(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"], sheet["B1"] = "订单号", "商品"
    sheet["A2"], sheet["B2"] = "X1", "g"
    sheet["A5"], sheet["C5"] = "X5", "beyond the headers"
    workbook.create_sheet("第二页")["A1"] = "ignored"
    workbook.save(tmp_path / "t.xlsx")
    with (tmp_path / "t.xlsx").open("rb") as stream:
        table = read_table(stream, "t.xlsx")
        assert table.headers == ["订单号", "商品"]
        assert list(table.rows) == [
            (2, {"订单号": "X1", "商品": "g"}),
            (5, {"订单号": "X5", "商品": ""}),
        ]


def test_format_is_decided_by_content_not_name(tmp_path: Path) -> None:
    xlsx = write_xlsx(tmp_path / "really-xlsx.csv", [[BASE_ROW[h] for h in HEADERS]], HEADERS)
    text = write_csv(tmp_path / "really-csv.xlsx", [order_row(1)])
    assert only_orders(read_orders(xlsx))[0].order_no == "261118-676264143056892"
    assert only_orders(read_orders(text))[0].order_no == "261118-000000000000001"


def test_xlsx_from_non_seekable_stream(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "orders.xlsx", [[BASE_ROW[h] for h in HEADERS]], HEADERS)
    with path.open("rb") as raw:
        items = list(read_platform_export(CountingReader(raw), "orders.xlsx"))
    assert only_orders(items)[0].receiver_name == "张伟"


# --- headers -------------------------------------------------------------------------------


def test_full_width_and_spaced_headers_match(tmp_path: Path) -> None:
    spelled = {
        "商品数量(件)": "商品数量（件）",
        "商品总价(元)": " 商品总价（元）",
        "样式ID": "样式id",
        "商品id": "\ufeff商品ID",
        "省": "省\u200b",
    }
    headers = [spelled.get(h, h) for h in HEADERS]
    path = tmp_path / "orders.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerow([BASE_ROW[h] for h in HEADERS])
    [order] = only_orders(read_orders(path))
    assert (order.quantity, order.goods_total_fen) == (2, 17980)
    assert (order.style_id, order.goods_id, order.province) == ("100000", "9021334455", "广东省")


def test_normalize_header() -> None:
    assert normalize_header("商品数量（件）") == normalize_header("商品数量(件)")
    assert normalize_header(" 商品 ID\u200b") == normalize_header("商品id")


def test_extra_and_reordered_columns(tmp_path: Path) -> None:
    headers = ["店铺优惠折扣(元)", *reversed(HEADERS), "发货时间"]
    row = order_row(1, **{"店铺优惠折扣(元)": "5.00", "发货时间": "whatever"})
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [row], headers)))
    assert (order.order_no, order.receiver_name, order.quantity) == (
        "261118-000000000000001",
        "张伟",
        2,
    )


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    required = ["订单号", "商品", "订单状态", "商品数量(件)", "收货人", "手机"]
    required += ["省", "市", "区", "街道", "售后状态"]
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [order_row(1)], required)))
    assert (order.paid_at, order.goods_total_fen, order.audit_hold) == (None, None, False)
    assert order.sku_code == ""


def test_missing_required_columns_before_any_row(tmp_path: Path) -> None:
    headers = [h for h in HEADERS if h not in ("手机", "售后状态")]
    path = write_csv(tmp_path / "o.csv", [order_row(1)], headers)
    with path.open("rb") as stream:
        rows = read_platform_export(stream, path.name)  # lazy: nothing happens yet
        with pytest.raises(ImportFileError) as caught:
            next(rows)
    assert caught.value.code == "missing_columns"
    assert caught.value.columns == ["手机", "售后状态"]
    assert "手机" in caught.value.message and "售后状态" in caught.value.message


def test_open_platform_export_checks_headers_eagerly(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", [order_row(1)], [h for h in HEADERS if h != "订单号"])
    with path.open("rb") as stream, pytest.raises(ImportFileError) as caught:
        open_platform_export(stream, path.name)
    assert caught.value.columns == ["订单号"]


# --- row validation ------------------------------------------------------------------------


def test_bad_rows_among_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    rows = [
        order_row(2),
        order_row(3, 订单号=""),
        order_row(4, 订单号="12#45 6"),
        {},  # an empty line: skipped, but it still counts as spreadsheet row 5
        order_row(6, 订单状态="已发货，部分退款"),
        order_row(7, **{"商品数量(件)": "0"}),
        order_row(8, **{"商品数量(件)": "1.5"}),
        order_row(9, 支付时间="2026-13-01 08:00:00"),
        order_row(10, 承诺发货时间="next week"),
        order_row(11, **{"用户实付金额(元)": "12.3.4"}),
        order_row(12, 商品=""),
        order_row(13, 收货人="张" * 51),
        order_row(14, 是否审核中="可能"),
        order_row(15),
    ]
    items = read_orders(write_csv(path, rows))
    assert [(item.row, getattr(item, "code", "ok")) for item in items] == [
        (2, "ok"),
        (3, "missing_order_no"),
        (4, "invalid_order_no"),
        (6, "unknown_status"),
        (7, "invalid_quantity"),
        (8, "invalid_quantity"),
        (9, "invalid_datetime"),
        (10, "invalid_datetime"),
        (11, "invalid_amount"),
        (12, "missing_goods"),
        (13, "field_too_long"),
        (14, "invalid_audit_hold"),
        (15, "ok"),
    ]
    errors = {item.row: item for item in items if isinstance(item, RowError)}
    assert errors[3].order_no == ""
    assert errors[4].order_no == "12#45 6"
    assert errors[6].order_no == "261118-000000000000006"
    assert "已发货，部分退款" in errors[6].message
    assert "商品数量(件)" in errors[7].message
    assert "支付时间" in errors[9].message
    assert "用户实付金额(元)" in errors[11].message
    assert "收货人" in errors[13].message and "50" in errors[13].message


def test_rows_with_text_only_in_columns_the_reader_skips_are_still_reported(
    tmp_path: Path,
) -> None:
    # The reader cleans only the columns it reads; a row whose only text sits in another
    # column (here an extra 发货时间, or a ="" formula cell) is still a row, and an empty one
    # (blanks, an empty formula) is still skipped.
    headers = [*HEADERS, "发货时间"]
    rows = [
        order_row(2),
        {"发货时间": "2026-11-18 09:00:00"},
        {"发货时间": '=""', "商品": " "},
        order_row(5),
    ]
    items = read_orders(write_csv(tmp_path / "o.csv", rows, headers))
    assert [(item.row, getattr(item, "code", "ok")) for item in items] == [
        (2, "ok"),
        (3, "missing_order_no"),
        (5, "ok"),
    ]


def test_phone_and_address_are_not_validated_here(tmp_path: Path) -> None:
    row = order_row(1, 手机="not a phone", 区="", 街道="")
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [row])))
    assert (order.receiver_phone, order.district, order.detail) == ("not a phone", "", "")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("待支付", "pending_payment"),
        ("待发货", "awaiting_shipment"),
        ("已发货，待签收", "shipped"),
        ("已发货,待签收", "shipped"),
        ("已签收", "completed"),
        ("已取消", "cancelled"),
        ("未发货，退款成功", "cancelled"),
        ("已发货,退款成功", "cancelled"),
        ("已取消，退款成功", "cancelled"),
    ],
)
def test_status_mapping(tmp_path: Path, text: str, status: str) -> None:
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [order_row(1, 订单状态=text)])))
    assert (order.platform_status, order.platform_status_text) == (status, text)


@pytest.mark.parametrize(
    ("text", "stored", "active"),
    [
        ("无售后或售后取消", "", False),
        ("无售后", "", False),
        ("", "", False),
        ("退款中", "退款中", True),
        ("买家申请退款，待商家处理", "买家申请退款，待商家处理", True),
    ],
)
def test_after_sale(tmp_path: Path, text: str, stored: str, active: bool) -> None:
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [order_row(1, 售后状态=text)])))
    assert (order.after_sale_status, order.after_sale_active) == (stored, active)


@pytest.mark.parametrize(("text", "held"), [("是", True), ("否", False), ("", False)])
def test_audit_hold(tmp_path: Path, text: str, held: bool) -> None:
    [order] = only_orders(
        read_orders(write_csv(tmp_path / "o.csv", [order_row(1, 是否审核中=text)]))
    )
    assert order.audit_hold is held


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-18 08:00:11", datetime(2026, 11, 18, 0, 0, 11, tzinfo=UTC)),
        ("2026/11/18 08:05", datetime(2026, 11, 18, 0, 5, tzinfo=UTC)),
        ("2026/11/18 08:05:09", datetime(2026, 11, 18, 0, 5, 9, tzinfo=UTC)),
        ("2026-11-18", datetime(2026, 11, 17, 16, 0, tzinfo=UTC)),
        ("", None),
    ],
)
def test_datetime_formats(tmp_path: Path, text: str, expected: datetime | None) -> None:
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [order_row(1, 支付时间=text)])))
    assert order.paid_at == expected
    assert order.paid_at is None or order.paid_at.utcoffset() is not None


def test_amounts(tmp_path: Path) -> None:
    row = order_row(
        1, **{"商品总价(元)": "￥1,234.5", "用户实付金额(元)": "0", "商家实收金额(元)": ""}
    )
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [row])))
    assert (order.goods_total_fen, order.paid_fen, order.merchant_received_fen) == (123450, 0, None)


def test_duplicate_order_number_rejects_the_later_row(tmp_path: Path) -> None:
    rows = [order_row(1), order_row(2), order_row(1, 收货人="李四"), order_row(3)]
    items = read_orders(write_csv(tmp_path / "o.csv", rows))
    assert [(item.row, type(item).__name__) for item in items] == [
        (2, "ImportedOrder"),
        (3, "ImportedOrder"),
        (4, "RowError"),
        (5, "ImportedOrder"),
    ]
    duplicate = items[2]
    assert isinstance(duplicate, RowError)
    assert (duplicate.code, duplicate.order_no) == ("duplicate_in_file", "261118-000000000000001")
    assert "第 2 行" in duplicate.message
    assert items[0].receiver_name == "张伟"  # type: ignore[union-attr]


# --- cell cleanup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\t261118-676264143056892", "261118-676264143056892"),
        ('="0123"', "0123"),
        ('= "0123" ', "0123"),
        ('="say ""hi"""', 'say "hi"'),
        ("'13800138000", "13800138000"),
        ("\t'0571", "0571"),
        ("  张\x00伟\u200b ", "张伟"),
        ("\ufeff订单号", "订单号"),
        ("=SUM(A1:A2)", "=SUM(A1:A2)"),
        ("", ""),
    ],
)
def test_clean_cell(raw: str, clean: str) -> None:
    assert clean_cell(raw) == clean


def test_spreadsheet_text_tricks_in_cells(tmp_path: Path) -> None:
    row = order_row(
        1,
        订单号='="261118-000000000000001"',
        手机="'13800138000",
        商品id="\t9021334455",
        **{"商品数量(件)": '="2"', "商家编码-SKU维度": '="0123"'},
    )
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [row])))
    assert order.order_no == "261118-000000000000001"
    assert (order.receiver_phone, order.goods_id) == ("13800138000", "9021334455")
    assert (order.quantity, order.sku_code) == (2, "0123")


def test_nul_and_zero_width_in_cells(tmp_path: Path) -> None:
    row = order_row(
        1,
        订单号="2611\u200b18-0000000000000\x0001",
        收货人="张\x00伟",
        街道="石牌街道\u200d团结路887号\ufeff",
    )
    [order] = only_orders(read_orders(write_csv(tmp_path / "o.csv", [row])))
    assert order.order_no == "261118-000000000000001"
    assert (order.receiver_name, order.detail) == ("张伟", "石牌街道团结路887号")


def test_short_long_and_empty_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("订单号,商品,备注\r\nA1,x\r\n,,\r\nA2,y,z,extra\r\n \t, \r\nA3,w,v\r\n")
    with path.open("rb") as stream:
        table = read_table(stream, path.name)
        assert table.headers == ["订单号", "商品", "备注"]
        rows = list(table.rows)
    assert rows == [
        (2, {"订单号": "A1", "商品": "x", "备注": ""}),
        (4, {"订单号": "A2", "商品": "y", "备注": "z"}),
        (6, {"订单号": "A3", "商品": "w", "备注": "v"}),
    ]


@pytest.mark.parametrize(("encoding", "width"), [("utf-8", 3), ("gb18030", 2)])
def test_character_straddling_the_detection_sample(
    tmp_path: Path, encoding: str, width: int
) -> None:
    head = "订单号,备注\r\n261118-000000000000001,".encode(encoding)
    # Put the first byte of 中 at the sample's last byte, the rest after it.
    padding = "a" * (SNIFF_BYTES - 1 - len(head))
    note = padding + "中文备注"
    data = head + note.encode(encoding) + b"\r\n"
    assert data[SNIFF_BYTES - 1 : SNIFF_BYTES - 1 + width] == "中".encode(encoding)
    with io.BytesIO(data) as stream:
        rows = list(read_table(stream, "t.csv").rows)
    assert rows == [(2, {"订单号": "261118-000000000000001", "备注": note})]


# --- file-level errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"", "o.csv", "empty_file"),
        (b"\r\n\r\n", "o.csv", "empty_file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "o.xls", "not_spreadsheet"),
        (b"%PDF-1.7\n" + bytes(100), "o.csv", "not_spreadsheet"),
        (b"PK\x03\x04" + b"garbage" * 20, "o.xlsx", "bad_zip"),
        (b"\x81\xff\xfe\x80" * 50, "o.csv", "undecodable"),
        (b"\x81\xff\xfe\x80" * 50, "o.xlsx", "bad_zip"),
    ],
)
def test_unreadable_files(data: bytes, filename: str, code: str) -> None:
    with pytest.raises(TableError) as table_error:
        read_table(io.BytesIO(data), filename)
    assert table_error.value.code == code
    assert table_error.value.message
    # The import readers raise the same problem as ImportFileError, before any row.
    with pytest.raises(ImportFileError) as import_error:
        open_platform_export(io.BytesIO(data), filename)
    assert import_error.value.code == code


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<xml/>")
    buffer.seek(0)
    with pytest.raises(TableError) as caught:
        read_table(buffer, "o.xlsx")
    assert caught.value.code == "not_spreadsheet"


def test_max_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "o.csv", [order_row(n) for n in range(3)])
    with path.open("rb") as stream:
        items = read_platform_export(stream, path.name, max_rows=2)
        assert isinstance(next(items), ImportedOrder)
        assert isinstance(next(items), ImportedOrder)
        with pytest.raises(ImportFileError) as caught:
            next(items)
    assert caught.value.code == "too_many_rows"


def test_decoding_error_late_in_the_file_is_a_file_error() -> None:
    # Pure ASCII at the start, so UTF-8 is chosen; a GBK byte pair far after the sample.
    lines = [b"order,note"] + [b"261118-%015d,x" % n for n in range(SNIFF_BYTES // 20)]
    data = b"\r\n".join(lines) + b"\r\n261118-999999999999999," + "中".encode("gbk") + b"\r\n"
    table = read_table(io.BytesIO(data), "o.csv")
    with pytest.raises(TableError) as caught:
        for _ in table.rows:
            pass
    assert caught.value.code == "undecodable"


# --- streaming -----------------------------------------------------------------------------


def test_hundred_thousand_rows_stream(tmp_path: Path) -> None:
    headers = ["订单号", "商品", "订单状态", "商品数量(件)", "收货人", "手机"]
    headers += ["省", "市", "区", "街道", "售后状态"]
    path = tmp_path / "big.csv"
    with path.open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(headers)
        fixed = ["纯棉四件套", "待发货", "1", "王芳", "13390668968", "广东省", "东莞市", ""]
        fixed += ["虎门镇解放大道190号", "无售后或售后取消"]
        for n in range(100_000):
            writer.writerow([f"\t261119-{n:015d}", *fixed])
    size = path.stat().st_size

    with path.open("rb") as raw:
        reader = CountingReader(raw)
        items = read_platform_export(reader, path.name)
        first = next(items)
        # The first order comes out after a small part of the file has been read.
        assert isinstance(first, ImportedOrder) and first.row == 2
        assert reader.bytes_read < size // 20
        count, last = 1, first
        for last in items:
            count += 1
            assert isinstance(last, ImportedOrder)
    assert count == 100_000
    assert last.row == 100_001
    assert last.order_no == "261119-000000000099999"
    assert reader.bytes_read == size


# --- tracking files ------------------------------------------------------------------------


def read_tracking(path: Path) -> list[TrackingRow | RowError]:
    with path.open("rb") as stream:
        return list(read_tracking_file(stream, path.name))


def test_tracking_file_with_aliases_and_extra_numbers(tmp_path: Path) -> None:
    headers = ["订单号", "物流公司", "运单号", "额外运单号", "备注"]
    rows = [
        {"订单号": "\t261118-000000000000001", "物流公司": "圆通", "运单号": "YT7460266611111"},
        {
            "订单号": "261118-000000000000002",
            "物流公司": "SF",
            "运单号": "SF1234567890123",
            "额外运单号": "SF1,SF2；SF3 SF4、SF5;SF2,SF1234567890123",
        },
    ]
    items = read_tracking(write_csv(tmp_path / "t.csv", rows, headers))
    assert items == [
        TrackingRow(2, "261118-000000000000001", "圆通", "YT7460266611111", ()),
        TrackingRow(
            3,
            "261118-000000000000002",
            "SF",
            "SF1234567890123",
            ("SF1", "SF2", "SF3", "SF4", "SF5"),
        ),
    ]


def test_tracking_file_wuliu_danhao_alias_in_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "t.xlsx",
        [["261118-000000000000001", "中通快递", 78123456789012]],
        ["订单号", "快递公司", "物流单号"],
    )
    [item] = read_tracking(path)
    assert item == TrackingRow(2, "261118-000000000000001", "中通快递", "78123456789012", ())


def test_tracking_file_missing_courier_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [], ["订单号", "快递单号"])
    with path.open("rb") as stream, pytest.raises(ImportFileError) as caught:
        open_tracking_file(stream, path.name)
    with path.open("rb") as stream, pytest.raises(ImportFileError):
        next(read_tracking_file(stream, path.name))
    assert caught.value.code == "missing_columns"
    assert caught.value.columns == ["快递公司"]
    assert "快递公司" in caught.value.message and "物流公司" in caught.value.message


def test_tracking_file_row_errors(tmp_path: Path) -> None:
    headers = ["订单号", "快递公司", "快递单号", "额外运单号"]
    many = ",".join(f"YT{n}" for n in range(11))
    rows = [
        {"订单号": "261118-000000000000001", "快递公司": "YTO", "快递单号": "YT1"},
        {"订单号": "261118-000000000000002", "快递公司": "", "快递单号": "YT2"},
        {"订单号": "261118-000000000000003", "快递公司": "YTO", "快递单号": ""},
        {"订单号": "261118-000000000000001", "快递公司": "YTO", "快递单号": "YT4"},
        {
            "订单号": "261118-000000000000005",
            "快递公司": "YTO",
            "快递单号": "Y",
            "额外运单号": many,
        },
        {"订单号": "bad!", "快递公司": "YTO", "快递单号": "YT6"},
        {"订单号": "261118-000000000000007", "快递公司": "YTO", "快递单号": "Y" * 65},
    ]
    items = read_tracking(write_csv(tmp_path / "t.csv", rows, headers))
    assert [(item.row, getattr(item, "code", "ok")) for item in items] == [
        (2, "ok"),
        (3, "missing_courier"),
        (4, "missing_tracking_no"),
        (5, "duplicate_in_file"),
        (6, "too_many_tracking_nos"),
        (7, "invalid_order_no"),
        (8, "field_too_long"),
    ]

"""Tests for the demo order generator and the Pinduoduo export writer."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from operator import itemgetter
from typing import Any

import pytest
from openpyxl import load_workbook

from portal.domain.demo_data import generate_orders, write_platform_export
from portal.domain.regions import validate_region

NOW = datetime(2026, 11, 21, 4, 0, 0, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))

# Header row of shared/samples/pdd_orders_export_gbk.csv, copied so CI does not need the file.
SAMPLE_HEADER = [
    "商品", "订单号", "订单状态", "商品总价(元)", "店铺优惠折扣(元)", "平台优惠折扣(元)",
    "邮费(元)", "用户实付金额(元)", "商家实收金额(元)", "商品数量(件)", "收货人", "手机",
    "是否审核中", "省", "市", "区", "街道", "支付时间", "拼单成功时间", "订单确认时间",
    "承诺发货时间", "发货时间", "确认收货时间", "商品id", "商品规格", "样式ID",
    "商家编码-SKU维度", "商家编码-商品维度", "快递单号", "快递公司", "商家备注", "售后状态",
    "买家留言",
]  # fmt: skip

ORDER_NO = re.compile(r"[0-9]{6}-[0-9]{15}")
MOBILE = re.compile(r"1[3-9][0-9]{9}")
VIRTUAL = re.compile(r"1[3-9][0-9]{9}-[0-9]{4}")
LANDLINE = re.compile(r"0[0-9]{2,3}-[2-9][0-9]{6,7}")
API_KEYS = {
    "order_no", "platform_status", "platform_status_text", "after_sale_status", "audit_hold",
    "paid_at", "promise_ship_at", "buyer_note", "merchant_note", "receiver", "lines",
    "goods_total_fen", "paid_fen",
}  # fmt: skip
RECEIVER_KEYS = {"name", "phone", "province", "city", "district", "street", "detail"}
LINE_KEYS = {"goods_id", "goods_name", "spec", "sku_code", "quantity"}
STATUS_TEXTS = {
    "awaiting_shipment": {"待发货"},
    "shipped": {"已发货，待签收"},
    "completed": {"已签收"},
    "cancelled": {"已取消", "未发货，退款成功", "已取消，退款成功"},
    "pending_payment": {"待支付"},
}


def shanghai(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def yuan(fen: int) -> Decimal:
    return Decimal(fen) / 100


@dataclass
class Stats:
    count: int = 0
    order_nos: set[str] = field(default_factory=set)
    statuses: Counter[str] = field(default_factory=Counter)
    after_sale: int = 0
    audit_hold: int = 0
    virtual: int = 0
    landline: int = 0
    bad_phones: list[str] = field(default_factory=list)
    triples: set[tuple[str, str, str]] = field(default_factory=set)
    repeat_receivers: int = 0
    no_district: int = 0
    dotted_names: int = 0
    four_char_names: int = 0
    two_char_names: int = 0
    overdue: int = 0
    due_soon: int = 0
    empty_sku_codes: int = 0


@pytest.fixture(scope="module")
def stats() -> Stats:
    """One pass over 200 000 orders, kept as counts so memory stays small."""
    result = Stats()
    receivers_seen: set[tuple[str, ...]] = set()
    receiver_key = itemgetter(*sorted(RECEIVER_KEYS))
    zero, six_hours = timedelta(0), timedelta(hours=6)
    for order in generate_orders(200_000, seed=2024, now=NOW):
        result.count += 1
        result.order_nos.add(order["order_no"])
        result.statuses[order["platform_status"]] += 1
        result.after_sale += bool(order["after_sale_status"])
        result.audit_hold += order["audit_hold"]
        receiver = order["receiver"]
        phone = receiver["phone"]
        if MOBILE.fullmatch(phone):
            pass
        elif VIRTUAL.fullmatch(phone):
            result.virtual += 1
        elif LANDLINE.fullmatch(phone):
            result.landline += 1
        else:
            result.bad_phones.append(phone)
        result.triples.add((receiver["province"], receiver["city"], receiver["district"]))
        result.no_district += not receiver["district"]
        key = receiver_key(receiver)
        result.repeat_receivers += key in receivers_seen
        receivers_seen.add(key)
        name = receiver["name"]
        result.dotted_names += "·" in name
        result.four_char_names += len(name) == 4
        result.two_char_names += len(name) == 2
        result.empty_sku_codes += not order["lines"][0]["sku_code"]
        if order["promise_ship_at"] is not None and order["platform_status"] == (
            "awaiting_shipment"
        ):
            left = order["promise_ship_at"] - NOW
            result.overdue += left < zero
            result.due_soon += zero <= left < six_hours
    return result


def _shape_problem(order: dict[str, Any]) -> str:
    """What is wrong with one order's shape or internal consistency, "" when nothing."""
    receiver = order["receiver"]
    lines = order["lines"]
    if set(order) != API_KEYS or set(receiver) != RECEIVER_KEYS:
        return "keys"
    if len(lines) != 1 or set(lines[0]) != LINE_KEYS or lines[0]["quantity"] < 1:
        return "lines"
    if not ORDER_NO.fullmatch(order["order_no"]):
        return "order_no format"
    if order["platform_status_text"] not in STATUS_TEXTS[order["platform_status"]]:
        return "status text"
    if order["audit_hold"] and order["platform_status"] != "awaiting_shipment":
        return "audit hold on a settled order"
    if not receiver["detail"].startswith(receiver["street"]) or not receiver["detail"]:
        return "detail must hold the whole line after the district"
    if not 0 < order["paid_fen"] <= order["goods_total_fen"]:
        return "amounts"
    paid_at, promise = order["paid_at"], order["promise_ship_at"]
    if paid_at is None:
        unpaid = order["platform_status"] in ("pending_payment", "cancelled")
        return "" if unpaid and promise is None else "unpaid order"
    if paid_at.tzinfo is None or paid_at.utcoffset() != timedelta(0) or paid_at > NOW:
        return "paid_at"
    if promise - paid_at not in (timedelta(hours=h) for h in (24, 48, 72)):
        return "promise"
    if order["order_no"][:6] != paid_at.astimezone(SHANGHAI).strftime("%y%m%d"):
        return "order_no date"
    try:
        "".join([receiver["name"], receiver["detail"], lines[0]["goods_name"], lines[0]["spec"],
                 order["buyer_note"], order["merchant_note"]]).encode("gbk")  # fmt: skip
    except UnicodeEncodeError:
        return "not GBK"
    return ""


def test_orders_have_the_api_shape() -> None:
    problems = [
        f"{order['order_no']}: {problem}"
        for order in generate_orders(5000, seed=99, now=NOW)
        if (problem := _shape_problem(order))
    ]
    assert problems == []


def test_order_numbers_are_unique(stats: Stats) -> None:
    assert stats.count == 200_000
    assert len(stats.order_nos) == stats.count


def test_status_mix(stats: Stats) -> None:
    shares = {status: n / stats.count for status, n in stats.statuses.items()}
    assert set(shares) == set(STATUS_TEXTS)
    assert shares["awaiting_shipment"] > 0.85
    assert all(0.002 < shares[s] < 0.06 for s in STATUS_TEXTS if s != "awaiting_shipment")


def test_after_sale_audit_and_phone_shares(stats: Stats) -> None:
    assert 0.02 < stats.after_sale / stats.count < 0.045
    assert 0.006 < stats.audit_hold / stats.count < 0.015
    assert 0.04 < stats.virtual / stats.count < 0.06
    assert 0.005 < stats.landline / stats.count < 0.015
    assert stats.bad_phones == []


def test_receivers_are_real_places_and_sometimes_repeat(stats: Stats) -> None:
    assert [t for t in stats.triples if validate_region(*t) is not None] == []
    assert stats.no_district > 0
    assert 0.01 < stats.repeat_receivers / stats.count < 0.03


def test_names_and_skus_vary_like_real_ones(stats: Stats) -> None:
    assert stats.dotted_names > 0
    assert stats.four_char_names > 0
    assert stats.two_char_names > 0
    assert 0 < stats.empty_sku_codes < stats.count * 0.2


def test_some_orders_are_near_or_past_their_deadline(stats: Stats) -> None:
    assert 0.01 < stats.overdue / stats.count < 0.06
    assert 0.03 < stats.due_soon / stats.count < 0.15


def test_same_seed_and_now_give_the_same_orders() -> None:
    first = list(generate_orders(500, seed=7, now=NOW))
    assert first == list(generate_orders(500, seed=7, now=NOW))
    assert first != list(generate_orders(500, seed=8, now=NOW))
    later = list(generate_orders(500, seed=7, now=NOW + timedelta(days=1)))
    assert [o["paid_at"] for o in later if o["paid_at"]] == [
        o["paid_at"] + timedelta(days=1) for o in first if o["paid_at"]
    ]


def test_order_numbers_without_date_prefix() -> None:
    numbers = [o["order_no"] for o in generate_orders(1000, seed=1, now=NOW, prefix_date=False)]
    assert all(re.fullmatch(r"[1-9][0-9]{14}", n) for n in numbers)
    assert len(set(numbers)) == len(numbers)


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next(generate_orders(1, now=datetime(2026, 11, 21)))


def _expected_row(order: dict[str, Any]) -> dict[str, str]:
    """The export cells that follow directly from the API fields."""
    receiver = order["receiver"]
    line = order["lines"][0]
    return {
        "商品": line["goods_name"],
        "订单号": "\t" + order["order_no"],
        "订单状态": order["platform_status_text"],
        "商品总价(元)": f"{yuan(order['goods_total_fen']):.2f}",
        "用户实付金额(元)": f"{yuan(order['paid_fen']):.2f}",
        "商品数量(件)": str(line["quantity"]),
        "收货人": receiver["name"],
        "手机": receiver["phone"],
        "是否审核中": "是" if order["audit_hold"] else "否",
        "省": receiver["province"],
        "市": receiver["city"],
        "区": receiver["district"],
        "街道": receiver["detail"],
        "支付时间": shanghai(order["paid_at"]),
        "承诺发货时间": shanghai(order["promise_ship_at"]),
        "商品id": line["goods_id"],
        "商品规格": line["spec"],
        "商家编码-SKU维度": line["sku_code"],
        "商家备注": order["merchant_note"],
        "售后状态": order["after_sale_status"] or "无售后或售后取消",
        "买家留言": order["buyer_note"],
    }


def test_csv_export_round_trip() -> None:
    orders = list(generate_orders(1000, seed=3, now=NOW))
    stream = io.BytesIO()

    written = write_platform_export(iter(orders), stream)

    assert written == 1000
    assert not stream.closed  # the caller's stream stays usable
    raw = stream.getvalue()
    assert raw.count(b"\r\n") == 1001
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert f",\t{orders[0]['order_no']},".encode() in raw  # tab-prefixed, unquoted like the sample
    rows = list(csv.reader(io.StringIO(raw.decode("gbk"), newline="")))
    assert rows[0] == SAMPLE_HEADER
    assert len(rows) == 1001
    now_text = shanghai(NOW)
    for order, row in zip(orders, rows[1:], strict=True):
        cells = dict(zip(SAMPLE_HEADER, row, strict=True))
        assert {k: cells[k] for k in _expected_row(order)} == _expected_row(order)
        goods, shop, platform, postage, paid, received = (
            Decimal(cells[k])
            for k in ("商品总价(元)", "店铺优惠折扣(元)", "平台优惠折扣(元)", "邮费(元)",
                      "用户实付金额(元)", "商家实收金额(元)")
        )  # fmt: skip
        assert goods - shop - platform + postage == paid
        assert received == paid + platform
        if order["platform_status"] in ("shipped", "completed"):
            assert cells["快递单号"] and cells["快递公司"]
            assert cells["支付时间"] < cells["发货时间"] <= now_text
        else:
            assert cells["快递单号"] == cells["发货时间"] == ""
        if order["platform_status"] == "completed":
            assert cells["发货时间"] < cells["确认收货时间"] <= now_text


def test_xlsx_export_matches_csv() -> None:
    orders = list(generate_orders(1000, seed=3, now=NOW))
    csv_stream, xlsx_stream = io.BytesIO(), io.BytesIO()
    write_platform_export(orders, csv_stream)

    written = write_platform_export(iter(orders), xlsx_stream, fmt="xlsx")

    assert written == 1000
    assert not xlsx_stream.closed
    xlsx_stream.seek(0)
    workbook = load_workbook(xlsx_stream, read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    assert list(rows[0]) == SAMPLE_HEADER
    csv_rows = list(csv.reader(io.StringIO(csv_stream.getvalue().decode("gbk"), newline="")))
    assert len(rows) == len(csv_rows) == 1001
    for xlsx_row, csv_row in zip(rows[1:], csv_rows[1:], strict=True):
        csv_row[1] = csv_row[1].removeprefix("\t")
        # Empty cells are not written, so a row may end before the header does.
        cells = [cell or "" for cell in xlsx_row]
        assert cells + [""] * (len(SAMPLE_HEADER) - len(cells)) == csv_row


def test_export_of_a_hand_made_order() -> None:
    paid_at = datetime(2026, 11, 19, 7, 31, 11, tzinfo=UTC)
    order = {
        "order_no": "261119-852724877741932",
        "platform_status": "shipped",
        "paid_at": paid_at,
        "promise_ship_at": paid_at + timedelta(hours=48),
        "receiver": {
            "name": "王芳",
            "phone": "13249014429-2383",
            "province": "广东省",
            "city": "东莞市",
            "district": "",
            "street": "虎门镇",
            "detail": "人民南路758号21栋1304室",
        },
        "lines": [
            {
                "goods_id": "9021337788",
                "goods_name": "纯棉四件套 简约条纹",
                "spec": "1.8m床 蓝条",
                "sku_code": "SET-18-BLU",
                "quantity": 1,
            }
        ],
        "goods_total_fen": 12900,
        "paid_fen": 12100,
        "tracking": [{"courier": "圆通快递", "tracking_no": "YT7460266611111"}],
    }
    stream = io.BytesIO()

    assert write_platform_export([order], stream, encoding="utf-8-sig") == 1

    text = stream.getvalue().decode("utf-8-sig")
    cells = dict(zip(SAMPLE_HEADER, next(iter(csv.reader(text.splitlines()[1:]))), strict=True))
    assert cells["订单状态"] == "已发货，待签收"
    assert cells["街道"] == "虎门镇人民南路758号21栋1304室"
    assert cells["支付时间"] == "2026-11-19 15:31:11"
    assert cells["承诺发货时间"] == "2026-11-21 15:31:11"
    assert (cells["快递公司"], cells["快递单号"]) == ("圆通快递", "YT7460266611111")
    assert (cells["店铺优惠折扣(元)"], cells["平台优惠折扣(元)"]) == ("5.00", "3.00")
    assert cells["商家实收金额(元)"] == "124.00"
    assert cells["售后状态"] == "无售后或售后取消"
    assert cells["是否审核中"] == "否"


def test_unknown_export_format() -> None:
    with pytest.raises(ValueError, match="format"):
        write_platform_export([], io.BytesIO(), fmt="xls")

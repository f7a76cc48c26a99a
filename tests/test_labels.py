"""Waybill PDF: one page per label, Chinese text and the tracking barcode value readable."""

from __future__ import annotations

import io
from dataclasses import replace

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader

from portal.domain.printing.labels import LABEL_SIZES, Label, render_labels


def _label(order_no: str, tracking_no: str = "") -> Label:
    return Label(
        order_no=order_no,
        courier_name="顺丰速运",
        tracking_no=tracking_no,
        sender_name="王小明",
        sender_phone="13800138000",
        sender_address="浙江省杭州市余杭区文一西路1001号",
        receiver_name="张**",
        receiver_phone="135****6522",
        receiver_address="广东省广州市天河区****",
        goods="加厚珊瑚绒毛毯 150x200cm 灰色 ×2",
    )


@pytest.mark.parametrize("size", list(LABEL_SIZES))
def test_one_page_per_label_with_chinese_text(size):
    pdf = render_labels(
        [_label("261118-1", "SF1234567890123"), _label("261118-2"), _label("261118-3")], size
    )
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 3
    first = reader.pages[0].extract_text()
    assert "SF1234567890123" in first
    assert "261118-1" in first
    assert "张**" in first and "顺丰速运" in first and "广州市" in first
    width_mm = float(reader.pages[0].mediabox.width) / 72 * 25.4
    assert round(width_mm) == int(size.split("x")[0])
    assert "待回传" in reader.pages[1].extract_text()


def test_barcode_is_drawn_as_code128_bars():
    pdf = render_labels([_label("1", "JT1234567890123")])
    content = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()
    # Code 128 is drawn as many filled rectangles
    assert content.count(b" re") > 30


def _decoded_barcodes(pdf: bytes, page: int = 0) -> set[str]:
    """What a barcode scanner reads off the printed page (rendered at 300 dpi, zxing-cpp)."""
    document = pypdfium2.PdfDocument(pdf)
    image = document[page].render(scale=300 / 72).to_pil()
    return {result.text for result in zxingcpp.read_barcodes(image)}


@pytest.mark.parametrize("size", list(LABEL_SIZES))
def test_label_barcodes_scan_to_order_and_tracking_numbers(size):
    """A scanner reads the order number off every label and the tracking number once known."""
    pdf = render_labels(
        [_label("231121-538292030421876", "SF1234567890123"), _label("231121-538292030421877")],
        size,
    )
    assert _decoded_barcodes(pdf, 0) == {"231121-538292030421876", "SF1234567890123"}
    assert _decoded_barcodes(pdf, 1) == {"231121-538292030421877"}
    reader = PdfReader(io.BytesIO(pdf))
    assert "订单号" in reader.pages[1].extract_text()


def test_unknown_size_and_empty_refused():
    with pytest.raises(ValueError):
        render_labels([_label("1")], "A4")
    with pytest.raises(ValueError):
        render_labels([])


@pytest.mark.parametrize("size", list(LABEL_SIZES))
def test_every_item_of_an_order_is_on_its_label_or_a_continuation_page(size):
    two = replace(_label("261118-2"), more_goods=("记忆棉枕头 单只装 ×3 · PIL-1",))
    many = replace(
        _label("261118-3"),
        more_goods=tuple(f"商品{i:02d} 规格 ×1 · SKU-{i:02d}" for i in range(2, 41)),
    )
    reader = PdfReader(io.BytesIO(render_labels([two, many], size)))
    first = reader.pages[0].extract_text()
    assert "共 2 种商品" in first and "记忆棉枕头" in first and "加厚珊瑚绒毛毯" in first
    # forty items do not fit on one label: they go on, numbered, on a continuation page
    pages = [page.extract_text() for page in reader.pages[1:]]
    assert len(pages) >= 2 and "续页 · 订单号 261118-3" in pages[1]
    text = "".join(pages)
    assert all(f"SKU-{i:02d}" in text for i in range(2, 41))

"""Waybill labels as one PDF, one page per order (ReportLab; CID font needs no font file).

Every label carries a Code 128 of its order number (the factory's scan page reads it) and,
when known, of the tracking number. This module only draws: callers decide what the receiver
lines contain (masked for 隐私面单, full otherwise) — it never reads the database or decrypts.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

FONT = "STSong-Light"
LABEL_SIZES = {"100x180": (100 * mm, 180 * mm), "76x130": (76 * mm, 130 * mm)}
DEFAULT_LABEL_SIZE = "100x180"


@dataclass(frozen=True)
class Label:
    order_no: str
    courier_name: str
    tracking_no: str
    sender_name: str
    sender_phone: str
    sender_address: str
    receiver_name: str
    receiver_phone: str
    receiver_address: str
    goods: str  # e.g. "加厚珊瑚绒毛毯 150x200cm 灰色 ×2"
    note: str = ""
    # An order with several items (DESIGN §10.2): the goods of its lines after the first, each
    # shortened to one printed line; those that do not fit go on a continuation page.
    more_goods: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cover:
    """The first page of a job's PDF: what it holds, so a batch can be checked at a glance.
    Counts and goods only — never a receiver."""

    title: str  # 打印任务 #12
    subtitle: str  # courier · time · print order
    counts: str  # 订单 N 单 · 面单 M 张 · 共 P 件
    lines: list[str]  # one per SKU: goods, spec, codes, pieces and labels


@dataclass(frozen=True)
class Slip:
    """A packing slip (发货单) for one order: what the parcel holds. The caller masks the
    receiver when the merchant chose 隐私面单 and leaves out amounts unless the merchant shows
    them."""

    order_no: str
    shop_name: str
    receiver: str  # name and phone (masked or full)
    address: str
    lines: list[str]  # one per item: goods, spec, codes, ×quantity
    amounts: str = ""  # 商品总价 / 实付, or "" when the merchant hides prices
    note: str = ""


def register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _wrap(text: str, font_size: float, width: float) -> list[str]:
    """Break CJK-heavy text by measured width (CJK has no spaces to break at)."""
    lines: list[str] = []
    current = ""
    for char in text:
        if pdfmetrics.stringWidth(current + char, FONT, font_size) > width and current:
            lines.append(current)
            current = char
        else:
            current += char
    if current:
        lines.append(current)
    return lines or [""]


class _Page:
    """Draws one label top-down, keeping a cursor; sizes scale with the label width."""

    def __init__(self, canvas: Canvas, width: float, height: float) -> None:
        self.c = canvas
        self.width = width
        self.height = height
        self.margin = 4 * mm
        self.scale = width / (100 * mm)
        self.y = height - self.margin

    def rule(self) -> None:
        self.y -= 1.5 * mm
        self.c.setLineWidth(0.6)
        self.c.line(self.margin, self.y, self.width - self.margin, self.y)
        self.y -= 1.5 * mm

    def text(self, text: str, size: float, *, bold: bool = False, max_lines: int = 4) -> None:
        size *= self.scale
        self.c.setFont(FONT, size)
        usable = self.width - 2 * self.margin
        lines = _wrap(text, size, usable)
        for line in lines[:max_lines]:
            self.y -= size * 1.25
            self.c.drawString(self.margin, self.y, line)
            if bold:  # CID fonts have no bold face: overdraw slightly offset
                self.c.drawString(self.margin + 0.25, self.y, line)

    def barcode(self, value: str, height_mm: float = 20, caption: str = "") -> None:
        bar_height = height_mm * mm * self.scale
        usable = self.width - 2 * self.margin
        code = Code128(value, barHeight=bar_height, humanReadable=False)
        # Fit the barcode into the usable width by adjusting the module width.
        code.barWidth = min(0.42 * mm, code.barWidth * usable / max(code.width, 1))
        code = Code128(value, barHeight=bar_height, barWidth=code.barWidth, humanReadable=False)
        self.y -= bar_height + 1 * mm
        code.drawOn(self.c, self.margin + (usable - code.width) / 2, self.y)
        self.y -= 4 * mm * self.scale
        if (
            caption
        ):  # say which number this is: a courier scans the tracking one, a factory the order
            self.c.setFont(FONT, 9 * self.scale)
            self.c.drawString(self.margin, self.y, caption)
        self.c.setFont("Helvetica-Bold", 10 * self.scale)
        self.c.drawCentredString(self.width / 2, self.y, value)


def _draw_cover(page: _Page, cover: Cover) -> None:
    page.text(cover.title, 18, bold=True, max_lines=1)
    page.text(cover.subtitle, 11, max_lines=2)
    page.rule()
    page.text(cover.counts, 14, bold=True, max_lines=2)
    page.rule()
    for index, line in enumerate(cover.lines):
        if page.y < page.margin + 24 * page.scale:  # the page is full: say how many are left
            page.text(f"… +{len(cover.lines) - index} SKU", 11, max_lines=1)
            break
        page.text(line, 11, max_lines=2)


def _draw_slip(page: _Page, slip: Slip) -> None:
    page.text(f"发货单 · {slip.shop_name}", 16, bold=True, max_lines=1)
    page.barcode(slip.order_no, height_mm=10, caption="订单号")
    page.rule()
    page.text(f"收 {slip.receiver}", 12, max_lines=1)
    page.text(slip.address, 11, max_lines=2)
    page.rule()
    for index, line in enumerate(slip.lines):
        if page.y < page.margin + 30 * page.scale:
            page.text(f"… +{len(slip.lines) - index}", 11, max_lines=1)
            break
        page.text(line, 11, max_lines=2)
    if slip.amounts:
        page.rule()
        page.text(slip.amounts, 11, max_lines=2)
    if slip.note:
        page.text(f"备注 {slip.note}", 10, max_lines=2)


def _draw_label(page: _Page, label: Label) -> list[str]:
    """Draw a label; the goods lines that did not fit (for a continuation page)."""
    page.text(label.courier_name or "快递", 18, bold=True, max_lines=1)
    if label.tracking_no:
        page.barcode(label.tracking_no, caption="运单号")
    else:
        page.text("运单号：待回传", 12, max_lines=1)
    page.rule()
    page.text(f"收 {label.receiver_name}  {label.receiver_phone}", 16, bold=True, max_lines=1)
    page.text(label.receiver_address, 14, max_lines=3)
    page.rule()
    page.text(f"寄 {label.sender_name}  {label.sender_phone}", 11, max_lines=1)
    page.text(label.sender_address, 10, max_lines=2)
    page.rule()
    # The order number as Code 128 too: the factory's scan page takes it to pick the order.
    page.barcode(label.order_no, height_mm=10, caption="订单号")
    if label.more_goods:
        if label.note:
            page.text(f"备注 {label.note}", 10, max_lines=1)
        goods = [label.goods, *label.more_goods]
        page.text(f"共 {len(goods)} 种商品", 11, bold=True, max_lines=1)
        return _goods_lines(page, goods)
    page.text(label.goods, 12, max_lines=4)
    if label.note:
        page.text(f"备注 {label.note}", 10, max_lines=3)
    return []


def _goods_lines(page: _Page, goods: Sequence[str]) -> list[str]:
    """One printed line per item while the page has room; the items left over."""
    for index, text in enumerate(goods):
        if page.y - 2 * 10 * page.scale * 1.25 < page.margin:
            return list(goods[index:])
        page.text(f"{index + 1}. {text}", 10, max_lines=1)
    return []


def _draw_continuation(page: _Page, label: Label, goods: Sequence[str], first: int) -> list[str]:
    """A second label page for the items that did not fit: same order, numbered on."""
    page.text(f"续页 · 订单号 {label.order_no}", 12, bold=True, max_lines=1)
    page.rule()
    for index, text in enumerate(goods):
        # At least one item per page, so a continuation always gets on.
        if index and page.y - 2 * 10 * page.scale * 1.25 < page.margin:
            return list(goods[index:])
        page.text(f"{first + index}. {text}", 10, max_lines=1)
    return []


def render_labels(
    labels: Iterable[Label | Slip],
    label_size: str = DEFAULT_LABEL_SIZE,
    cover: Cover | None = None,
) -> bytes:
    """One PDF page per label or packing slip (after the cover page, if any); Chinese text in
    the built-in STSong-Light CID font."""
    if label_size not in LABEL_SIZES:
        raise ValueError(f"unknown label size {label_size!r}")
    register_font()
    width, height = LABEL_SIZES[label_size]
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(width, height), pageCompression=1)
    canvas.setTitle("面单")
    if cover is not None:
        _draw_cover(_Page(canvas, width, height), cover)
        canvas.showPage()
    count = 0
    for item in labels:
        count += 1
        page = _Page(canvas, width, height)
        if isinstance(item, Slip):
            _draw_slip(page, item)
        else:
            left = _draw_label(page, item)
            total = 1 + len(item.more_goods)
            while left:
                canvas.showPage()
                page = _Page(canvas, width, height)
                left = _draw_continuation(page, item, left, total - len(left) + 1)
        canvas.showPage()
    if count == 0:
        raise ValueError("no labels to render")
    canvas.save()
    return buffer.getvalue()

"""Supplier pages for returning tracking numbers, through the HTTP client: the file import
(CSV/XLSX, bad rows, unusable files) and the scan page (lookup, return, refusals, cancelled).

Every response body is checked for the receivers' plain data (name, any 5 digits of the phone
in a row, detail address): supplier pages show masks only.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from dataclasses import dataclass
from urllib.parse import unquote

import openpyxl
import pytest
from sqlalchemy import func, select, update

from portal.domain import allocation, bindings, tracking
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.models import Merchant, Order, Parcel, Supplier, User
from portal.supplier import tracking_views
from tests.factories import demo_order

IMPORT_URL = "/supplier/tracking/import"
TEMPLATE_URL = "/supplier/tracking/template.csv"
SCAN_URL = "/supplier/scan"
LOOKUP_URL = "/supplier/scan/lookup"
RETURN_URL = "/supplier/scan/return"

O1 = "261121-100000000000001"  # receiver A
O2 = "261121-100000000000002"  # receiver A as well: may share O1's parcel
O3 = "261121-100000000000003"  # receiver B
O4 = "261121-100000000000004"  # receiver C
O5 = "261121-100000000000005"  # receiver C, cancelled by the merchant
OTHER = "261121-200000000000001"  # another merchant's order, with another supplier

RECEIVERS = {
    "a": ("欧阳娜娜", "15938271604", "翠微路紫藤巷41号梧桐苑"),
    "b": ("司马懿明", "18624730951", "滨江大道锦绣花园9幢1102"),
    "c": ("诸葛青云", "13962058417", "文三路桂花里66号"),
    "other": ("上官婉儿", "17759306248", "乌山路樱花苑7号"),
}
OTHER_SHOP = "隔壁的秘密店铺"
OTHER_GOODS = "隔壁的秘密商品"


def receiver(key: str) -> dict[str, str]:
    name, phone, detail = RECEIVERS[key]
    return {"receiver_name": name, "receiver_phone": phone, "detail": detail}


@dataclass
class Desk:
    app: object
    browser: object
    other_browser: object
    shop_ids: list[str]

    def _clean(self, body: str) -> str:
        # Random values that may by chance contain five of a phone's digits in a row.
        body = re.sub(r'"X-CSRFToken": "[^"]+"', "", body)
        body = re.sub(r'name="csrf_token"[^>]*>', "", body)
        for shop_id in self.shop_ids:
            body = body.replace(shop_id, "")
        return body

    def safe(self, response) -> str:
        """The body, after checking that no receiver's plain data is in it."""
        body = response.get_data(as_text=True)
        assert_no_plaintext(self._clean(body))
        for href in re.findall(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', body):
            assert_no_plaintext(base64.b64decode(unquote(href)).decode("utf-8-sig"))
        return body

    def stages(self) -> dict[str, str]:
        with self.app.app_context():
            return dict(db.session.execute(select(Order.order_no, Order.stage)).all())

    def numbers(self, order_no: str) -> list[tuple[str, str]]:
        with self.app.app_context():
            order_id = db.session.scalar(select(Order.id).where(Order.order_no == order_no))
            return tracking.tracking_numbers_for([order_id]).get(order_id, [])

    def parcel_count(self) -> int:
        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(Parcel))

    def upload(self, content: bytes, filename: str = "tracking.csv", *, htmx: bool = True):
        data = {"file": (io.BytesIO(content), filename)}
        return self.browser.post(
            IMPORT_URL, data, htmx=htmx, target="tracking-upload" if htmx else None
        )

    def lookup(self, code: str, courier: str = "", **kw):
        return self.browser.post(
            LOOKUP_URL, {"code": code, "courier": courier}, target="scan-result", **kw
        )

    def scan_return(self, order_no: str, code: str, courier: str = "SF", **kw):
        return self.browser.post(
            RETURN_URL,
            {"order_no": order_no, "code": code, "courier": courier},
            target="scan-result",
            **kw,
        )


def assert_no_plaintext(text: str) -> None:
    for name, phone, detail in RECEIVERS.values():
        assert name not in text and name[1:] not in text
        assert detail not in text and detail[:6] not in text
        for start in range(len(phone) - 4):
            assert phone[start : start + 5] not in text, f"phone digits {phone[start : start + 5]}"


@pytest.mark.parametrize(
    "leak", ["收件人欧阳娜娜", "阳娜娜", "电话 1593827", "x82716x", "翠微路紫藤巷41号梧桐苑"]
)
def test_the_plaintext_check_catches_leaks(leak):
    with pytest.raises(AssertionError):
        assert_no_plaintext(f"<p>{leak}</p>")
    assert_no_plaintext("<p>欧** 159****1604 广东省 ****</p>")


def _bind_and_assign(merchant_user, supplier_user, orders) -> None:
    merchant = db.session.get(Merchant, merchant_user.merchant.id)
    supplier = db.session.get(Supplier, supplier_user.supplier.id)
    bindings.accept_binding(
        supplier, bindings.apply_for_binding(merchant, supplier_user.shop_id).id
    )
    upsert_orders(current_keyring(), merchant, orders)
    actor = db.session.get(User, merchant_user.id)
    done = allocation.assign_orders(merchant, [o.order_no for o in orders], supplier, actor).done
    assert len(done) == len(orders)


@pytest.fixture
def desk(app, factory, make_browser) -> Desk:
    """A supplier with O1–O5 assigned (O5 then cancelled by the merchant), and another
    merchant–supplier pair with OTHER."""
    m_user, s_user = factory.merchant(), factory.supplier()
    other_m, other_s = factory.merchant(shop_name=OTHER_SHOP), factory.supplier()
    with app.app_context():
        _bind_and_assign(
            m_user,
            s_user,
            [
                demo_order(O1, **receiver("a")),
                demo_order(O2, **receiver("a")),
                demo_order(O3, **receiver("b")),
                demo_order(O4, **receiver("c")),
                demo_order(O5, **receiver("c")),
            ],
        )
        merchant = db.session.get(Merchant, m_user.merchant.id)
        actor = db.session.get(User, m_user.id)
        assert allocation.cancel_assignments(merchant, [O5], actor).done == [O5]
        _bind_and_assign(
            other_m, other_s, [demo_order(OTHER, goods_name=OTHER_GOODS, **receiver("other"))]
        )
        db.session.commit()
    browser, other_browser = make_browser(), make_browser()
    browser.login(s_user.username)
    other_browser.login(other_s.username)
    shop_ids = [u.shop_id for u in (m_user, s_user, other_m, other_s)]
    return Desk(app, browser, other_browser, shop_ids)


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["订单号", "快递公司", "快递单号"])
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def unchanged(desk: Desk) -> None:
    assert desk.stages() == {
        O1: "assigned",
        O2: "assigned",
        O3: "assigned",
        O4: "assigned",
        O5: "unassigned",
        OTHER: "assigned",
    }
    assert desk.parcel_count() == 0


# --- import page ----------------------------------------------------------------------------


def test_import_page_has_upload_form_template_link_and_courier_help(desk):
    page = desk.browser.get(IMPORT_URL)
    assert page.status_code == 200
    html = desk.safe(page)
    assert 'enctype="multipart/form-data"' in html and 'name="file"' in html
    assert 'accept=".csv,.xlsx"' in html and 'name="csrf_token"' in html
    assert f'href="{TEMPLATE_URL}"' in html and 'href="/supplier/scan"' in html
    assert "顺丰速运" in html and "SF+13位数字" in html and "极兔速递" in html
    assert "style=" not in html and "<script>" not in html


def test_template_is_utf8_csv_with_bom_that_the_reader_accepts(desk):
    response = desk.browser.get(TEMPLATE_URL)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    content = response.get_data()
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0] == "订单号,快递公司,快递单号"
    assert len(lines) == 2
    order_no, courier, number = lines[1].split(",")
    assert (courier, number) == ("顺丰速运", "SF1234567890123") and order_no
    # The example row is read like any other file: a syntactically valid row, just not ours.
    response = desk.upload(content, "tracking-template.csv")
    assert response.status_code == 200
    assert "订单未分配" in desk.safe(response)
    unchanged(desk)


def test_utf8_bom_csv_returns_good_rows_and_reports_bad_rows_by_row_number(desk):
    content = csv_bytes(
        [
            [O1, "顺丰", "sf1234567890123"],  # row 2: returned (normalised)
            [O3, "火星快递", "SF1234567890999"],  # row 3: unknown courier
            [O4, "SF", "12/34"],  # row 4: invalid number
            [O2, "ZTO", ""],  # row 5: no number (the reader's own reason)
            [OTHER, "中通", "773000000001"],  # row 6: another supplier's order
            ["261121-999999999999999", "中通", "773000000002"],  # row 7: no such order
        ]
    )
    response = desk.upload(content, "回传.csv")
    assert response.status_code == 200
    html = desk.safe(response)
    assert "HX-Request" in response.headers["Vary"]
    assert '<div id="tracking-upload">' in html and "<html" not in html
    assert "已回传" in html and "未回传的行" in html
    items = re.findall(r"<li>(.*?)</li>", html, re.S)
    reasons = {re.search(r"第 (\d+) 行", i).group(1): " ".join(i.split()) for i in items}
    assert "无法识别的快递公司：火星快递" in reasons["3"]
    assert "运单号格式不正确" in reasons["4"] and "12/34" in reasons["4"]
    assert "快递单号为空" in reasons["5"]
    assert OTHER in reasons["6"] and "订单未分配" in reasons["6"]
    assert "订单未分配" in reasons["7"]
    assert set(reasons) == {"3", "4", "5", "6", "7"}
    # Nothing about the other pair's order beyond the number the file itself named.
    assert OTHER_GOODS not in html and OTHER_SHOP not in html
    assert desk.numbers(O1) == [("SF", "SF1234567890123")]
    assert desk.stages()[O1] == "returned"
    assert {k: v for k, v in desk.stages().items() if k != O1} == {
        O2: "assigned",
        O3: "assigned",
        O4: "assigned",
        O5: "unassigned",
        OTHER: "assigned",
    }


def test_gbk_csv_duplicates_shared_parcel_and_format_warnings(desk):
    content = csv_bytes(
        [
            [O1, "中通快递", "773000000001"],
            [O2, "中通", "773000000001"],  # same receiver as O1: one parcel for both
            [O3, "中通", "773000000001"],  # another receiver: refused
            [O4, "顺丰速运", "773012345678"],  # not SF-shaped: saved with a warning
        ],
        encoding="gbk",
    )
    response = desk.upload(content, "运单号.csv")
    assert response.status_code == 200
    html = desk.safe(response)
    assert "该运单号已用于其他收件人的订单" in html
    assert "773012345678 与顺丰速运常见格式（SF+13位数字）不符" in html
    assert "格式提示" in html
    stages = desk.stages()
    assert (stages[O1], stages[O2], stages[O3], stages[O4]) == (
        "returned",
        "returned",
        "assigned",
        "returned",
    )
    assert desk.numbers(O2) == [("ZTO", "773000000001")]
    assert desk.parcel_count() == 2
    assert "showToast" in response.headers["HX-Trigger"]


def test_formula_looking_cells_are_text_and_the_refusal_csv_escapes_them(desk):
    formula = '=HYPERLINK("http://evil.test","x")'
    content = csv_bytes([[O3, formula, "SF1234567890123"], [O1, "SF", "SF1234567890124"]])
    response = desk.upload(content)
    assert response.status_code == 200
    html = desk.safe(response)
    assert "无法识别的快递公司：=HYPERLINK(&#34;http://evil.test&#34;" in html
    href = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', html).group(1)
    refusals = list(csv.reader(io.StringIO(base64.b64decode(href).decode("utf-8-sig"))))
    assert refusals[0] == ["行号", "订单号", "快递单号", "原因", "原因代码"]
    assert refusals[1][:2] == ["2", O3]
    assert refusals[1][3].startswith("无法识别的快递公司：=HYPERLINK")
    assert refusals[1][4] == "unknown_courier"
    assert all(not cell.startswith(("=", "+", "@")) for row in refusals for cell in row)
    assert desk.stages()[O1] == "returned" and desk.stages()[O3] == "assigned"


def test_xlsx_utf16_and_plain_utf8_files_return_numbers(desk):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["快递单号", "订单号", "物流公司"])  # any column order, alias header
    sheet.append([773000000005, O3, "中通"])  # a number cell, as Excel stores it
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = desk.upload(buffer.getvalue(), "运单号.xlsx")
    assert response.status_code == 200
    desk.safe(response)
    assert desk.numbers(O3) == [("ZTO", "773000000005")]

    utf16 = "订单号\t快递公司\t快递单号\r\n" + f"{O4}\t韵达\t4312345678901\r\n"
    response = desk.upload(utf16.encode("utf-16"), "excel-unicode.txt")
    assert response.status_code == 200
    desk.safe(response)
    assert desk.numbers(O4) == [("YUNDA", "4312345678901")]

    response = desk.upload(csv_bytes([[O1, "极兔", "JT1234567890123"]], "utf-8"), "plain.csv")
    assert response.status_code == 200
    desk.safe(response)
    assert desk.numbers(O1) == [("JT", "JT1234567890123")]


def test_a_plain_form_post_renders_the_whole_page_with_the_result(desk):
    response = desk.upload(csv_bytes([[O1, "SF", "SF1234567890123"]]), htmx=False)
    assert response.status_code == 200
    html = desk.safe(response)
    assert "<html" in html and "导入结果" in html and "全部回传成功" in html


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "上传的文件是空的"),
        (
            "订单号,快递单号\r\n261121-100000000000001,SF1\r\n".encode(),
            "文件缺少必需的列：快递公司",
        ),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "上传的文件不是表格"),
        (b"%PDF-1.4 garbage", "上传的文件不是表格"),
        (
            "订单号,快递公司,快递单号\r\n".encode() + b"\x80\x80\xff\xfe\x81",
            "无法识别文件的文字编码",
        ),
        ("订单号,快递公司,快递单号\r\n".encode("gbk"), "只有表头"),
        (b"PK\x03\x04 not really a zip", "Excel"),
    ],
)
def test_unusable_files_are_a_422_with_the_reason_and_change_nothing(desk, content, message):
    response = desk.upload(content, "tracking.csv")
    assert response.status_code == 422
    html = desk.safe(response)
    assert message in html
    assert 'aria-invalid="true"' in html
    unchanged(desk)


def test_an_upload_over_the_size_limit_is_a_413_and_changes_nothing(desk):
    desk.app.config["MAX_CONTENT_LENGTH"] = 2000
    rows = [[O1, "SF", f"SF{n:013d}"] for n in range(200)]
    response = desk.upload(csv_bytes(rows))
    assert response.status_code == 413
    assert response.headers["HX-Reswap"] == "none"
    unchanged(desk)


def test_damage_found_halfway_rolls_back_rows_already_saved(desk, monkeypatch):
    monkeypatch.setattr(tracking, "FILE_BATCH", 1)  # the first row is saved before the error
    monkeypatch.setattr(tracking_views, "MAX_FILE_ROWS", 2)
    content = csv_bytes(
        [[O1, "SF", "SF1234567890123"], [O2, "SF", "SF1234567890124"], [O3, "SF", "SF12"]]
    )
    response = desk.upload(content)
    assert response.status_code == 422
    assert "文件超过 2 行（空行也计算在内），请删除空行或分批导入" in desk.safe(response)
    unchanged(desk)


def test_missing_file_and_empty_posts_are_clean_4xx_and_change_nothing(desk):
    response = desk.browser.post(IMPORT_URL, {}, target="tracking-upload")
    assert response.status_code == 422
    assert "请选择要上传的文件" in desk.safe(response)
    for url in (LOOKUP_URL, RETURN_URL):
        response = desk.browser.post(url, {}, target="scan-result")
        assert response.status_code == 422
        assert response.headers["HX-Reswap"] == "none"
        assert "showToast" in response.headers["HX-Trigger"]
        response = desk.browser.post(url, {"code": "   "}, htmx=False)
        assert response.status_code == 422
        assert "请扫描或输入订单号、快递单号" in desk.safe(response)
    unchanged(desk)


# --- scan page ------------------------------------------------------------------------------


def test_scan_page_has_an_autofocused_scanner_form(desk):
    response = desk.browser.get(SCAN_URL)
    assert response.status_code == 200
    html = desk.safe(response)
    assert "data-scan-input" in html and "autofocus" in html
    assert f'hx-post="{LOOKUP_URL}"' in html and f'data-scan-return-url="{RETURN_URL}"' in html
    assert 'hx-sync="this:queue all"' in html and 'hx-target="#scan-result"' in html
    assert '<option value="SF">顺丰速运</option>' in html
    assert '<input type="hidden" name="order_no" value="">' in html
    assert 'id="scan-log"' in html and 'href="/supplier/tracking/import"' in html
    assert "style=" not in html and "<script>" not in html


def test_scan_of_an_order_number_shows_the_masked_order_and_waits_for_its_number(desk):
    response = desk.lookup(O1)
    assert response.status_code == 200
    html = desk.safe(response)
    assert html.lstrip().startswith('<div id="scan-result" class="scan-result ok"')
    assert O1 in html and "测试店铺" in html
    assert "加厚珊瑚绒毛毯" in html and "150x200cm 灰色" in html and "× 2" in html
    assert "欧**" in html and "159****1604" in html and "****" in html
    assert "广东省 广州市 天河区" in html
    assert "待打印" in html and "已找到订单，请扫描快递单号" in html
    assert "请尽快发货" not in html  # the buyer's note is not part of the scan answer
    # The waiting order and the log line come out of band.
    assert f'<input type="hidden" name="order_no" value="{O1}">' in html
    assert 'id="scan-context" class="scan-context is-pending" hx-swap-oob="true"' in html
    assert 'hx-swap-oob="afterbegin:#scan-log"' in html


def test_scan_return_saves_the_number_then_a_tracking_scan_finds_the_order(desk):
    desk.safe(desk.lookup(O1))
    response = desk.scan_return(O1, "sf1234567890123", "SF")
    assert response.status_code == 200
    html = desk.safe(response)
    assert "已回传" in html and "SF1234567890123" in html
    assert '<input type="hidden" name="order_no" value="">' in html  # next: an order number
    assert desk.numbers(O1) == [("SF", "SF1234567890123")]
    assert desk.stages()[O1] == "returned"

    response = desk.lookup(" SF1234567890123 ")
    html = desk.safe(response)
    assert "运单号 SF1234567890123 属于以下订单" in html and O1 in html and "已回传" in html
    assert '<input type="hidden" name="order_no" value="">' in html


def test_scan_return_refusals_are_shown_and_keep_the_order_waiting(desk):
    desk.scan_return(O1, "773000000001", "ZTO")
    cases = [
        ("12/34", "ZTO", "运单号格式不正确"),
        ("773000000001", "ZTO", "该运单号已用于其他收件人的订单"),  # O1's, other receiver
        ("773000000009", "", "请先选择快递公司"),
        ("773000000009", "火星", "无法识别的快递公司"),
    ]
    for code, courier, message in cases:
        response = desk.scan_return(O3, code, courier)
        assert response.status_code == 422, code
        html = desk.safe(response)
        assert 'class="scan-result bad"' in html
        assert message in html, code
        assert f'<input type="hidden" name="order_no" value="{O3}">' in html
        assert O3 in html and "司**" in html
    assert desk.numbers(O3) == []
    assert desk.stages()[O3] == "assigned"


def test_scan_answers_say_which_number_is_which_with_a_signal_each(desk):
    """OK, refused and already returned each have their colour and sound (data-scan-signal);
    a refusal names the scanned tracking number and the order number as such."""
    signal = re.compile(r'id="scan-result" class="scan-result (\w+)"[^>]*data-scan-signal="(\w+)"')
    assert signal.search(desk.safe(desk.lookup(O1))).groups() == ("ok", "ok")
    html = desk.safe(desk.scan_return(O1, "773000000001", "ZTO"))
    assert signal.search(html).groups() == ("ok", "ok")
    assert re.search(
        rf"运单号 <span class=\"mono\">773000000001</span>\s*→ 订单号 <span class=\"mono\">{O1}",
        html,
    )
    assert 'data-scan-signal="ok"' in html  # the session log line too
    html = desk.safe(desk.lookup(O1))  # scanned again: already returned
    assert signal.search(html).groups() == ("already", "already")
    assert "该订单已回传运单号" in html
    html = desk.safe(desk.scan_return(O3, "773000000001", "ZTO"))  # O1's number, other receiver
    assert signal.search(html).groups() == ("bad", "refused")
    hint = re.sub(r"<[^>]+>|\s+", " ", html[html.index("该运单号已用于其他收件人的订单") :])
    assert re.sub(r" +", " ", hint).startswith(
        f"该运单号已用于其他收件人的订单 扫描的运单号 773000000001 · 订单号 {O3}"
    )
    assert signal.search(desk.safe(desk.lookup("NOSUCHCODE1"))).groups() == ("bad", "refused")


def test_scan_return_for_another_suppliers_order_reveals_nothing(desk):
    response = desk.scan_return(OTHER, "SF1234567890123", "SF")
    assert response.status_code == 422
    html = desk.safe(response)
    assert "订单未分配" in html
    assert OTHER_GOODS not in html and OTHER_SHOP not in html and "上**" not in html
    assert '<input type="hidden" name="order_no" value="">' in html
    assert desk.stages()[OTHER] == "assigned" and desk.parcel_count() == 0


def test_shared_parcel_is_accepted_and_format_warnings_are_shown(desk):
    assert desk.scan_return(O1, "773000000001", "ZTO").status_code == 200
    response = desk.scan_return(O2, "773000000001", "ZTO")  # same receiver
    assert response.status_code == 200
    assert "已回传" in desk.safe(response)
    assert desk.numbers(O2) == [("ZTO", "773000000001")]

    response = desk.scan_return(O4, "773012345678", "SF")
    assert response.status_code == 200
    html = desk.safe(response)
    assert 'class="scan-result warn"' in html
    assert "773012345678 与顺丰速运常见格式（SF+13位数字）不符" in html
    assert desk.numbers(O4) == [("SF", "773012345678")]


def test_scanning_an_order_number_while_one_waits_switches_orders(desk):
    response = desk.scan_return(O1, O3, "SF")
    assert response.status_code == 200
    html = desk.safe(response)
    assert f'<input type="hidden" name="order_no" value="{O3}">' in html
    assert "司**" in html
    assert desk.parcel_count() == 0


def test_scan_of_a_cancelled_assignment_says_do_not_ship(desk):
    response = desk.lookup(O5)
    assert response.status_code == 200
    html = desk.safe(response)
    assert "已取消 请勿发货" in html and 'class="scan-result bad"' in html
    assert "商家取消分配" in html and O5 in html
    assert '<input type="hidden" name="order_no" value="">' in html

    response = desk.scan_return(O5, "SF1234567890123", "SF")
    html = desk.safe(response)
    assert "已取消 请勿发货" in html
    assert desk.stages()[O5] == "unassigned" and desk.parcel_count() == 0


def test_unknown_codes_and_other_suppliers_orders_are_not_found(desk):
    other_result = desk.other_browser.post(
        RETURN_URL, {"order_no": OTHER, "code": "YT1234567890123", "courier": "YTO"}
    )
    assert other_result.status_code == 200  # the other supplier returned a number of its own
    for code in ("261121-999999999999999", OTHER, "YT1234567890123", "x" * 200):
        response = desk.lookup(code)
        assert response.status_code == 200, code
        html = desk.safe(response)
        assert "未找到订单" in html and 'class="scan-result bad"' in html
        assert OTHER_GOODS not in html and OTHER_SHOP not in html
        assert '<input type="hidden" name="order_no" value="">' in html


def test_print_blockers_and_dispatched_orders(desk):
    with desk.app.app_context():
        db.session.execute(update(Order).where(Order.order_no == O4).values(after_sale_active=True))
        db.session.execute(update(Order).where(Order.order_no == O3).values(audit_hold=True))
        db.session.commit()
    html = desk.safe(desk.lookup(O4))
    assert "售后中，请勿发货" in html and 'class="scan-result bad"' in html
    assert "平台审核中，请勿发货" in desk.safe(desk.lookup(O3))

    desk.scan_return(O1, "SF1234567890123", "SF")
    with desk.app.app_context():
        db.session.execute(update(Order).where(Order.order_no == O1).values(stage="dispatched"))
        db.session.commit()
    html = desk.safe(desk.lookup(O1))
    assert "已发货" in html and 'class="scan-result already"' in html
    assert '<input type="hidden" name="order_no" value="">' in html  # nothing to return
    response = desk.scan_return(O1, "SF1234567890999", "SF")
    assert "订单已发货" in desk.safe(response)
    assert desk.numbers(O1) == [("SF", "SF1234567890123")]


def test_without_htmx_the_scan_answers_with_the_whole_page(desk):
    response = desk.lookup(O1, htmx=False)
    assert response.status_code == 200
    html = desk.safe(response)
    assert "<html" in html and 'class="scan-result ok"' in html
    # A browser without JavaScript posts the next scan straight to the return URL.
    assert f'action="{RETURN_URL}"' in html
    assert f'<input type="hidden" name="order_no" value="{O1}">' in html
    assert "hx-swap-oob" not in html
    assert html.count('class="scan-log-entry ok"') == 1


def test_undo_of_the_last_scanned_return(desk):
    desk.lookup(O1)
    returned = desk.safe(desk.scan_return(O1, "SF1234567890123"))
    assert 'data-scan-kind="returned"' in returned and "data-scan-undo" in returned
    assert 'name="tracking_no" value="SF1234567890123"' in returned
    undo = {"order_no": O1, "tracking_no": "SF1234567890123", "courier": "SF"}
    response = desk.browser.post("/supplier/scan/undo", undo, target="scan-result")
    html = desk.safe(response)
    assert response.status_code == 200 and 'data-scan-kind="undone"' in html
    assert "已撤销" in html and 'name="order_no" value="' + O1 + '"' in html  # waits again
    assert_no_plaintext(html)
    with desk.app.app_context():
        order = db.session.scalar(select(Order).where(Order.order_no == O1))
        assert order.stage == "assigned" and order.tracking_no == ""
    # nothing to undo any more: refused, nothing changed
    again = desk.browser.post("/supplier/scan/undo", undo, target="scan-result")
    assert again.status_code == 422 and "只能撤销最近一次" in desk.safe(again)
    # the next scan of the right number returns it
    assert "已回传" in desk.safe(desk.scan_return(O1, "SF1234567890124"))
    # an undo naming another number than the order's is refused
    stale = desk.browser.post("/supplier/scan/undo", undo, target="scan-result")
    assert stale.status_code == 422
    page = desk.safe(desk.browser.get(SCAN_URL))
    assert "data-scan-count" in page and "Ctrl+Z" in page

"""Saved column mappings (DESIGN §10.2): a layout the portal does not know is mapped once on the
import page, named, and later files with the same header set are read with it."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from portal.domain.imports.mappings import save_mapping, saved_mappings
from portal.domain.imports.platform_export import (
    CITY,
    DETAIL,
    DISTRICT,
    GOODS,
    PHONE,
    PROVINCE,
    QUANTITY,
    RECEIVER,
    SKU_CODE,
    STATUS,
    detect_platform,
    header_key,
    open_platform_export,
)
from portal.domain.imports.tabular import ORDER_NO, normalize_header
from portal.extensions import db
from portal.models import ImportMapping, Merchant, Order
from tests.test_api_orders import API, Api

# An ERP's export: its own headers, Taobao's status words, one bad phone, one bad quantity.
ERP_HEADERS = [
    "单号",
    "宝贝名称",
    "件数",
    "编码",
    "联系人",
    "联系电话",
    "省份",
    "城市",
    "区县",
    "地址",
    "交易状态",
]
ERP_ROWS = [
    ["261121-300000000000001", "加厚珊瑚绒毛毯", "2", "BLK-150", "张伟", "13577446522", "广东省", "广州市", "天河区", "体育西路 1 号", "等待卖家发货"],  # noqa: E501
    ["261121-300000000000002", "羊毛围巾", "1", "SCF-01", "李娜", "无号码", "浙江省", "杭州市", "西湖区", "文三路 8 号", "交易关闭"],  # noqa: E501
    ["261121-300000000000003", "羊毛围巾", "一件", "SCF-01", "王五", "13900001111", "浙江省", "杭州市", "西湖区", "文三路 9 号", "等待卖家发货"],  # noqa: E501
]  # fmt: skip
FIELDS = {
    ORDER_NO: "单号",
    GOODS: "宝贝名称",
    QUANTITY: "件数",
    SKU_CODE: "编码",
    RECEIVER: "联系人",
    PHONE: "联系电话",
    PROVINCE: "省份",
    CITY: "城市",
    DISTRICT: "区县",
    DETAIL: "地址",
    STATUS: "交易状态",
}


def erp_csv(headers: list[str] = ERP_HEADERS, rows: list[list[str]] = ERP_ROWS) -> bytes:
    lines = [",".join(headers), *(",".join(row) for row in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_mapped_file_is_read_by_its_mapping_with_row_numbered_errors(app_ctx, factory):
    merchant = db.session.get(Merchant, factory.merchant().merchant.id)
    save_mapping(merchant, "聚水潭导出", ERP_HEADERS, FIELDS)
    # Header order and spelling variants are the same header set.
    shuffled = [h.upper() for h in reversed(ERP_HEADERS)]
    assert header_key(shuffled) == header_key(ERP_HEADERS)

    saved = saved_mappings(merchant)
    rows = open_platform_export(io.BytesIO(erp_csv()), "erp.csv", mappings=saved)
    assert rows.platform == "mapping:聚水潭导出"
    first, bad_phone, bad_quantity = list(rows)
    assert first.platform_status == "awaiting_shipment"
    assert first.platform_status_text == "等待卖家发货"
    assert (first.receiver_name, first.detail, first.sku_code) == (
        "张伟",
        "体育西路 1 号",
        "BLK-150",
    )
    # The phone is checked by the upsert (the row number travels with the order).
    assert bad_phone.platform_status == "cancelled" and bad_phone.row == 3
    assert bad_quantity.row == 4 and bad_quantity.code == "invalid_quantity"


def test_known_platforms_win_and_other_merchants_mappings_do_not_apply(app_ctx, factory):
    merchant_id, other_id = factory.merchant().merchant.id, factory.merchant().merchant.id
    merchant, other = db.session.get(Merchant, merchant_id), db.session.get(Merchant, other_id)
    save_mapping(merchant, "ERP", ERP_HEADERS, FIELDS)
    headers = [normalize_header(h) for h in ERP_HEADERS]
    assert detect_platform(headers, saved_mappings(other)).platform == "pdd"
    assert detect_platform(headers, saved_mappings(merchant)).platform == "mapping:ERP"
    # A Pinduoduo header row is Pinduoduo's whatever was saved.
    pdd = (app_ctx.root_path + "/../tests/data/pdd_orders_export_gbk.csv").replace("portal/../", "")
    with open(pdd, "rb") as handle:
        rows = open_platform_export(handle, "pdd.csv", mappings=saved_mappings(merchant))
        assert rows.platform == "pdd"
        rows.close()


@pytest.mark.parametrize(
    ("name", "fields", "code"),
    [
        ("", FIELDS, "field_required"),
        ("名" * 41, FIELDS, "field_too_long"),
        ("ERP", {k: v for k, v in FIELDS.items() if k != PHONE}, "mapping_incomplete"),
        ("ERP", {**FIELDS, PHONE: "不存在的列"}, "invalid_mapping"),
    ],
)
def test_a_mapping_is_checked(app_ctx, factory, name, fields, code):
    from portal.domain.errors import DomainError

    merchant = db.session.get(Merchant, factory.merchant().merchant.id)
    with pytest.raises(DomainError) as refused:
        save_mapping(merchant, name, ERP_HEADERS, fields)
    assert refused.value.code == code
    assert saved_mappings(merchant) == []


def test_the_same_name_for_another_header_set_is_refused_and_resaving_replaces(app_ctx, factory):
    from portal.domain.errors import DomainError

    merchant = db.session.get(Merchant, factory.merchant().merchant.id)
    save_mapping(merchant, "ERP", ERP_HEADERS, FIELDS)
    with pytest.raises(DomainError) as refused:
        save_mapping(merchant, "ERP", [*ERP_HEADERS, "备注"], FIELDS)
    assert refused.value.code == "name_taken"
    save_mapping(merchant, "ERP 新", ERP_HEADERS, {**FIELDS, STATUS: ""})
    [mapping] = db.session.scalars(select(ImportMapping)).all()
    assert mapping.name == "ERP 新" and STATUS not in json.loads(mapping.fields)


def test_api_import_names_the_mapping_and_reports_rows(app, factory):
    user = factory.merchant()
    with app.app_context():
        save_mapping(db.session.get(Merchant, user.merchant.id), "ERP", ERP_HEADERS, FIELDS)
        db.session.commit()
    api = Api(app.test_client(), factory.token(user))
    answer = api.upload(erp_csv(), "erp.csv")
    assert answer.status_code == 200, answer.json
    assert answer.json["platform"] == "mapping:ERP"
    assert answer.json["created"] == 1
    assert {(r["row"], r["code"]) for r in answer.json["rejected"]} == {
        (3, "invalid_phone"),
        (4, "invalid_quantity"),
    }


def test_import_page_offers_the_mapping_then_uses_it(app, factory, browser):
    from portal.domain import import_jobs

    user = factory.merchant()
    browser.login(user.username)
    upload = {"file": (io.BytesIO(erp_csv()), "erp.csv")}
    refused = browser.client.post(
        "/merchant/orders/import",
        data=upload,
        headers={**browser.headers(True, "import-upload")},
        content_type="multipart/form-data",
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "设置列映射" in page
    assert ">联系电话</label>" in page

    form = {
        "file": (io.BytesIO(erp_csv()), "erp.csv"),
        "mapping_name": "ERP",
        **{f"field-{ERP_HEADERS.index(header)}": field for field, header in FIELDS.items()},
    }
    incomplete = {k: v for k, v in form.items() if k != f"field-{ERP_HEADERS.index('联系电话')}"}
    incomplete["file"] = (io.BytesIO(erp_csv()), "erp.csv")
    again = browser.client.post(
        "/merchant/orders/import/mapping",
        data=incomplete,
        headers=browser.headers(True, "import-upload"),
        content_type="multipart/form-data",
    )
    assert again.status_code == 422 and "手机/电话" in again.get_data(as_text=True)

    saved = browser.client.post(
        "/merchant/orders/import/mapping",
        data=form,
        headers=browser.headers(True, "import-upload"),
        content_type="multipart/form-data",
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)[:500]
    assert "列映射「ERP」" in saved.get_data(as_text=True)
    with app.app_context():
        [job] = import_jobs.recent_import_jobs(db.session.get(Merchant, user.merchant.id))
        assert job.platform == "mapping:ERP"
        import_jobs.run_import(job.id)
        db.session.commit()
        numbers = set(db.session.scalars(select(Order.order_no)))
    assert numbers == {ERP_ROWS[0][0]}

    # The next file with the same headers goes straight in.
    later = browser.client.post(
        "/merchant/orders/import",
        data={"file": (io.BytesIO(erp_csv()), "erp-2.csv")},
        headers=browser.headers(True, "import-upload"),
        content_type="multipart/form-data",
    )
    assert later.status_code == 200 and "列映射「ERP」" in later.get_data(as_text=True)


def test_the_api_answer_schema_accepts_a_mapping_platform():
    from portal.api.schemas import UpsertResult

    answer = {"created": 0, "updated": 0, "unchanged": 0, "rejected": [], "rejected_count": 0}
    UpsertResult.model_validate({**answer, "cancelled_assignments": 0, "platform": "mapping:ERP"})
    assert API == "/api/v1"

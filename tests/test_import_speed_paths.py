"""The import's fast paths store exactly what the plain per-field formulas give.

The import normalises each receiver once, reuses one cipher and the merchant's associated-data
prefix (privacy.receiver.ReceiverProtector), skips str.translate for clean text and inserts
through Core.
Here every stored value is recomputed the slow, obvious way (the formulas the code had before
those shortcuts) and compared: ciphertexts must open under the per-field associated data to the
same plaintext, and masks, blind index, receiver key and content hash must be equal. A drift in
receiver_key or content_hash would silently turn every re-import into an update.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from portal.domain.imports.platform_export import ImportedOrder
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.privacy import crypto as privacy_crypto
from portal.domain.privacy import keys as privacy_keys
from portal.domain.privacy import normalize as privacy_normalize
from portal.domain.privacy.crypto import decrypt, order_aad
from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.lookups import NormalizedReceiver, receiver_key
from portal.domain.privacy.masks import mask_detail, mask_name, mask_phone
from portal.domain.privacy.normalize import normalize_text
from portal.domain.privacy.phones import normalize_phone
from portal.domain.privacy.receiver import ReceiverProtector, protect_receiver
from portal.extensions import db
from portal.models import Merchant, Order
from portal.models.orders import STAGE_UNASSIGNED
from tests.factories import demo_order

# (name, phone, province, city, district, detail): clean, full-width, invisible, control,
# line-break, emoji, extension, landline, foreign and empty values.
RECEIVERS = [
    ("张伟", "13577446522", "广东省", "广州市", "天河区", "石牌街道团结路887号18栋3004室"),
    ("欧阳\u200b晓明", "+86 139-1234-5678", "广东省", "广州市", "天河区", "天河路208号 5楼"),
    (
        "阿依古丽·买买提",
        "１３７２２１３９４５２",
        "新疆维吾尔自治区",
        "乌鲁木齐市",
        "天山区",
        "解放南路3号",
    ),
    (" Mary  Smith\t", "020-87654321", "广东省", "广州市", "越秀区", "Room 5,\n88 Garden Road"),
    ("👍🏽阿强", "13212345678-1234", "浙江省", "杭州市", "西湖区", "南湖镇建设路12号"),
    ("", "", "广东省", "广州市", "天河区", "光明路6号"),
    ("李\x00四", "13212345678转12", "广东省", "东莞市", "", "虎门镇\u00ad1号"),
    ("王芳", "+1 650 555 0100", "北京市", "北京市", "朝阳区", "建国路\u202e88号"),
    ("ﾃｽﾄ", "12345", "上海市", "上海市", "浦东新区", "世纪大道\x85100号"),
    ("\ufeff赵磊", "0086 21 1234 5678", "上海市", "上海市", "黄浦区", ""),
]


# --------------------------------------------------------------------------- reference formulas


def reference_clean(value: str, table: dict[int, str | None]) -> str:
    return " ".join(unicodedata.normalize("NFKC", value.translate(table)).split())


def reference_aad(merchant_id: int, order_no: str, field: str) -> bytes:
    return json.dumps(["order-receiver", 1, merchant_id, order_no, field]).encode("ascii")


def reference_hmac(key: bytes, parts: list[object]) -> str:
    message = json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def reference_receiver_key(ring: KeyRing, merchant_id: int, *fields: str) -> str:
    name, phone, province, city, district, detail = fields

    def part(value: str) -> str:
        return normalize_text(value).casefold().replace(" ", "")

    phone_part = normalize_phone(phone).canonical or part(phone)
    parts = [part(name), phone_part, *map(part, (province, city, district, detail))]
    if not any(parts):
        return ""
    return reference_hmac(ring.receiver_key_secret, ["receiver", 1, merchant_id, *parts])[:32]


def reference_phone_index(ring: KeyRing, merchant_id: int, phone: str) -> str:
    number = normalize_phone(phone).number
    if not number:
        return ""
    return reference_hmac(ring.index_key, ["phone-index", 1, merchant_id, number])


def reference_stored_phone(phone: str) -> str:
    parsed = normalize_phone(phone)
    return parsed.canonical if parsed.kind in ("mobile", "landline") else normalize_text(phone)


def reference_content_hash(row: ImportedOrder, key: str) -> str:
    payload = [
        row.platform_status,
        row.platform_status_text,
        row.after_sale_status,
        row.after_sale_active,
        row.audit_hold,
        row.paid_at.isoformat() if row.paid_at else "",
        row.promise_ship_at.isoformat() if row.promise_ship_at else "",
        key,
        row.province,
        row.city,
        row.district,
        row.goods_id,
        row.goods_name,
        row.spec,
        row.style_id,
        row.sku_code,
        row.goods_code,
        row.quantity,
        row.tracking_no,
        row.courier_name,
        row.merchant_note,
        row.buyer_note,
        row.goods_total_fen,
        row.paid_fen,
        row.merchant_received_fen,
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def assert_protected_as_reference(
    ring: KeyRing, merchant_id: int, order_no: str, fields: tuple[str, ...], stored: Any
) -> None:
    """`stored` (a ProtectedReceiver or an Order) holds what the reference formulas give."""
    name, phone, _, _, _, detail = fields
    expected_plain = {
        "name": normalize_text(name),
        "phone": reference_stored_phone(phone),
        "detail": normalize_text(detail),
    }
    for field, plain in expected_plain.items():
        token = getattr(stored, f"{field}_enc")
        assert decrypt(ring, token, reference_aad(merchant_id, order_no, field)) == plain, field
        assert bool(token) == bool(plain), field
        if token:
            assert privacy_crypto.token_version(token) == ring.current_version
    assert stored.name_mask == mask_name(normalize_text(name))
    assert stored.phone_mask == mask_phone(phone)
    assert stored.detail_mask == mask_detail(normalize_text(detail))
    assert stored.phone_index == reference_phone_index(ring, merchant_id, phone)
    assert stored.receiver_key == reference_receiver_key(ring, merchant_id, *fields)


# --------------------------------------------------------------------------- privacy helpers


def test_translate_is_skipped_only_for_text_it_would_not_change() -> None:
    assert set(privacy_normalize.DISPLAY_TABLE) == set(privacy_normalize._TEXT_TABLE)
    for code in range(0x110000):
        needs = privacy_normalize._TRANSLATED.search(chr(code)) is not None
        assert needs == (code in privacy_normalize._TEXT_TABLE), hex(code)


@pytest.mark.parametrize("value", [text for fields in RECEIVERS for text in fields])
def test_normalize_text_is_the_translate_formula(value: str) -> None:
    assert normalize_text(value) == reference_clean(value, privacy_normalize._TEXT_TABLE)


@pytest.mark.parametrize(
    "order_no", ["261121-538292030421876", 'a"b\\c', "订单 1", "x\u2028y", "\U0001f600"]
)
def test_order_aad_is_the_json_list(order_no: str) -> None:
    for field in privacy_crypto.ORDER_FIELDS:
        assert order_aad(42, order_no, field) == reference_aad(42, order_no, field)


@pytest.mark.parametrize("fields", RECEIVERS)
def test_receiver_key_is_the_reference_formula(fields: tuple[str, ...]) -> None:
    ring = KeyRing.generate()
    assert receiver_key(ring, 7, *fields) == reference_receiver_key(ring, 7, *fields)
    protector = ReceiverProtector(ring, 7)
    assert protector.receiver_key(NormalizedReceiver.of(*fields)) == receiver_key(ring, 7, *fields)


@pytest.mark.parametrize("fields", RECEIVERS)
def test_protector_and_protect_receiver_store_the_reference_values(
    fields: tuple[str, ...],
) -> None:
    ring = KeyRing.generate().with_new_version()
    order_no = "261121-538292030421876"
    protector = ReceiverProtector(ring, 7)
    assert_protected_as_reference(
        ring, 7, order_no, fields, protector.protect(order_no, NormalizedReceiver.of(*fields))
    )
    assert_protected_as_reference(
        ring, 7, order_no, fields, protect_receiver(ring, 7, order_no, *fields)
    )


def test_protector_binds_each_ciphertext_to_its_order_and_field() -> None:
    ring = KeyRing.generate()
    protected = ReceiverProtector(ring, 7).protect("261121-1", NormalizedReceiver.of(*RECEIVERS[0]))
    with pytest.raises(privacy_keys.DecryptionError):
        decrypt(ring, protected.name_enc, reference_aad(7, "261121-2", "name"))
    with pytest.raises(privacy_keys.DecryptionError):
        decrypt(ring, protected.name_enc, reference_aad(7, "261121-1", "detail"))
    with pytest.raises(privacy_keys.DecryptionError):
        decrypt(ring, protected.name_enc, reference_aad(8, "261121-1", "name"))


def test_protector_refuses_what_protect_receiver_refuses() -> None:
    ring = KeyRing.generate()
    with pytest.raises(TypeError):
        ReceiverProtector(ring, "7")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ReceiverProtector(ring, 7).protect("", NormalizedReceiver.of(*RECEIVERS[0]))


# --------------------------------------------------------------------------- the import


def test_imported_orders_hold_the_reference_values(app_ctx: Any, factory: Any) -> None:
    merchant = db.session.get(Merchant, factory.merchant().merchant.id)
    rows = [
        demo_order(
            f"261121-7{index:014d}",
            row=index + 2,
            receiver_name=name,
            receiver_phone=phone,
            province=province,
            city=city,
            district=district,
            detail=detail,
            # Unpaid orders have no times: NULLs among non-NULLs in one executemany.
            paid_at=None if index % 3 == 0 else BASE_PAID_AT,
            goods_total_fen=None if index % 2 else 100 + index,
        )
        for index, (name, phone, province, city, district, detail) in enumerate(RECEIVERS)
    ]
    ring = current_keyring()

    result = upsert_orders(ring, merchant, rows, batch_size=4)
    db.session.commit()
    assert (result.created, result.rejected_count) == (len(rows), 0), result.rejected

    orders = {
        order.order_no: order
        for order in db.session.scalars(select(Order).where(Order.merchant_id == merchant.id))
    }
    assert len(orders) == len(rows)
    for row, fields in zip(rows, RECEIVERS, strict=True):
        order = orders[row.order_no]
        assert_protected_as_reference(ring, merchant.id, row.order_no, fields, order)
        assert order.content_hash == reference_content_hash(row, order.receiver_key)
        assert (order.province, order.city, order.district) == tuple(
            normalize_text(value) for value in fields[2:5]
        )
        assert (order.paid_at, order.goods_total_fen) == (row.paid_at, row.goods_total_fen)
        # Column defaults the INSERT leaves to the table definition.
        assert order.stage == STAGE_UNASSIGNED
        assert (order.print_count, order.tracking_no, order.address_change_pending) == (
            0,
            "",
            False,
        )
        assert order.created_at is not None and order.updated_at == order.created_at

    again = upsert_orders(ring, merchant, rows, batch_size=4)
    assert (again.unchanged, again.created, again.updated) == (len(rows), 0, 0)

    moved = [replace(rows[0], detail="新地址路1号"), *rows[1:]]
    changed = upsert_orders(ring, merchant, moved, batch_size=4)
    db.session.commit()
    assert (changed.updated, changed.unchanged) == (1, len(rows) - 1)
    db.session.expire_all()
    order = db.session.scalar(select(Order).where(Order.id == orders[rows[0].order_no].id))
    fields = (*RECEIVERS[0][:5], "新地址路1号")
    assert_protected_as_reference(ring, merchant.id, rows[0].order_no, fields, order)
    assert order.content_hash == reference_content_hash(moved[0], order.receiver_key)


def test_invalid_phone_is_refused_with_its_row(app_ctx: Any, factory: Any) -> None:
    merchant = db.session.get(Merchant, factory.merchant().merchant.id)
    rows = [
        demo_order("261121-800000000000001", row=2),
        demo_order("261121-800000000000002", row=3, receiver_phone="138abcd5678"),
    ]
    result = upsert_orders(current_keyring(), merchant, rows)
    assert result.created == 1
    assert [(r.code, r.row) for r in result.rejected] == [("invalid_phone", 3)]


BASE_PAID_AT = demo_order().paid_at

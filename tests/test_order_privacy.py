"""Buyer data at rest (DESIGN §5), checked on the raw database after importing real export files.

The raw rows are read with plain SQL, not through the models, so that nothing the ORM does can
hide plaintext that is really stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text, update

from portal.domain.keyring import current_keyring
from portal.domain.orders.queries import OrderFilters, orders_query, receiver_for_merchant
from portal.domain.privacy.keys import DecryptionError
from portal.domain.privacy.normalize import normalize_text
from portal.extensions import db
from portal.models import Merchant, Order
from tests.factories import demo_order
from tests.test_order_rules import Shop, bound_shop, export_bytes, import_file, new_user


@dataclass(frozen=True)
class Buyer:
    """A receiver as the platform exports it, and what the portal must make of it."""

    name: str
    phone: str
    detail: str
    name_mask: str
    phone_mask: str
    stored_phone: str  # what the merchant reads back: canonical when recognised


BUYERS = {
    "two_characters": Buyer(
        "张伟", "13577446522", "石牌街道团结路887号18栋3004室", "张**", "135****6522", "13577446522"
    ),
    "four_characters": Buyer(
        "欧阳晓明",
        "+86 139-1234-5678",
        "天河路208号粤海天河城大厦5楼",
        "欧**",
        "139****5678",
        "13912345678",
    ),
    "minority_dot": Buyer(
        "阿依古丽·买买提",
        "１３７２２１３９４５２",
        "解放南路东关街道幸福里小区3号楼502室",
        "阿**",
        "137****9452",
        "13722139452",
    ),
    "leading_dot": Buyer(
        "·热依拉", "15999887766", "人民路五一街道88号", "热**", "159****7766", "15999887766"
    ),
    "emoji": Buyer(
        "🌸小美",
        "18688776655",
        "滨江街道中山路1号锦绣家园7栋",
        "🌸**",
        "186****6655",
        "18688776655",
    ),
    "emoji_skin_tone": Buyer(
        "👍🏽阿强", "17755443322", "南湖镇建设路12号", "👍🏽**", "177****3322", "17755443322"
    ),
    "landline": Buyer(
        "李", "020-87654321", "新华路城北街道9号碧水湾2单元", "李**", "****4321", "02087654321"
    ),
    "virtual_with_extension": Buyer(
        "王芳",
        "13212345678-1234",
        "胜利街东城街道66号世纪城12号楼1101室",
        "王**",
        "132****5678",
        "13212345678-1234",
    ),
    "latin": Buyer(
        "Mary Smith", "15800997766", "Room 5, 88 Garden Road", "M**", "158****7766", "15800997766"
    ),
    "empty": Buyer("", "", "光明路6号", "", "", ""),
}
NO_DETAIL = Buyer("赵磊", "13311112222", "", "赵**", "133****2222", "13311112222")


def order_no(index: int) -> str:
    return f"261121-6{index:014d}"


def buyer_orders(buyers: list[Buyer], offset: int = 0) -> list[Any]:
    return [
        demo_order(
            order_no(offset + i),
            receiver_name=b.name,
            receiver_phone=b.phone,
            detail=b.detail,
        )
        for i, b in enumerate(buyers)
    ]


@pytest.fixture
def shop(app_ctx: Any, factory: Any) -> Shop:
    return bound_shop(factory)


def upload(
    merchant: Merchant, tmp_path: Path, rows: list[Any], fmt: str = "csv", name: str = "a"
) -> None:
    """Import rows as a real UTF-8 CSV (GBK cannot carry emoji) or XLSX file, and commit."""
    path = tmp_path / f"{name}.{fmt}"
    path.write_bytes(export_bytes(rows, fmt=fmt, encoding="utf-8"))
    result = import_file(merchant, path)
    db.session.commit()
    assert result.rejected_count == 0, result.rejected
    assert result.created == len(rows)


def raw_rows(table: str) -> list[dict[str, Any]]:
    """Every stored value as the database returns it, with no model type in between."""
    query = text(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the catalogue
    return [dict(row._mapping) for row in db.session.execute(query)]


def all_tables() -> Iterator[tuple[str, dict[str, Any]]]:
    # Reflected on our own connection: a second one would wait for our SQLite write lock.
    for table in inspect(db.session.connection()).get_table_names():
        for row in raw_rows(table):
            yield table, row


# HMAC outputs: hex by construction, so decimal runs inside them are chance, not leaks.
DIGEST_COLUMNS = {"phone_index": 64, "receiver_key": 32, "content_hash": 64}
# The same for digests inside other values (password hashes, API token hashes).
HEX_DIGEST = re.compile(r"[0-9a-f]{32,}")


def _digits(value: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch in "0123456789")


def secrets_of(buyer: Buyer) -> tuple[list[str], list[str]]:
    """(texts that must not appear anywhere, 5-digit runs of the phone that must not either)."""
    texts = []
    name = normalize_text(buyer.name)
    if name:
        visible = buyer.name_mask.removesuffix("**")
        hidden = name[name.index(visible) + len(visible) :]
        if hidden:  # a one-character name is all in its mask, by design
            texts += [name, hidden]
    detail = normalize_text(buyer.detail)
    if detail:
        texts.append(detail)
        # Every 4-character stretch with a letter or CJK character: the street, the building …
        texts += [
            detail[i : i + 4]
            for i in range(len(detail) - 3)
            if re.search(r"[^0-9 ,]", detail[i : i + 4])
        ]
    digits = _digits(buyer.phone)
    runs = [digits[i : i + 5] for i in range(len(digits) - 4)]
    return texts, runs


# Shop IDs: public, drawn at random, so their digits hold five of a phone's now and then.
PUBLIC_IDS = {("users", "shop_id")}


def assert_no_plaintext(buyers: list[Buyer]) -> None:
    checked = 0
    for table, row in all_tables():
        for column, value in row.items():
            if not isinstance(value, str) or not value:
                continue
            checked += 1
            for buyer in buyers:
                texts, runs = secrets_of(buyer)
                for secret in texts:
                    assert secret not in value, (table, column, secret)
                if table == "orders" and column in DIGEST_COLUMNS:
                    assert re.fullmatch(f"[0-9a-f]{{{DIGEST_COLUMNS[column]}}}", value), column
                    continue
                if (table, column) in PUBLIC_IDS:
                    continue
                for run in runs:
                    assert run not in HEX_DIGEST.sub("", value), (table, column, run)
    assert checked


# --------------------------------------------------------------------------- at rest


def test_no_plaintext_receiver_data_in_any_column(shop: Shop, tmp_path: Path) -> None:
    buyers = [*BUYERS.values(), NO_DETAIL]
    upload(shop.merchant, tmp_path, buyer_orders(buyers))
    # An address change writes new ciphertexts and history: still nothing in clear.
    changed = Buyer("周杰", "13699998888", "幸福路阳光花园9栋101室", "周**", "136****8888", "")
    rows = buyer_orders(buyers)
    rows[0] = demo_order(
        order_no(0),
        receiver_name=changed.name,
        receiver_phone=changed.phone,
        detail=changed.detail,
    )
    path = tmp_path / "b.csv"
    path.write_bytes(export_bytes(rows, encoding="utf-8"))
    assert import_file(shop.merchant, path).updated == 1
    db.session.commit()

    raw = raw_rows("orders")
    assert len(raw) == len(buyers)
    for row in raw:
        for column in ("name_enc", "phone_enc", "detail_enc"):
            assert row[column] == "" or re.fullmatch(r"v1:[A-Za-z0-9_-]+=*", row[column])
    assert_no_plaintext([*buyers, changed])


def test_the_check_itself_finds_plaintext(shop: Shop, tmp_path: Path) -> None:
    """Guard against a vacuous test: plaintext written on purpose is caught."""
    buyer = BUYERS["two_characters"]
    upload(shop.merchant, tmp_path, buyer_orders([buyer]))
    for column, value in (("buyer_note", "电话135774465"), ("merchant_note", "团结路887号")):
        db.session.execute(update(Order).values({column: value}))
        with pytest.raises(AssertionError):
            assert_no_plaintext([buyer])
        db.session.rollback()
    assert_no_plaintext([buyer])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_decryption_round_trips_and_masks(shop: Shop, tmp_path: Path, fmt: str) -> None:
    buyers = [*BUYERS.values(), NO_DETAIL]
    upload(shop.merchant, tmp_path, buyer_orders(buyers), fmt)
    db.session.expire_all()
    for index, (case, buyer) in enumerate([*BUYERS.items(), ("no_detail", NO_DETAIL)]):
        order = db.session.scalar(select(Order).where(Order.order_no == order_no(index)))
        plain = receiver_for_merchant(current_keyring(), shop.merchant, order)
        assert (plain.name, plain.phone, plain.detail) == (
            normalize_text(buyer.name),
            buyer.stored_phone,
            normalize_text(buyer.detail),
        ), case
        assert (order.name_mask, order.phone_mask, order.detail_mask) == (
            buyer.name_mask,
            buyer.phone_mask,
            "****" if buyer.detail else "",
        ), case
    # A receiver without a detail address cannot be shipped to.
    missing = db.session.scalar(select(Order).where(Order.order_no == order_no(len(BUYERS))))
    assert missing.address_complete is False


def test_masks_are_fixed_length_whatever_the_name_length(shop: Shop, tmp_path: Path) -> None:
    names = ["张三", "张三丰", "欧阳娜娜", "古丽娜扎尔·迪丽努尔"]
    rows = [
        demo_order(order_no(i), receiver_name=name, receiver_phone="13577446522")
        for i, name in enumerate(names)
    ]
    upload(shop.merchant, tmp_path, rows)
    masks = db.session.scalars(select(Order.name_mask).order_by(Order.id)).all()
    assert masks == ["张**", "张**", "欧**", "古**"]


# --------------------------------------------------------------------------- lookups


def search(shop: Shop, query: str, merchant: Merchant | None = None) -> list[str]:
    statement = orders_query(
        current_keyring(), merchant or shop.merchant, OrderFilters(tab="all", q=query)
    )
    return sorted(o.order_no for o in db.session.scalars(statement).unique())


@pytest.mark.parametrize(
    ("query", "case"),
    [
        ("13577446522", "two_characters"),
        ("135 7744 6522", "two_characters"),
        ("+86 135-7744-6522", "two_characters"),
        ("0086 13577446522", "two_characters"),
        ("１３５７７４４６５２２", "two_characters"),
        ("13912345678", "four_characters"),
        ("137 2213 9452", "minority_dot"),
        ("(020) 8765-4321", "landline"),
        ("+86 20 8765 4321", "landline"),
        ("13212345678", "virtual_with_extension"),
        ("13212345678转1234", "virtual_with_extension"),
    ],
)
def test_blind_index_finds_an_order_by_phone_written_differently(
    shop: Shop, tmp_path: Path, factory: Any, query: str, case: str
) -> None:
    buyers = list(BUYERS.values())
    upload(shop.merchant, tmp_path, buyer_orders(buyers))
    other = db.session.get(Merchant, new_user(factory, "merchant").merchant.id)
    upload(other, tmp_path, buyer_orders(buyers), name="other")
    expected = [order_no(list(BUYERS).index(case))]
    assert search(shop, query) == expected
    # Merchant-scoped: the other merchant's order to the same phone is not in our results,
    # and its index value differs.
    assert search(shop, query, other) == expected
    indexes = db.session.scalars(
        select(Order.phone_index).where(Order.order_no == expected[0])
    ).all()
    assert len(set(indexes)) == 2
    assert search(shop, "13000000000") == []


def test_receiver_key_groups_orders_to_the_same_receiver(
    shop: Shop, tmp_path: Path, factory: Any
) -> None:
    same = [
        demo_order(order_no(0)),
        demo_order(
            order_no(1),
            receiver_name=" 张 伟",
            receiver_phone="+86 135-7744-6522",
            detail="石牌街道 团结路887号 18栋3004室",
            goods_name="纯棉四件套 简约条纹",
        ),
    ]
    others = [
        demo_order(order_no(2), receiver_name="张伟伟"),
        demo_order(order_no(3), receiver_phone="13577446523"),
        demo_order(order_no(4), detail="石牌街道团结路887号18栋3005室"),
        demo_order(order_no(5), district="越秀区"),
    ]
    upload(shop.merchant, tmp_path, [*same, *others])
    other = db.session.get(Merchant, new_user(factory, "merchant").merchant.id)
    upload(other, tmp_path, same, name="other")

    keys = {
        (m, no): key
        for m, no, key in db.session.execute(
            select(Order.merchant_id, Order.order_no, Order.receiver_key)
        )
    }
    mine = [keys[(shop.merchant.id, order_no(i))] for i in range(6)]
    assert mine[0] == mine[1]
    assert len(set(mine[1:])) == 5
    assert keys[(other.id, order_no(0))] == keys[(other.id, order_no(1))]
    assert keys[(other.id, order_no(0))] != mine[0]


# --------------------------------------------------------------------------- tampering


def _flip(token: str) -> str:
    """Change one character of the sealed part of a token, keeping it well-formed."""
    prefix, body = token.split(":", 1)
    middle = len(body) // 2
    replacement = "A" if body[middle] != "A" else "B"
    return f"{prefix}:{body[:middle]}{replacement}{body[middle + 1 :]}"


def _reveal(shop: Shop, number: str) -> Any:
    db.session.expire_all()
    order = db.session.scalar(select(Order).where(Order.order_no == number))
    return receiver_for_merchant(current_keyring(), shop.merchant, order)


@pytest.mark.parametrize("column", ["name_enc", "phone_enc", "detail_enc"])
def test_tampered_ciphertext_fails_loudly(shop: Shop, tmp_path: Path, column: str) -> None:
    buyer = BUYERS["two_characters"]
    upload(shop.merchant, tmp_path, buyer_orders([buyer, BUYERS["four_characters"]]))
    first, second = order_no(0), order_no(1)
    orders = Order.__table__
    token = db.session.scalar(select(orders.c[column]).where(orders.c.order_no == first))

    def store(number: str, **values: str) -> None:
        db.session.execute(update(orders).where(orders.c.order_no == number).values(values))
        db.session.commit()

    store(first, **{column: _flip(token)})
    with pytest.raises(DecryptionError) as error:
        _reveal(shop, first)
    for secret in (buyer.name, buyer.phone, buyer.detail):
        assert secret not in str(error.value)

    # A valid ciphertext moved to another order, or to another column, does not open either.
    store(second, **{column: token})
    with pytest.raises(DecryptionError):
        _reveal(shop, second)
    target = "detail_enc" if column != "detail_enc" else "name_enc"
    store(first, **{column: token, target: token})
    with pytest.raises(DecryptionError):
        _reveal(shop, first)
    store(first, **{target: ""})  # each column its own ciphertext again: readable
    expected = {"name_enc": buyer.name, "phone_enc": buyer.stored_phone, "detail_enc": buyer.detail}
    assert getattr(_reveal(shop, first), column.removesuffix("_enc")) == expected[column]


def test_truncated_or_garbled_ciphertext_fails_loudly(shop: Shop, tmp_path: Path) -> None:
    upload(shop.merchant, tmp_path, buyer_orders([BUYERS["two_characters"]]))
    number = order_no(0)
    token = db.session.scalar(text("SELECT name_enc FROM orders"))
    for value in (token[:-6], token.replace("v1:", "v9:"), "张伟", token + "AAAA"):
        db.session.execute(
            text("UPDATE orders SET name_enc = :value WHERE order_no = :no"),
            {"value": value, "no": number},
        )
        db.session.commit()
        with pytest.raises(DecryptionError):
            _reveal(shop, number)

"""厂家编码: the factory's own product code for a merchant's SKU (DESIGN §10.3, like Cainiao's
mapping of the merchant's SKU to the warehouse's goods code).

Keyed exactly like the settlement prices: (factory, merchant, SKU key — the 商家编码-SKU维度, or
商品id|规格 when that is empty). The same rules decide who may set one: a merchant bound to the
factory now or before (`not_bound`) and a key the factory has an order or a price for
(`unknown_sku`). An empty code removes the factory's code. Desks, labels, 备货汇总, the price list
and statements look codes up a page at a time (`codes_for`) and show them beside the merchant's.
The SKU's 库位 (storage location, for pick lists) is kept in the same row and set the same ways.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, BinaryIO

from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, delete, select, tuple_, update

from portal.domain import prices
from portal.domain.allocation import chunks
from portal.domain.errors import DomainError, message_for
from portal.domain.imports.tabular import (
    Column,
    ImportFileError,
    TableError,
    open_columns,
)
from portal.extensions import db, dialect_insert
from portal.models import Supplier, SupplierSkuCode
from portal.models.base import utcnow

MAX_SUPPLIER_CODE = 64
MAX_LOCATION = 32
MAX_ITEMS = 10_000  # a file or an API call
SUPPLIER_CODE = "厂家编码"
LOCATION = "库位"
EXPORT_HEADER = (
    prices.SHOP_ID,
    prices.MERCHANT_NAME,
    prices.GOODS_NAME,
    prices.SPEC,
    prices.SKU_KEY,
    SUPPLIER_CODE,
    LOCATION,
)
IMPORT_COLUMNS: tuple[Column, ...] = (
    Column(prices.SHOP_ID, required=True, aliases=("店铺ID", "商家ID")),
    Column(prices.SKU_KEY, required=True, aliases=("SKU", "SKU编码", "商家编码")),
    Column(SUPPLIER_CODE, required=True, aliases=("厂家商品编码", "工厂编码", "货号")),
    # Optional: a file without it leaves every 库位 as it is.
    Column(LOCATION, aliases=("仓位", "货位", "储位")),
)


@dataclass(frozen=True)
class CodeItem:
    merchant_shop_id: str
    sku_code: str  # the merchant's SKU key, as the price list shows it
    supplier_code: str | None  # "" removes the code, None leaves it as it is
    row: int | None = None
    location: str | None = None  # 库位: "" removes it, None leaves it as it is


@dataclass(frozen=True)
class CodeRefusal:
    merchant_shop_id: str
    sku_code: str
    code: str
    message: str
    row: int | None = None
    index: int | None = None


@dataclass
class CodeResult:
    saved: list[CodeItem] = field(default_factory=list)
    refused: list[CodeRefusal] = field(default_factory=list)


def clean_supplier_code(value: object) -> str:
    code = unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else None
    if code is None or len(code) > MAX_SUPPLIER_CODE or "\x00" in code:
        raise DomainError("invalid_supplier_code", field="supplier_code")
    return code


def clean_location(value: object) -> str:
    location = unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else None
    if location is None or len(location) > MAX_LOCATION or "\x00" in location:
        raise DomainError("invalid_location", field="location")
    return location


def _upsert(values: list[dict[str, Any]], column: str = "supplier_code") -> None:
    """INSERT … ON CONFLICT (factory, merchant, key) DO UPDATE of `column` (the code or the
    location; the other one stays): two requests never collide."""
    table = SupplierSkuCode.__table__
    statement = dialect_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["supplier_id", "merchant_id", "sku_key"],
        set_={column: statement.excluded[column], "updated_at": statement.excluded.updated_at},
    )
    for chunk in chunks(values, 500):
        db.session.execute(statement, list(chunk))


def _clear(supplier: Supplier, column: str, keys: Sequence[tuple[int, str]]) -> None:
    """Empty the code or the location of these keys; a row left with neither goes."""
    for chunk in chunks(keys):
        mine = (
            SupplierSkuCode.supplier_id == supplier.id,
            tuple_(SupplierSkuCode.merchant_id, SupplierSkuCode.sku_key).in_(list(chunk)),
        )
        db.session.execute(update(SupplierSkuCode).where(*mine).values({column: ""}))
        db.session.execute(
            delete(SupplierSkuCode).where(
                *mine, SupplierSkuCode.supplier_code == "", SupplierSkuCode.location == ""
            )
        )


def set_supplier_codes(
    supplier: Supplier, items: Sequence[CodeItem], now: datetime | None = None
) -> CodeResult:
    """Set (or with "" remove) codes; each refused item is named with its code, the rest go in."""
    result = CodeResult()
    parsed: list[tuple[int, str, str, str, CodeItem]] = []
    seen: set[tuple[str, str]] = set()

    def refuse(index: int, item: CodeItem, shop_id: str, key: str, code: str) -> None:
        message = _("未与该商家绑定") if code == "not_bound" else message_for(code)
        result.refused.append(CodeRefusal(shop_id, key[:64], code, message, item.row, index))

    for index, item in enumerate(items):
        shop_id = unicodedata.normalize("NFKC", str(item.merchant_shop_id or "")).strip()
        try:
            key = prices._clean_sku_key(item.sku_code)
            code = None if item.supplier_code is None else clean_supplier_code(item.supplier_code)
            location = None if item.location is None else clean_location(item.location)
        except DomainError as error:
            refuse(index, item, shop_id, str(item.sku_code or ""), error.code)
            continue
        if (shop_id, key) in seen:
            refuse(index, item, shop_id, key, "duplicate_sku")
            continue
        seen.add((shop_id, key))
        parsed.append((index, shop_id, key, code, location, item))
    merchants = prices._bound_merchants(supplier, shop_ids=[p[1] for p in parsed])
    by_shop_id = {shop_id: merchant_id for merchant_id, shop_id in merchants.items()}
    known = prices._known_keys(
        supplier, [(by_shop_id[p[1]], p[2]) for p in parsed if p[1] in by_shop_id]
    )
    now = now or utcnow()
    # per column: the rows to write, the keys to empty
    upserts: dict[str, list[dict[str, Any]]] = {"supplier_code": [], "location": []}
    removals: dict[str, list[tuple[int, str]]] = {"supplier_code": [], "location": []}
    for index, shop_id, key, code, location, item in parsed:
        merchant_id = by_shop_id.get(shop_id)
        if merchant_id is None:
            refuse(index, item, shop_id, key, "not_bound")  # unknown or unbound: one answer
            continue
        if (merchant_id, key) not in known:
            refuse(index, item, shop_id, key, "unknown_sku")
            continue
        for column, value in (("supplier_code", code), ("location", location)):
            if value:
                row = {"supplier_id": supplier.id, "merchant_id": merchant_id, "sku_key": key}
                upserts[column].append(
                    {**row, "supplier_code": "", "location": "", column: value, "updated_at": now}
                )
            elif value is not None:
                removals[column].append((merchant_id, key))
        result.saved.append(CodeItem(shop_id, key, code, item.row, location))
    # writes first: a row whose code goes while its location comes stays
    for column, rows in upserts.items():
        if rows:
            _upsert(rows, column)
    for column, keys in removals.items():
        if keys:
            _clear(supplier, column, keys)
    result.refused.sort(key=lambda r: (r.row or 0, r.index or 0))
    return result


def codes_for(supplier_id: int, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """The factory's codes for these (merchant, SKU key) pairs: one query per 900 keys."""
    wanted = sorted(set(keys))
    found: dict[tuple[int, str], str] = {}
    for chunk in chunks(wanted):
        rows = db.session.execute(_codes_for(), {"supplier_id": supplier_id, "keys": list(chunk)})
        for merchant_id, sku_key, code in rows:
            found[(merchant_id, sku_key)] = code
    return found


@cache
def _codes_for() -> Select[Any]:
    """Built once (every factory desk page asks): building it cost more than running it."""
    return select(
        SupplierSkuCode.merchant_id, SupplierSkuCode.sku_key, SupplierSkuCode.supplier_code
    ).where(
        SupplierSkuCode.supplier_id == bindparam("supplier_id"),
        tuple_(SupplierSkuCode.merchant_id, SupplierSkuCode.sku_key).in_(
            bindparam("keys", expanding=True)
        ),
        SupplierSkuCode.supplier_code != "",
    )


def codes_for_rows(supplier_id: int, rows: Iterable[Any]) -> dict[tuple[int, str], str]:
    """codes_for the rows of a page (anything with merchant_id and sku_key)."""
    return codes_for(supplier_id, ((row.merchant_id, row.sku_key) for row in rows))


def codes_by_sku_key(supplier_id: int, sku_keys: Iterable[str]) -> dict[str, str]:
    """For 备货汇总, which adds up a SKU key over every merchant: the factory's codes for each
    key ("A / B" in the rare case two merchants' same key got different codes)."""
    found: dict[str, set[str]] = {}
    for chunk in chunks(sorted(set(sku_keys))):
        rows = db.session.execute(
            select(SupplierSkuCode.sku_key, SupplierSkuCode.supplier_code).where(
                SupplierSkuCode.supplier_id == supplier_id,
                SupplierSkuCode.sku_key.in_(chunk),
                SupplierSkuCode.supplier_code != "",
            )
        )
        for sku_key, code in rows:
            found.setdefault(sku_key, set()).add(code)
    return {key: " / ".join(sorted(codes)) for key, codes in found.items()}


# --- files -------------------------------------------------------------------------------------


def export_rows(supplier: Supplier) -> Iterator[list[str]]:
    """The header, then every SKU of the price list with the factory's code ("" when none)."""
    yield list(EXPORT_HEADER)
    query = prices.price_rows(supplier).execution_options(yield_per=1000)
    for row in db.session.execute(query):
        yield [
            row.merchant_shop_id or "",
            row.merchant_name,
            row.goods_name,
            row.spec,
            row.sku_key,
            row.supplier_code,
            row.location,
        ]


def open_code_file(stream: BinaryIO, filename: str) -> Iterator[CodeItem | CodeRefusal]:
    """Check the file and its header now (ImportFileError), then stream one item per row."""
    rows, keys = open_columns(stream, filename, IMPORT_COLUMNS, max_rows=MAX_ITEMS)
    return _code_file_rows(rows, keys)


def _code_file_rows(
    rows: Iterator[tuple[int, dict[str, str]]], keys: Mapping[str, str | None]
) -> Iterator[CodeItem | CodeRefusal]:
    try:
        for row_no, cells in rows:
            values = {name: cells.get(key, "") if key else "" for name, key in keys.items()}
            shop_id = values[prices.SHOP_ID].strip()
            if not shop_id:
                yield CodeRefusal(
                    "", values[prices.SKU_KEY][:64], "field_required", _("商家店铺ID为空"), row_no
                )
                continue
            location = values[LOCATION] if keys.get(LOCATION) else None  # no column: kept
            yield CodeItem(shop_id, values[prices.SKU_KEY], values[SUPPLIER_CODE], row_no, location)
    except TableError as exc:
        raise ImportFileError(exc.code, exc.message) from exc
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


def import_codes(supplier: Supplier, rows: Iterable[CodeItem | CodeRefusal]) -> CodeResult:
    """A whole file: the reader's refusals and the service's, by row number; good rows go in."""
    items: list[CodeItem] = []
    reader_refusals: list[CodeRefusal] = []
    for row in rows:
        (reader_refusals if isinstance(row, CodeRefusal) else items).append(row)
    result = set_supplier_codes(supplier, items)
    result.refused.extend(reader_refusals)
    result.refused.sort(key=lambda r: (r.row or 0, r.index or 0))
    return result

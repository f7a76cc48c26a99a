"""Statements: the CSV and XLSX files, written from the stored lines."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import IO

from flask_babel import gettext as _
from sqlalchemy import delete, select

from portal.domain.couriers import find_courier
from portal.domain.formatting import SHANGHAI
from portal.domain.spreadsheets import csv_chunks, spooled, write_xlsx
from portal.domain.statements.queries import iter_lines
from portal.domain.statements.review import statement_adjustments
from portal.extensions import db
from portal.models import (
    Statement,
    StatementFile,
    SupplierSkuCode,
)


def statement_header() -> list[str]:
    return [
        _("订单号"),
        _("商品"),
        _("规格"),
        _("SKU"),
        _("数量"),
        _("结算单价(元)"),
        _("金额(元)"),
        _("快递公司"),
        _("运单号"),
        _("回传时间"),
        _("备注"),
        # Last, so the columns ERPs and spreadsheets already read by position stay put.
        _("厂家编码"),
        # The order's amount over all its lines, beside each line (DESIGN §10.2).
        _("订单合计(元)"),
    ]


def money(fen: int | None) -> Decimal | None:
    """Fen as yuan with two decimals: a number in the XLSX, "12.50" in the CSV."""
    return None if fen is None else Decimal(fen).scaleb(-2)


def statement_rows(statement: Statement) -> Iterator[list[object]]:
    """The statement as rows of cells: header, one row per line, the adjustments, the totals.

    Quantities are ints, money a Decimal of yuan (never a float), empty cells "", so the CSV
    and the XLSX agree cell for cell and a SUM over 金额 gives the amount due: lines already
    in another statement and lines without a price have no amount.
    """
    yield statement_header()
    missing = _("缺少结算价")
    couriers: dict[str, str] = {}  # code → name, looked up once per statement
    codes = supplier_codes(statement)
    for line in iter_lines(statement):
        courier = couriers.get(line.courier)
        if courier is None:
            courier = couriers[line.courier] = courier_name(line.courier)
        note, amount = "", line.amount_fen
        if line.already_in_statement_id is not None:
            note = _("已在对账单 #%(id)d，不计入合计", id=line.already_in_statement_id)
            amount = None
        elif line.unit_price_fen is None:
            note = missing
        yield [
            line.order_no,
            line.goods_name,
            line.spec,
            line.sku_key,
            line.quantity,
            _cell(money(line.unit_price_fen)),
            _cell(money(amount)),
            courier,
            line.tracking_nos,
            line.returned_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            note,
            codes.get(line.sku_key, ""),
            _cell(money(line.order_amount_fen if line.already_in_statement_id is None else None)),
        ]
    for adjustment in statement_adjustments(statement):
        yield [
            _("调整"),
            adjustment.reason,
            "",
            "",
            "",
            "",
            money(adjustment.amount_fen),
            "",
            "",
            adjustment.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            _("商家调整"),
            "",
            "",
        ]
    notes = []
    if statement.missing_price_count:
        notes.append(_("%(n)d 行缺少结算价，未计入合计", n=statement.missing_price_count))
    if statement.already_billed_count:
        notes.append(_("%(n)d 行已在其他对账单中，未计入合计", n=statement.already_billed_count))
    yield [
        _("合计"),
        _("%(n)d 行", n=statement.line_count),
        "",
        "",
        statement.quantity_total,
        "",
        money(statement.total_fen),
        "",
        "",
        "",
        "；".join(notes),
        "",
        "",
    ]


def supplier_codes(statement: Statement) -> dict[str, str]:
    """The factory's own codes (厂家编码, portal.domain.sku_codes) for the pair's SKUs, by SKU key:
    shown beside the merchant's code on the statement, as they are when it is read."""
    return dict(
        db.session.execute(
            select(SupplierSkuCode.sku_key, SupplierSkuCode.supplier_code).where(
                SupplierSkuCode.supplier_id == statement.supplier_id,
                SupplierSkuCode.merchant_id == statement.merchant_id,
            )
        ).all()
    )


def _cell(value: object | None) -> object:
    return "" if value is None else value


def courier_name(code: str) -> str:
    found = find_courier(code) if code else None
    return found.name if found else code


def statement_filename(statement: Statement, extension: str) -> str:
    return (
        f"statement-{statement.id}-{statement.period_start:%Y%m%d}-"
        f"{statement.period_end:%Y%m%d}.{extension}"
    )


def statement_csv(statement: Statement) -> Iterator[str]:
    """CSV chunks (portal.domain.spreadsheets), about 1 000 rows per chunk."""
    return csv_chunks(statement_rows(statement))


def statement_xlsx(statement: Statement, target: IO[bytes]) -> None:
    """The XLSX (portal.domain.spreadsheets): amounts are numbers shown with two decimals."""
    write_xlsx(target, _("对账单"), statement_rows(statement))


def store_statement_xlsx(statement: Statement) -> int:
    """Write the statement's XLSX once and store it with the statement; its size in bytes."""
    with spooled(lambda target: statement_xlsx(statement, target)) as spool:
        content = spool.read()
    db.session.execute(
        delete(StatementFile).where(
            StatementFile.statement_id == statement.id, StatementFile.file_format == "xlsx"
        )
    )
    db.session.add(
        StatementFile(
            statement_id=statement.id, file_format="xlsx", content=content, size=len(content)
        )
    )
    db.session.flush()
    return len(content)


def stored_file(statement: Statement, file_format: str) -> bytes | None:
    """The stored file of a built statement, or None (none stored: write it from the lines)."""
    return db.session.scalar(
        select(StatementFile.content).where(
            StatementFile.statement_id == statement.id, StatementFile.file_format == file_format
        )
    )

"""Statements API (对账单): the merchant requests and settles, the supplier confirms or disputes,
both read and download. Same services as the web pages, same scoped loader and files."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Response, g, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import statements
from portal.api import merchant as merchant_api
from portal.api import supplier as supplier_api
from portal.api.base import api_user, json_body, list_answer, string_field
from portal.api.common import bp
from portal.api.serializers import iso, shop_ref
from portal.authz import current_merchant, current_supplier
from portal.bindings import find_supplier_by_shop_id, normalize_shop_id
from portal.errors import DomainError
from portal.extensions import db
from portal.formatting import yuan
from portal.merchant.statements_views import download_response, statement_for
from portal.models import Merchant, Statement, Supplier, User
from portal.models.settlement import (
    REVIEW_CONFIRMED,
    REVIEW_DISPUTED,
    REVIEW_PENDING,
    REVIEW_SETTLED,
    STATEMENT_READY,
    STATEMENT_STATUSES,
)

REVIEW_STATUSES = (REVIEW_PENDING, REVIEW_CONFIRMED, REVIEW_DISPUTED, REVIEW_SETTLED)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FILE_FORMATS = ("csv", "xlsx")


def statement_answer(statement: Statement) -> dict[str, Any]:
    """A statement as JSON; totals are null until it is built (status ready)."""
    ready = statement.status == STATEMENT_READY

    def built(value: Any) -> Any:
        return value if ready else None

    return {
        "id": statement.id,
        "status": statement.status,
        "period": {
            "start": statement.period_start.isoformat(),
            "end": statement.period_end.isoformat(),
        },
        "merchant": shop_ref(statement.merchant),
        "supplier": shop_ref(statement.supplier),
        "line_count": built(statement.line_count),
        # Yuan as a string with two decimals and no separators, never a float.
        "total_amount": built(yuan(statement.total_fen).replace(",", "")),
        "total_fen": built(statement.total_fen),
        "quantity_total": built(statement.quantity_total),
        "missing_price_count": built(statement.missing_price_count),
        # Lines whose order is already in a confirmed or settled statement (not in the total).
        "already_in_statement_count": built(statement.already_billed_count),
        "adjustment_amount": built(yuan(statement.adjustment_fen).replace(",", "")),
        "review_status": statement.review_status,
        "dispute_reason": statement.dispute_reason,
        "requested_at": iso(statement.requested_at),
        "finished_at": iso(statement.finished_at),
        "reviewed_at": iso(statement.reviewed_at),
        "settled_at": iso(statement.settled_at),
        "error": statement.error,
        "downloads": (
            {
                kind: url_for("api.statement_download", statement_id=statement.id, format=kind)
                for kind in FILE_FORMATS
            }
            if ready
            else None
        ),
    }


def _date_field(body: dict[str, Any], name: str) -> date:
    text = string_field(body, name).strip()
    try:
        if ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    message = _("字段 %(name)s 必须是 YYYY-MM-DD 格式的日期", name=name)
    raise DomainError("validation_error", message, field=name)


def _choice_arg(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name, "").strip()
    if value and value not in allowed:
        message = _("%(name)s 必须是 %(values)s 之一", name=name, values="、".join(allowed))
        raise DomainError("validation_error", message, field=name)
    return value


# --- both roles ------------------------------------------------------------------------------


@bp.get("/statements")
def statement_list() -> Response:
    """Newest first; filter by status, review status and the other party's shop ID."""
    profile = g.profile
    if isinstance(profile, Merchant):
        query = statements.statements_query_for_merchant(profile)
        party, column, argument = Supplier, Statement.supplier_id, "supplier_shop_id"
    else:
        query = statements.statements_query_for_supplier(profile)
        party, column, argument = Merchant, Statement.merchant_id, "merchant_shop_id"
    status = _choice_arg("status", STATEMENT_STATUSES)
    if status:
        query = query.where(Statement.status == status)
    review_status = _choice_arg("review_status", REVIEW_STATUSES)
    if review_status:
        query = query.where(Statement.review_status == review_status)
    shop_id = normalize_shop_id(request.args.get(argument)).replace("\x00", "")
    if shop_id:  # an unknown shop ID simply matches nothing
        query = query.where(
            column.in_(
                select(party.id).join(User, User.id == party.user_id).where(User.shop_id == shop_id)
            )
        )
    query = query.options(
        joinedload(Statement.merchant).joinedload(Merchant.user),
        joinedload(Statement.supplier).joinedload(Supplier.user),
    )
    return list_answer(query, statement_answer)


@bp.get("/statements/<int:statement_id>")
def statement_detail(statement_id: int) -> Response:
    return jsonify(statement_answer(statement_for(g.profile, statement_id)))


@bp.get("/statements/<int:statement_id>/download")
def statement_download(statement_id: int) -> Response:
    statement = statement_for(g.profile, statement_id)
    return download_response(statement, request.args.get("format", "csv"))


# --- merchant --------------------------------------------------------------------------------


@merchant_api.bp.post("/statements")
def statement_create() -> tuple[Response, int, dict[str, str]]:
    merchant = current_merchant()
    body = json_body()
    supplier = find_supplier_by_shop_id(string_field(body, "supplier_shop_id"))
    start, end = _date_field(body, "start"), _date_field(body, "end")
    # Unknown, not a supplier, or never bound: one answer, so shop IDs cannot be probed.
    not_bound = DomainError("invalid_shop_id", field="supplier_shop_id")
    if supplier is None:
        raise not_bound
    try:
        statement = statements.request_statement(merchant, supplier.id, start, end, api_user())
    except DomainError as error:
        if error.code == "not_bound":
            raise not_bound from None
        raise
    statement_id = statement.id
    db.session.commit()
    statements.queue_build(statement_id)
    location = url_for("api.statement_detail", statement_id=statement_id)
    return jsonify(statement_answer(statement)), 202, {"Location": location}


@merchant_api.bp.post("/statements/<int:statement_id>/retry")
def statement_retry(statement_id: int) -> tuple[Response, int]:
    merchant = current_merchant()
    statement = statement_for(merchant, statement_id)
    statements.retry_statement(merchant, statement, api_user())
    db.session.commit()
    statements.queue_build(statement_id)
    return jsonify(statement_answer(statement)), 202


@merchant_api.bp.post("/statements/<int:statement_id>/settle")
def statement_settle(statement_id: int) -> Response:
    merchant = current_merchant()
    statement = statement_for(merchant, statement_id)
    statements.settle_statement(merchant, statement, api_user())
    db.session.commit()
    return jsonify(statement_answer(statement))


# --- supplier --------------------------------------------------------------------------------


@supplier_api.bp.post("/statements/<int:statement_id>/confirm")
def statement_confirm(statement_id: int) -> Response:
    supplier = current_supplier()
    statement = statement_for(supplier, statement_id)
    statements.confirm_statement(supplier, statement, api_user())
    db.session.commit()
    return jsonify(statement_answer(statement))


@supplier_api.bp.post("/statements/<int:statement_id>/dispute")
def statement_dispute(statement_id: int) -> Response:
    supplier = current_supplier()
    statement = statement_for(supplier, statement_id)
    reason = string_field(json_body(), "reason", required=False)
    statements.dispute_statement(supplier, statement, reason, api_user())
    db.session.commit()
    return jsonify(statement_answer(statement))

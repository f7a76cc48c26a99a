"""Statements API (对账单): the merchant requests, answers a dispute, adjusts, regenerates and
settles, the supplier confirms or disputes, both read and download. Same services as the web
pages, same scoped loader and files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, g, jsonify, request, url_for

from portal.api import schemas
from portal.api.base import api_user, endpoint, list_answer
from portal.api.blueprints import bp
from portal.api.blueprints import merchant_bp as merchant_api
from portal.api.blueprints import supplier_bp as supplier_api
from portal.api.serializers import iso, shop_ref
from portal.domain.authz import get_or_404
from portal.domain.bindings import find_supplier_by_shop_id, normalize_shop_id
from portal.domain.errors import DomainError
from portal.domain.formatting import signed_yuan, yuan
from portal.domain.statements import queries as statement_queries
from portal.domain.statements import requesting as statement_requesting
from portal.domain.statements import review as statement_review
from portal.extensions import db
from portal.models import Merchant, Statement, User
from portal.models.settlement import (
    STATEMENT_MIN_INTERVAL_MINUTES,
    STATEMENT_READY,
    STATEMENT_SLOTS_PER_DAY,
)
from portal.web.downloads import FILE_TYPES, statement_download_response
from portal.web.gate import current_merchant, current_supplier
from portal.web.statements import event_lines

NOT_FOUND = {404: "不存在或不属于当前账号"}
CLOSED = {409: "statement_not_ready / statement_review_closed：对账单当前状态不允许此操作"}


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
                for kind in FILE_TYPES
            }
            if ready
            else None
        ),
    }


# --- both roles ------------------------------------------------------------------------------


@bp.get("/statements")
@endpoint(schemas.StatementPage)
def statement_list(query: schemas.StatementQuery) -> Response:
    """对账单列表（新的在前）：按状态、审核状态和对方店铺ID筛选"""
    profile = g.profile
    status, review_status = query.status, query.review_status
    if isinstance(profile, Merchant):
        found = statement_queries.statements_query_for_merchant(
            profile,
            supplier_shop_id=normalize_shop_id(query.supplier_shop_id),
            status=status,
            review_status=review_status,
        )
    else:
        found = statement_queries.statements_query_for_supplier(
            profile,
            merchant_shop_id=normalize_shop_id(query.merchant_shop_id),
            status=status,
            review_status=review_status,
        )
    return list_answer(found, statement_answer, query)


@bp.get("/statements/<int:statement_id>")
@endpoint(schemas.StatementDetail, errors=NOT_FOUND)
def statement_detail(statement_id: int) -> Response:
    """对账单详情（含商家调整行与双方的对账记录）"""
    statement = get_or_404(Statement, g.profile, id=statement_id)
    return jsonify(
        {
            **statement_answer(statement),
            "adjustments": [
                {
                    "amount": signed_yuan(item.amount_fen).replace(",", ""),
                    "amount_fen": item.amount_fen,
                    "reason": item.reason,
                    "created_at": iso(item.created_at),
                }
                for item in statement_review.statement_adjustments(statement)
            ],
            # The timeline both statement pages show, with the same names.
            "history": [
                {
                    "kind": line.kind,
                    "actor": line.actor,
                    "note": line.note,
                    "created_at": iso(line.created_at),
                }
                for line in event_lines(statement)
            ],
        }
    )


@bp.get("/statements/<int:statement_id>/download")
@endpoint(files=FILE_TYPES, errors={**NOT_FOUND, 409: "statement_not_ready：还没有生成完成"})
def statement_download(statement_id: int, query: schemas.DownloadQuery) -> Response:
    """下载对账单（CSV 或 XLSX）"""
    statement = get_or_404(Statement, g.profile, id=statement_id)
    return statement_download_response(statement, query.format)


# --- merchant --------------------------------------------------------------------------------

RATE_LIMITED = (
    f"statement_rate_limited：同一商家与厂家之间每天（北京时间）最多 "
    f"{STATEMENT_SLOTS_PER_DAY} 份对账单，两次之间至少间隔 "
    f"{STATEMENT_MIN_INTERVAL_MINUTES} 分钟；error.retry_after 与 Retry-After 头给出秒数"
)


@merchant_api.post("/statements")
@endpoint(
    schemas.Statement,
    status=202,
    errors={422: "invalid_shop_id、invalid_period 或 validation_error", 429: RATE_LIMITED},
)
def statement_create(json: schemas.StatementInput) -> tuple[Response, int, dict[str, str]]:
    """生成对账单（排队，完成后 status=ready）"""
    merchant = current_merchant()
    supplier = find_supplier_by_shop_id(json.supplier_shop_id)
    start, end = json.start, json.end
    # Unknown, not a supplier, or never bound: one answer, so shop IDs cannot be probed.
    not_bound = DomainError("invalid_shop_id", field="supplier_shop_id")
    if supplier is None:
        raise not_bound
    try:
        statement = statement_requesting.request_statement(
            merchant, supplier.id, start, end, api_user()
        )
    except DomainError as error:
        if error.code == "not_bound":
            raise not_bound from None
        raise
    statement_id = statement.id
    db.session.commit()
    statement_requesting.queue_build(statement_id)
    location = url_for("api.statement_detail", statement_id=statement_id)
    return jsonify(statement_answer(statement)), 202, {"Location": location}


@merchant_api.post("/statements/<int:statement_id>/retry")
@endpoint(
    schemas.Statement,
    status=202,
    errors={
        **NOT_FOUND,
        409: "statement_not_failed：只有生成失败的对账单可以重试",
        429: RATE_LIMITED,
    },
)
def statement_retry(statement_id: int) -> tuple[Response, int]:
    """重新生成失败的对账单"""
    return _built_again(statement_id, statement_requesting.retry_statement)


@merchant_api.post("/statements/<int:statement_id>/settle")
@endpoint(
    schemas.Statement,
    errors={
        **NOT_FOUND,
        409: "statement_not_confirmed：厂家还没有确认；statement_not_ready；"
        "statement_review_closed：已结算",
    },
)
def statement_settle(statement_id: int) -> Response:
    """商家标记已结算（厂家确认之后）"""
    merchant = current_merchant()
    statement = get_or_404(Statement, merchant, id=statement_id)
    statement_review.settle_statement(merchant, statement, api_user())
    db.session.commit()
    return jsonify(statement_answer(statement))


def _own_statement() -> None:
    """Another merchant's statement is 404 whatever the body says (endpoint's guard); the view
    takes the statement it loaded (`_guarded_statement`)."""
    g.own_statement = get_or_404(
        Statement, current_merchant(), id=request.view_args["statement_id"]
    )


def _guarded_statement() -> Statement:
    statement: Statement = g.own_statement
    return statement


@merchant_api.post("/statements/<int:statement_id>/answer", endpoint="statement_answer")
@endpoint(
    schemas.Statement,
    errors={**NOT_FOUND, **CLOSED, 422: "answer_required：请填写回复内容"},
    guard=_own_statement,
)
def statement_answer_dispute(statement_id: int, json: schemas.AnswerInput) -> Response:
    """商家回复厂家的异议（对账单回到待厂家确认）"""
    merchant = current_merchant()
    statement = _guarded_statement()
    statement_review.answer_dispute(merchant, statement, json.note, api_user())
    db.session.commit()
    return jsonify(statement_answer(statement))


@merchant_api.post("/statements/<int:statement_id>/adjustments")
@endpoint(
    schemas.Statement,
    errors={
        **NOT_FOUND,
        **CLOSED,
        422: "invalid_adjustment：调整金额须是不为 0、最多两位小数的元（error.field=amount）；"
        "adjustment_reason_required：请填写调整原因",
    },
    guard=_own_statement,
)
def statement_adjust(statement_id: int, json: schemas.AdjustmentInput) -> Response:
    """商家添加调整行（带原因，计入应付合计；厂家确认之前，之后厂家再次确认）"""
    merchant = current_merchant()
    statement = _guarded_statement()
    statement_review.add_adjustment(
        merchant,
        statement,
        statement_review.parse_adjustment(json.amount),
        json.reason,
        api_user(),
    )
    db.session.commit()
    return jsonify(statement_answer(statement))


@merchant_api.post("/statements/<int:statement_id>/regenerate")
@endpoint(schemas.Statement, status=202, errors={**NOT_FOUND, **CLOSED, 429: RATE_LIMITED})
def statement_regenerate(statement_id: int) -> tuple[Response, int]:
    """重新生成对账单（厂家确认之前，如补齐结算价后；与生成同一限制，之后厂家再次确认）"""
    return _built_again(statement_id, statement_requesting.regenerate_statement)


def _built_again(
    statement_id: int, request_build: Callable[[Merchant, Statement, User], object]
) -> tuple[Response, int]:
    """Retry or regenerate: the service takes the statement back to the queue (under the
    daily limits), then the worker builds it; 202 with the statement as queued."""
    merchant = current_merchant()
    statement = get_or_404(Statement, merchant, id=statement_id)
    request_build(merchant, statement, api_user())
    db.session.commit()
    statement_requesting.queue_build(statement_id)
    return jsonify(statement_answer(statement)), 202


# --- supplier --------------------------------------------------------------------------------


@supplier_api.post("/statements/<int:statement_id>/confirm")
@endpoint(
    schemas.Statement,
    errors={
        **NOT_FOUND,
        409: "statement_not_ready；statement_review_closed；statement_overlaps：其中有订单已计入"
        "另一份已确认的对账单（error.statement_id），商家重新生成后再确认",
    },
)
def statement_confirm(statement_id: int) -> Response:
    """厂家确认对账单（待确认或有异议时）"""
    supplier = current_supplier()
    statement = get_or_404(Statement, supplier, id=statement_id)
    statement_review.confirm_statement(supplier, statement, api_user())
    db.session.commit()
    return jsonify(statement_answer(statement))


@supplier_api.post("/statements/<int:statement_id>/dispute")
@endpoint(
    schemas.Statement,
    errors={**NOT_FOUND, **CLOSED, 422: "dispute_reason_required：请填写有异议的原因"},
)
def statement_dispute(statement_id: int, json: schemas.DisputeInput) -> Response:
    """厂家对对账单提出异议（确认之前，需写明原因）"""
    supplier = current_supplier()
    statement = get_or_404(Statement, supplier, id=statement_id)
    statement_review.dispute_statement(supplier, statement, json.reason, api_user())
    db.session.commit()
    return jsonify(statement_answer(statement))

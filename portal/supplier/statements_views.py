"""Supplier statements (对账单): what merchants requested, download, confirm or dispute."""

from __future__ import annotations

from flask import Response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from portal.domain.authz import get_or_404
from portal.domain.statements import queries as statement_queries
from portal.domain.statements import requesting as statement_requesting
from portal.domain.statements import review as statement_review
from portal.extensions import db
from portal.models import Statement
from portal.supplier.views import bp
from portal.web.args import id_arg
from portal.web.downloads import statement_download_response
from portal.web.forms import REQUIRED
from portal.web.gate import current_supplier
from portal.web.htmx import render
from portal.web.statements import (
    DETAIL_TARGET,
    action_answer,
    detail_context,
    form_action,
    list_context,
)

LIST_PARTIALS = {"statement-list": "supplier/_statement_list.html"}
DETAIL_PARTIALS = {
    DETAIL_TARGET: "supplier/_statement_detail.html",
    "statement-lines": "supplier/_statement_lines.html",
}


class DisputeForm(FlaskForm):
    reason = TextAreaField(
        _l("异议原因"),
        validators=[REQUIRED, Length(max=statement_requesting.MAX_DISPUTE_REASON)],
    )


@bp.get("/statements")
def statement_list() -> Response:
    supplier = current_supplier()
    merchant_id = id_arg(request.args.get("merchant_id"))
    query = statement_queries.statements_query_for_supplier(supplier, merchant_id)
    params = {"merchant_id": merchant_id} if merchant_id else {}
    return render(
        "supplier/statements.html",
        LIST_PARTIALS,
        merchants=statement_queries.statement_merchants(supplier),
        merchant_id=merchant_id,
        **list_context(query, "supplier.statement_list", params),
    )


def _render_detail(
    statement: Statement, form: DisputeForm | None = None, status: int = 200
) -> Response:
    return render(
        "supplier/statement.html",
        DETAIL_PARTIALS,
        status=status,
        dispute_form=form or DisputeForm(formdata=None),
        **detail_context(statement, "supplier.statement_detail"),
    )


@bp.get("/statements/<int:statement_id>")
def statement_detail(statement_id: int) -> Response:
    return _render_detail(get_or_404(Statement, current_supplier(), id=statement_id))


@bp.get("/statements/<int:statement_id>/download")
def statement_download(statement_id: int) -> Response:
    statement = get_or_404(Statement, current_supplier(), id=statement_id)
    return statement_download_response(statement, request.args.get("format", "csv"))


@bp.post("/statements/<int:statement_id>/confirm")
def statement_confirm(statement_id: int) -> Response:
    supplier = current_supplier()
    statement = get_or_404(Statement, supplier, id=statement_id)
    statement_review.confirm_statement(supplier, statement, current_user._get_current_object())
    db.session.commit()
    return action_answer(
        statement,
        _("已确认对账单 #%(id)d", id=statement_id),
        _render_detail,
        "supplier.statement_detail",
    )


@bp.post("/statements/<int:statement_id>/dispute")
def statement_dispute(statement_id: int) -> Response:
    supplier = current_supplier()
    statement = get_or_404(Statement, supplier, id=statement_id)
    form = DisputeForm()
    return form_action(
        form,
        statement,
        lambda: statement_review.dispute_statement(
            supplier, statement, form.reason.data, current_user._get_current_object()
        ),
        _("已对对账单 #%(id)d 提出异议，商家会看到原因", id=statement_id),
        lambda: _render_detail(statement, form, status=422),
        _render_detail,
        "supplier.statement_detail",
    )

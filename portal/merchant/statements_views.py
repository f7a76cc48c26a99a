"""Merchant statements (对账单): request one, watch it build, download, retry, answer a
dispute, adjust, regenerate, mark settled (the pieces both roles' pages share: web.statements)."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError
from portal.domain.statements import clock as statement_clock
from portal.domain.statements import queries as statement_queries
from portal.domain.statements import requesting as statement_requesting
from portal.domain.statements import review as statement_review
from portal.extensions import db, htmx
from portal.merchant.views import bp
from portal.models import Merchant, Statement, Supplier
from portal.web.args import id_arg
from portal.web.downloads import statement_download_response
from portal.web.forms import REQUIRED, attach_error
from portal.web.gate import current_merchant
from portal.web.htmx import finish, notify, render, with_trigger
from portal.web.statements import (
    DETAIL_TARGET,
    STATEMENTS_CHANGED,
    action_answer,
    detail_context,
    form_action,
    list_context,
)

# The request form proposes the last 7 days (Asia/Shanghai), today included.
DEFAULT_PERIOD_DAYS = 7

LIST_PARTIALS = {
    "statement-form": "merchant/_statement_form.html",
    "statement-list": "merchant/_statement_list.html",
}
DETAIL_PARTIALS = {
    DETAIL_TARGET: "merchant/_statement_detail.html",
    "statement-lines": "merchant/_statement_lines.html",
}


class StatementRequestForm(FlaskForm):
    supplier = SelectField(
        _l("厂家"), coerce=int, validators=[InputRequired(message=_l("请选择厂家"))]
    )
    start = DateField(_l("开始日期"), validators=[InputRequired(message=_l("请选择开始日期"))])
    end = DateField(_l("结束日期"), validators=[InputRequired(message=_l("请选择结束日期"))])


class AnswerForm(FlaskForm):
    """The merchant's reply to a dispute."""

    note = TextAreaField(
        _l("回复厂家"), validators=[REQUIRED, Length(max=statement_requesting.MAX_DISPUTE_REASON)]
    )


class AdjustmentForm(FlaskForm):
    """A correction line: a signed amount in yuan and why."""

    amount = StringField(_l("调整金额(元)"), validators=[REQUIRED, Length(max=20)])
    reason = StringField(
        _l("调整原因"), validators=[REQUIRED, Length(max=statement_review.MAX_ADJUSTMENT_REASON)]
    )


def _request_form(
    suppliers: list[Supplier], *, blank: bool = False, supplier_id: int | None = None
) -> StatementRequestForm:
    if blank:
        today = statement_clock.shanghai_day(statement_clock.now_utc())
        form = StatementRequestForm(
            formdata=None,
            supplier=supplier_id,
            start=today - timedelta(days=DEFAULT_PERIOD_DAYS - 1),
            end=today,
        )
    else:
        form = StatementRequestForm()
    form.supplier.choices = [(s.id, f"{s.factory_name}（{s.shop_id}）") for s in suppliers]
    return form


def _render_list(
    merchant: Merchant,
    suppliers: list[Supplier],
    form: StatementRequestForm | None = None,
    status: int = 200,
) -> Response:
    supplier_id = id_arg(request.args.get("supplier_id"))
    query = statement_queries.statements_query_for_merchant(merchant, supplier_id)
    params = {"supplier_id": supplier_id} if supplier_id else {}
    return render(
        "merchant/statements.html",
        LIST_PARTIALS,
        status=status,
        form=form or _request_form(suppliers, blank=True, supplier_id=supplier_id),
        suppliers=suppliers,
        supplier_id=supplier_id,
        **list_context(query, "merchant.statement_list", params),
    )


@bp.get("/statements")
def statement_list() -> Response:
    merchant = current_merchant()
    return _render_list(merchant, statement_requesting.statement_suppliers(merchant))


@bp.post("/statements")
def statement_create() -> Response:
    merchant = current_merchant()
    suppliers = statement_requesting.statement_suppliers(merchant)
    form = _request_form(suppliers)
    if form.validate_on_submit():
        try:
            statement = statement_requesting.request_statement(
                merchant,
                form.supplier.data,
                form.start.data,
                form.end.data,
                current_user._get_current_object(),
            )
        except DomainError as error:
            # The pair lock (and, on SQLite, the write transaction) goes with the refusal.
            db.session.rollback()
            attach_error(form, error)
        else:
            statement_id = statement.id
            db.session.commit()
            statement_requesting.queue_build(statement_id)
            notify(_("已提交，对账单 #%(id)d 正在排队生成", id=statement_id))
            if not htmx:
                return finish(redirect(url_for("merchant.statement_list"), 303))
            form = _request_form(suppliers, blank=True, supplier_id=form.supplier.data)
            response = _render_list(merchant, suppliers, form)
            return with_trigger(response, STATEMENTS_CHANGED)
    return _render_list(merchant, suppliers, form, status=422)


def _render_detail(
    statement: Statement,
    status: int = 200,
    answer_form: AnswerForm | None = None,
    adjustment_form: AdjustmentForm | None = None,
) -> Response:
    return render(
        "merchant/statement.html",
        DETAIL_PARTIALS,
        status=status,
        answer_form=answer_form or AnswerForm(formdata=None),
        adjustment_form=adjustment_form or AdjustmentForm(formdata=None),
        **detail_context(statement, "merchant.statement_detail"),
    )


@bp.get("/statements/<int:statement_id>")
def statement_detail(statement_id: int) -> Response:
    return _render_detail(get_or_404(Statement, current_merchant(), id=statement_id))


@bp.get("/statements/<int:statement_id>/download")
def statement_download(statement_id: int) -> Response:
    statement = get_or_404(Statement, current_merchant(), id=statement_id)
    return statement_download_response(statement, request.args.get("format", "csv"))


@bp.post("/statements/<int:statement_id>/retry")
def statement_retry(statement_id: int) -> Response:
    merchant = current_merchant()
    statement = get_or_404(Statement, merchant, id=statement_id)
    statement_requesting.retry_statement(merchant, statement, current_user._get_current_object())
    db.session.commit()
    statement_requesting.queue_build(statement_id)
    return action_answer(
        statement,
        _("对账单 #%(id)d 已重新排队生成", id=statement_id),
        _render_detail,
        "merchant.statement_detail",
    )


@bp.post("/statements/<int:statement_id>/settle")
def statement_settle(statement_id: int) -> Response:
    merchant = current_merchant()
    statement = get_or_404(Statement, merchant, id=statement_id)
    statement_review.settle_statement(merchant, statement, current_user._get_current_object())
    db.session.commit()
    return action_answer(
        statement,
        _("对账单 #%(id)d 已标记为已结算", id=statement_id),
        _render_detail,
        "merchant.statement_detail",
    )


@bp.post("/statements/<int:statement_id>/regenerate")
def statement_regenerate(statement_id: int) -> Response:
    merchant = current_merchant()
    statement = get_or_404(Statement, merchant, id=statement_id)
    statement_requesting.regenerate_statement(
        merchant, statement, current_user._get_current_object()
    )
    db.session.commit()
    statement_requesting.queue_build(statement_id)
    return action_answer(
        statement,
        _("对账单 #%(id)d 已重新排队生成，生成后请厂家再次确认", id=statement_id),
        _render_detail,
        "merchant.statement_detail",
    )


@bp.post("/statements/<int:statement_id>/answer")
def statement_answer(statement_id: int) -> Response:
    merchant = current_merchant()
    statement = get_or_404(Statement, merchant, id=statement_id)
    form = AnswerForm()
    return form_action(
        form,
        statement,
        lambda: statement_review.answer_dispute(
            merchant, statement, form.note.data, current_user._get_current_object()
        ),
        _("已回复厂家，对账单 #%(id)d 等待厂家再次确认", id=statement_id),
        lambda: _render_detail(statement, 422, answer_form=form),
        _render_detail,
        "merchant.statement_detail",
    )


@bp.post("/statements/<int:statement_id>/adjustments")
def statement_adjust(statement_id: int) -> Response:
    merchant = current_merchant()
    statement = get_or_404(Statement, merchant, id=statement_id)
    form = AdjustmentForm()
    return form_action(
        form,
        statement,
        lambda: statement_review.add_adjustment(
            merchant,
            statement,
            statement_review.parse_adjustment(form.amount.data),
            form.reason.data,
            current_user._get_current_object(),
        ),
        _("已添加调整，对账单 #%(id)d 等待厂家再次确认", id=statement_id),
        lambda: _render_detail(statement, 422, adjustment_form=form),
        _render_detail,
        "merchant.statement_detail",
    )

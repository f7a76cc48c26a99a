"""Merchant settings: the dispatch webhook (接口回调) — URL, signing secret, test event, log.

Every action re-renders the settings page, or for htmx just the webhook section. A form that
is missing its field answers 422 and changes nothing, so a stray empty POST never switches the
webhook off, rotates the secret or sends anything.
"""

from __future__ import annotations

from flask import Response, request
from flask_babel import gettext as _

from portal.domain import webhooks
from portal.domain.errors import DomainError, message_for
from portal.extensions import db
from portal.merchant.views import bp, render_settings
from portal.web.gate import current_merchant
from portal.web.htmx import notify


def _refuse(message: str, status: int = 422, **context: object) -> Response:
    return render_settings(status=status, webhook_error=message, **context)


@bp.post("/settings/webhook")
def webhook_save() -> Response:
    if "webhook_url" not in request.form:
        return _refuse(message_for("field_required"))
    submitted = request.form["webhook_url"]
    merchant = current_merchant()
    try:
        new_secret = webhooks.set_webhook_url(merchant, submitted)
    except DomainError as error:
        return _refuse(error.message, error.status, webhook_url_input=submitted[:400])
    db.session.commit()
    notify(_("回调地址已保存") if merchant.webhook_url else _("接口回调已关闭"))
    return render_settings(new_webhook_secret=new_secret)


@bp.post("/settings/webhook/secret")
def webhook_secret_rotate() -> Response:
    if request.form.get("confirm") != "1":
        return _refuse(message_for("confirmation_required"))
    secret = webhooks.rotate_webhook_secret(current_merchant())
    db.session.commit()
    notify(_("已生成新的签名密钥，请立即复制保存，之后将不再完整显示"))
    return render_settings(new_webhook_secret=secret)


@bp.post("/settings/webhook/ping")
def webhook_ping() -> Response:
    if request.form.get("event") != webhooks.EVENT_PING:
        return _refuse(message_for("validation_error"))
    try:
        webhooks.send_test_event(current_merchant())
    except DomainError as error:
        return _refuse(error.message, error.status)
    db.session.commit()  # the test event is enqueued once this commit is done
    notify(_("测试事件已加入发送队列，结果见下方发送记录"))
    return render_settings()


@bp.post("/settings/webhook/deliveries/<int:delivery_id>/retry")
def webhook_delivery_retry(delivery_id: int) -> Response:
    try:
        webhooks.retry_delivery(current_merchant(), delivery_id)
    except DomainError as error:
        if error.status == 404:
            raise  # another merchant's delivery: answered like an unknown one
        return _refuse(error.message, error.status)
    db.session.commit()
    notify(_("已重新加入发送队列"))
    return render_settings()

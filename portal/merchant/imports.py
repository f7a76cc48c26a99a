"""Merchant order import views (导入订单): upload a platform export, watch it import."""

from __future__ import annotations

from flask import Response, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from portal.domain import import_jobs
from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError
from portal.domain.imports import mappings
from portal.domain.imports.platform_export import MAPPING_FIELDS, PLATFORM_MAPPING
from portal.domain.orders.queries import assignable_count
from portal.domain.statements.clock import now_utc
from portal.extensions import db, htmx
from portal.jobs import worker_missing
from portal.merchant.views import bp
from portal.models import ImportJob
from portal.web.forms import attach_error
from portal.web.gate import current_merchant
from portal.web.htmx import finish, notify, render

IMPORT_STATUS = {
    import_jobs.STATUS_QUEUED: (_l("排队中"), "muted"),
    import_jobs.STATUS_RUNNING: (_l("导入中"), "info"),
    import_jobs.STATUS_DONE: (_l("已完成"), "success"),
    import_jobs.STATUS_FAILED: (_l("导入失败"), "danger"),
}
# Which platform's export a job read (import_jobs.platform).
PLATFORM_NAMES = {"pdd": _l("拼多多"), "douyin": _l("抖店")}
# Refused rows listed in the progress card; all of them are in the CSV download.
SHOWN_REJECTIONS = 100


class ImportForm(FlaskForm):
    file = FileField(
        _l("平台导出文件（CSV 或 XLSX）"),
        validators=[FileRequired(message=_l("请选择要导入的文件"))],
    )


def _job_context(job: ImportJob) -> dict[str, object]:
    active = import_jobs.is_active(job)
    rejections = [] if active else import_jobs.job_rejections(job)
    return {
        "job": job,
        "rejections": rejections[:SHOWN_REJECTIONS],
        "stored_rejections": len(rejections),
        # What to do next: the orders waiting for a factory (this import's and any before).
        "to_assign": 0 if active else assignable_count(current_merchant()),
        # Queued over a minute and no worker alive: say so, and how to start one.
        "worker_missing": job.status == import_jobs.STATUS_QUEUED
        and worker_missing(job.created_at, now_utc()),
    }


def _end_of_import(job: ImportJob) -> tuple[str, str]:
    if job.status == import_jobs.STATUS_FAILED:
        return _("导入失败：%(file)s", file=job.filename), "error"
    summary = _(
        "导入完成：新增 %(created)d，更新 %(updated)d，未变化 %(unchanged)d，未导入 %(rejected)d",
        created=job.created,
        updated=job.updated,
        unchanged=job.unchanged,
        rejected=job.rejected,
    )
    return summary, "warning" if job.rejected else "success"


# A file the portal cannot read: its headers are offered for a saved column mapping.
MAPPABLE_REFUSALS = ("missing_columns", "unsupported_platform")


def _platform_name(platform: str) -> str:
    if platform.startswith(f"{PLATFORM_MAPPING}:"):
        return _("列映射「%(name)s」", name=platform.partition(":")[2])
    return str(PLATFORM_NAMES.get(platform, platform))


def _render_import_page(
    form: ImportForm,
    *,
    status: int = 200,
    new_job: ImportJob | None = None,
    mapping: dict[str, object] | None = None,
) -> Response:
    merchant = current_merchant()
    jobs = import_jobs.recent_import_jobs(merchant)
    # The cards under the form: the upload just made, or every import still in progress.
    shown = [new_job] if new_job is not None else [j for j in jobs if import_jobs.is_active(j)]
    return render(
        "merchant/import.html",
        "merchant/_import_upload.html",
        status=status,
        form=form,
        jobs=jobs,
        job_cards=[_job_context(job) for job in shown],
        refresh_list=new_job is not None,
        IMPORT_STATUS=IMPORT_STATUS,
        platform_name=_platform_name,
        mapping=mapping,
        MAPPING_FIELDS=MAPPING_FIELDS,
    )


def _mapping_form(
    content: bytes, filename: str, chosen: dict[str, str], name: str = "", error: str = ""
) -> dict[str, object] | None:
    """The mapping form for this file: its headers, each with the field chosen for it."""
    try:
        headers = mappings.file_headers(content, filename)
    except DomainError:
        return None
    by_header = {header: field for field, header in chosen.items()}
    return {
        "headers": [(i, h, by_header.get(h, "")) for i, h in enumerate(headers)],
        "name": name,
        "error": error,
    }


def _start(content: bytes, filename: str) -> Response:
    """Create and queue the import of an upload; the page with its progress card."""
    merchant = current_merchant()
    job = import_jobs.start_import(merchant, current_user._get_current_object(), filename, content)
    job_id = job.id
    db.session.commit()
    import_jobs.queue_import(job_id)
    if not htmx:
        return finish(redirect(url_for("merchant.import_status", job_id=job_id), 303))
    # Stays until the job's card reports the end (the same key replaces it).
    notify(_("文件已上传，正在后台导入…"), "info", key=f"import-{job_id}", sticky=True)
    job = get_or_404(import_jobs.jobs_query(), merchant, id=job_id)
    return _render_import_page(ImportForm(formdata=None), new_job=job)


@bp.get("/orders/import")
def import_page() -> Response:
    return _render_import_page(ImportForm(formdata=None))


@bp.post("/orders/import")
def import_create() -> Response:
    form = ImportForm()
    mapping = None
    if form.validate_on_submit():
        upload = form.file.data
        content, filename = upload.read(), upload.filename or ""
        try:
            return _start(content, filename)
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
            if error.code in MAPPABLE_REFUSALS:
                mapping = _mapping_form(content, filename, {})
    return _render_import_page(form, status=422, mapping=mapping)


@bp.post("/orders/import/mapping")
def import_mapping_create() -> Response:
    """列映射: map this file's columns to the order fields, name it, save it and import the
    file with it; later files with the same headers use it by themselves."""
    form = ImportForm()
    if not form.validate_on_submit():
        return _render_import_page(form, status=422)
    upload = form.file.data
    content, filename = upload.read(), upload.filename or ""
    name = request.form.get("mapping_name", "")
    try:
        headers = mappings.file_headers(content, filename)
    except DomainError as error:
        attach_error(form, error)
        return _render_import_page(form, status=422)
    chosen: dict[str, str] = {}
    for index, header in enumerate(headers):
        field = request.form.get(f"field-{index}", "")
        if field:
            chosen.setdefault(field, header)
    try:
        mappings.save_mapping(current_merchant(), name, headers, chosen)
        response = _start(content, filename)
    except DomainError as error:
        db.session.rollback()
        mapping = _mapping_form(content, filename, chosen, name, error.message)
        return _render_import_page(ImportForm(formdata=None), status=422, mapping=mapping)
    notify(_("已保存列映射「%(name)s」：以后表头相同的文件会自动使用它", name=name.strip()))
    return response


@bp.get("/orders/import/<int:job_id>")
def import_status(job_id: int) -> Response:
    """One import's progress: the card polls this URL every second until the job ends."""
    merchant = current_merchant()
    job = get_or_404(import_jobs.jobs_query(), merchant, id=job_id)
    finished = not import_jobs.is_active(job)
    if finished and htmx:  # the card's last poll: the progress toast ends with the import
        notify(*_end_of_import(job), key=f"import-{job.id}")
    return render(
        "merchant/import_job.html",
        "merchant/_import_job.html",
        # When a polled job ends, the recent-imports table on the page is refreshed too.
        list_oob=finished and bool(htmx),
        jobs=import_jobs.recent_import_jobs(merchant) if finished else [],
        IMPORT_STATUS=IMPORT_STATUS,
        platform_name=_platform_name,
        **_job_context(job),
    )


@bp.get("/orders/import/<int:job_id>/rejections.csv")
def import_rejections_csv(job_id: int) -> Response:
    job = get_or_404(import_jobs.jobs_query(), current_merchant(), id=job_id)
    return Response(
        import_jobs.rejections_csv(job),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="import-{job.id}-rejections.csv"',
            "Cache-Control": "no-store",
        },
    )

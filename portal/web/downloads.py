"""File downloads: a CSV streamed as it is written, or an XLSX spooled (memory, then disk)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import IO

from flask import Response, send_file, stream_with_context
from flask_babel import gettext as _

from portal.domain import dispatch_export
from portal.domain.errors import DomainError
from portal.domain.formatting import SHANGHAI
from portal.domain.printing.pick_list import PickList, pick_list_rows, render_pick_list
from portal.domain.spreadsheets import spooled, write_xlsx
from portal.domain.statements import files as statement_files
from portal.extensions import db
from portal.models import Merchant, Statement
from portal.models.settlement import STATEMENT_READY

FILE_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
PDF_TYPE = {"pdf": "application/pdf"}
PICK_LIST_TYPES = {**PDF_TYPE, "xlsx": FILE_TYPES["xlsx"]}


def pdf_response(pdf: bytes, filename: str) -> Response:
    """A PDF shown inline (the browser's viewer, ready to print), never cached: labels may carry
    full receiver data."""
    response = send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=False,
        download_name=filename,
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def pick_list_response(
    pick: PickList, file_format: str, name: str, factory_name: str, now: datetime
) -> Response:
    """拣货单 as a PDF (shown inline, ready to print) or an XLSX attachment, never cached."""
    filename = f"{name}-{now.astimezone(SHANGHAI):%Y%m%d-%H%M}.{file_format}"
    if file_format == "xlsx":
        target = io.BytesIO()
        write_xlsx(target, _("拣货单"), pick_list_rows(pick))
        return stored_file_response(filename, "xlsx", target.getvalue())
    return pdf_response(render_pick_list(pick, factory_name, now), filename)


def stored_file_response(filename: str, file_format: str, content: bytes) -> Response:
    """A file written earlier and stored, as an attachment, never cached."""
    response = send_file(
        io.BytesIO(content),
        mimetype=FILE_TYPES[file_format],
        as_attachment=True,
        download_name=filename,
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def file_response(
    filename: str,
    file_format: str,
    csv_chunks: Callable[[], Iterable[str]],
    write_xlsx: Callable[[IO[bytes]], None],
) -> Response:
    """An attachment, never cached: `csv_chunks()` streams, `write_xlsx(target)` writes."""
    if file_format == "csv":
        response = Response(
            stream_with_context(csv_chunks()),
            mimetype=FILE_TYPES["csv"],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    else:
        response = send_file(
            spooled(write_xlsx),  # send_file closes it once sent
            mimetype=FILE_TYPES["xlsx"],
            as_attachment=True,
            download_name=filename,
            max_age=0,
        )
    response.headers["Cache-Control"] = "no-store"
    return response


def dispatch_export_response(
    merchant: Merchant, file_format: str, since: datetime | None, until: datetime | None
) -> Response:
    """Orders dispatched in [since, until), in the platform's batch-shipping layout (订单号,
    快递公司, 快递单号): a streamed CSV or a spooled XLSX attachment, for the web and the API."""
    # The rows stream after this view has returned, when the request's session is gone:
    # load the merchant now (a commit earlier in the request may have expired it).
    db.session.refresh(merchant)
    return file_response(
        dispatch_export.dispatch_export_filename(file_format),
        file_format,
        lambda: dispatch_export.dispatch_export_csv(merchant, since, until),
        lambda target: dispatch_export.dispatch_export_xlsx(merchant, target, since, until),
    )


def statement_download_response(statement: Statement, file_format: str) -> Response:
    """The statement as a CSV (streamed) or XLSX (spooled) attachment; only once it is built."""
    if file_format not in FILE_TYPES:
        raise DomainError("validation_error", _("format 必须是 csv 或 xlsx"), field="format")
    if statement.status != STATEMENT_READY:
        raise DomainError("statement_not_ready")
    stored = statement_files.stored_file(statement, file_format)
    if stored is not None:  # the XLSX the worker wrote when it built the statement
        return stored_file_response(
            statement_files.statement_filename(statement, file_format), file_format, stored
        )
    return file_response(
        statement_files.statement_filename(statement, file_format),
        file_format,
        lambda: statement_files.statement_csv(statement),
        lambda target: statement_files.statement_xlsx(statement, target),
    )

"""File downloads: a CSV streamed as it is written, or an XLSX spooled (memory, then disk)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable
from typing import IO

from flask import Response, send_file, stream_with_context

# An XLSX larger than this goes to a temporary file while it is written.
XLSX_SPOOL_BYTES = 8 * 1024 * 1024
FILE_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def spooled(write: Callable[[IO[bytes]], None]) -> IO[bytes]:
    """What `write(target)` writes, in memory up to XLSX_SPOOL_BYTES then on disk, rewound."""
    spool = tempfile.SpooledTemporaryFile(max_size=XLSX_SPOOL_BYTES)  # noqa: SIM115
    try:
        write(spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


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

"""Streaming readers for uploaded spreadsheets: platform order exports and tracking files."""

from portal.domain.imports.platform_export import (
    ImportedOrder,
    open_platform_export,
    read_platform_export,
)
from portal.domain.imports.tabular import (
    ImportFileError,
    RowError,
    Table,
    TableError,
    read_table,
)
from portal.domain.imports.tracking_file import TrackingRow, open_tracking_file, read_tracking_file

__all__ = [
    "ImportFileError",
    "ImportedOrder",
    "RowError",
    "Table",
    "TableError",
    "TrackingRow",
    "open_platform_export",
    "open_tracking_file",
    "read_platform_export",
    "read_table",
    "read_tracking_file",
]

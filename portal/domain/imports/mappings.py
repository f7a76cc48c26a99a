"""A merchant's saved column mappings (导入订单 → 列映射): stored per merchant, read by the
platform export reader for a file whose header set matches (platform_export.detect_platform)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence

from sqlalchemy import select

from portal.domain.errors import DomainError
from portal.domain.imports.platform_export import (
    MAPPING_FIELDS,
    SavedMapping,
    header_key,
)
from portal.domain.imports.tabular import (
    EXPORT_AVERAGE_COLUMNS,
    ImportFileError,
    normalize_header,
    open_table,
)
from portal.extensions import db
from portal.models import ImportMapping, Merchant
from portal.models.base import utcnow

MAX_NAME = ImportMapping.__table__.c.name.type.length
_FIELD_LABELS = {name: label for name, label, _required in MAPPING_FIELDS}


def saved_mappings(merchant: Merchant) -> list[SavedMapping]:
    """The merchant's mappings as the reader takes them (a merchant keeps a handful)."""
    return [
        SavedMapping(item.name, item.header_key, json.loads(item.fields))
        for item in db.session.scalars(
            select(ImportMapping).where(ImportMapping.merchant_id == merchant.id)
        )
    ]


def file_headers(content: bytes, filename: str) -> list[str]:
    """The header row of an upload (normalised, blanks left out), for the mapping form."""
    try:
        table = open_table(io.BytesIO(content), filename, average_columns=EXPORT_AVERAGE_COLUMNS)
    except ImportFileError as error:
        raise DomainError(error.code, error.message, field="file") from None
    close = getattr(table.rows, "close", None)
    if close is not None:
        close()
    return [header for header in dict.fromkeys(table.headers) if header]


def save_mapping(
    merchant: Merchant, name: str, headers: Sequence[str], fields: Mapping[str, str]
) -> ImportMapping:
    """Save (or replace, for the same header set) the mapping `fields` (order field → header).

    Every required field must name one of `headers`; the name is the merchant's own (≤ 40)."""
    name = name.strip()
    if not name:
        raise DomainError("field_required", "请给这个映射起个名字", field="name")
    if len(name) > MAX_NAME:
        raise DomainError("field_too_long", f"名称最多 {MAX_NAME} 个字", field="name")
    present = {normalize_header(h) for h in headers}
    chosen = {
        field: normalize_header(header)
        for field, header in fields.items()
        if field in _FIELD_LABELS and header
    }
    unknown = [header for header in chosen.values() if header not in present]
    if unknown:
        raise DomainError("invalid_mapping", f"文件中没有这些列：{'、'.join(unknown)}")
    missing = [
        _FIELD_LABELS[f] for f, _l, required in MAPPING_FIELDS if required and f not in chosen
    ]
    if missing:
        raise DomainError("mapping_incomplete", f"请为这些字段选择文件中的列：{'、'.join(missing)}")
    key = header_key(list(present))
    existing = db.session.scalar(
        select(ImportMapping).where(
            ImportMapping.merchant_id == merchant.id, ImportMapping.header_key == key
        )
    )
    taken = db.session.scalar(
        select(ImportMapping.id).where(
            ImportMapping.merchant_id == merchant.id,
            ImportMapping.name == name,
            ImportMapping.header_key != key,
        )
    )
    if taken is not None:
        raise DomainError("name_taken", f"已有名为「{name}」的映射，请换一个名字", field="name")
    mapping = existing or ImportMapping(merchant_id=merchant.id, header_key=key)
    mapping.name = name
    mapping.headers = json.dumps(sorted(present), ensure_ascii=False)
    mapping.fields = json.dumps(chosen, ensure_ascii=False)
    mapping.updated_at = utcnow()
    db.session.add(mapping)
    db.session.flush()
    return mapping

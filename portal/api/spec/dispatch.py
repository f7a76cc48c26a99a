"""OpenAPI paths and schemas for the dispatch endpoints; build_spec merges them."""

from __future__ import annotations

from typing import Any

SCHEMAS: dict[str, Any] = {}


def paths(not_found: dict[str, Any]) -> dict[str, Any]:
    return {}

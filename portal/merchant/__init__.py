"""Merchant area: dashboard, order desk, imports, supplier bindings, settings."""

from portal.merchant import (  # noqa: F401  (routes register on bp)
    allocation_views,
    data_views,
    imports,
    orders,
    statements_views,
    webhook_views,
)
from portal.merchant.views import bp

__all__ = ["bp"]

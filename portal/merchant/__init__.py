"""Merchant area: dashboard, order desk, imports, supplier bindings, settings."""

from portal.merchant import imports, orders, statements_views, webhook_views  # noqa: F401  (routes register on bp)
from portal.merchant.views import bp

__all__ = ["bp"]

"""Merchant area: dashboard, order desk, imports, supplier bindings, settings."""

from portal.merchant import imports, orders  # noqa: F401  (routes register on bp)
from portal.merchant.views import bp

__all__ = ["bp"]

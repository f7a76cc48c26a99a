"""Merchant area: dashboard, supplier bindings, settings."""

from portal.merchant.views import bp

__all__ = ["bp"]

"""Supplier (factory) area: dashboard, merchant bindings, settings."""

from portal.supplier.views import bp

__all__ = ["bp"]

"""Merchant order desk views (订单)."""

from portal.merchant.views import bp  # noqa: F401

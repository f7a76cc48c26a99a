"""Merchant order import views (导入订单)."""

from portal.merchant.views import bp  # noqa: F401

"""Supplier (factory) area: dashboard, order desk, printing, tracking return, bindings."""

import portal.supplier.prices_views
import portal.supplier.sku_code_views  # noqa: F401  (厂家编码 routes register on bp)
import portal.supplier.statements_views as statements_views  # noqa: F401  (对账单 routes on bp)
from portal.supplier import (  # noqa: F401  (routes register on bp)
    data_views,
    desk,
    print_day_views,
    tracking_views,
)
from portal.supplier.views import bp

__all__ = ["bp"]

"""Supplier (factory) area: dashboard, order desk, printing, tracking return, bindings."""

import portal.supplier.prices_views  # noqa: F401  (结算价 routes register on bp)
import portal.supplier.statements_views as statements_views  # noqa: F401  (对账单 routes on bp)
from portal.supplier import desk, tracking_views  # noqa: F401  (routes register on bp)
from portal.supplier.views import bp

__all__ = ["bp"]

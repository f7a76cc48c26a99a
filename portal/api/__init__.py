"""JSON API /api/v1 for ERPs and scripts: bearer tokens, the same services as the web UI.

Importing the endpoint modules registers their routes on the blueprints.
"""

from portal.api import (  # noqa: F401  (each registers its routes)
    allocation,
    analytics,
    common,
    dispatch,
    merchant,
    orders,
    prices,
    statements,
    supplier,
    supplier_orders,
)
from portal.api.blueprints import bp

__all__ = ["bp"]

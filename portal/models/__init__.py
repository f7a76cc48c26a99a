"""All models, imported here so Alembic and the app see one complete metadata."""

from portal.models.accounts import (
    ApiToken,
    LoginFailure,
    Merchant,
    ReturnAddress,
    Supplier,
    User,
)
from portal.models.allocation import AllocationRule, SkuAllocationRule, SupplierSkuCode
from portal.models.analytics import (
    AnalyticsDaily,
    AnalyticsOrderFacts,
    AnalyticsProgress,
    AnalyticsReturnHours,
    AnalyticsReturnHoursMonthly,
)
from portal.models.base import Base
from portal.models.bindings import Binding
from portal.models.dispatch import WebhookDelivery
from portal.models.orders import (
    Assignment,
    ImportJob,
    ImportMapping,
    Order,
    OrderEvent,
    OrderLine,
)
from portal.models.printing import PrintJob, PrintJobOrder, PrintRender
from portal.models.settlement import (
    Price,
    Statement,
    StatementAdjustment,
    StatementEvent,
    StatementFile,
    StatementLine,
    StatementPair,
)
from portal.models.tracking import OrderParcel, Parcel
from portal.models.workers import WorkerHeartbeat

__all__ = [
    "AllocationRule",
    "AnalyticsDaily",
    "AnalyticsOrderFacts",
    "AnalyticsProgress",
    "AnalyticsReturnHours",
    "AnalyticsReturnHoursMonthly",
    "ApiToken",
    "Assignment",
    "Base",
    "Binding",
    "ImportJob",
    "ImportMapping",
    "LoginFailure",
    "Merchant",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OrderParcel",
    "Parcel",
    "Price",
    "PrintJob",
    "PrintJobOrder",
    "PrintRender",
    "ReturnAddress",
    "SkuAllocationRule",
    "Statement",
    "StatementAdjustment",
    "StatementEvent",
    "StatementFile",
    "StatementLine",
    "StatementPair",
    "Supplier",
    "SupplierSkuCode",
    "User",
    "WebhookDelivery",
    "WorkerHeartbeat",
]

"""All models, imported here so Alembic and the app see one complete metadata."""

from portal.models.accounts import (
    ApiToken,
    LoginFailure,
    Merchant,
    ReturnAddress,
    Supplier,
    User,
)
from portal.models.base import Base
from portal.models.bindings import Binding

__all__ = [
    "ApiToken",
    "Base",
    "Binding",
    "LoginFailure",
    "Merchant",
    "ReturnAddress",
    "Supplier",
    "User",
]

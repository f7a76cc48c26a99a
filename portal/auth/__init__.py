"""Public pages (sign-up, login, logout) and the account area shared by both roles."""

from portal.auth import staff_views  # noqa: F401  (子账号 routes register on account_bp)
from portal.auth.views import account_bp, bp

__all__ = ["account_bp", "bp"]

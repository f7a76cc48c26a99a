"""Public pages (sign-up, login, logout) and the account area shared by both roles."""

from portal.auth.views import account_bp, bp

__all__ = ["account_bp", "bp"]

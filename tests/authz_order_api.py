"""Authorization-matrix entries for the order and allocation API routes (see test_authz_matrix)."""

from tests.authz_access import API_MERCHANT  # noqa: F401

ORDER_API_ROUTES: dict[str, tuple[str, dict[str, str]]] = {}

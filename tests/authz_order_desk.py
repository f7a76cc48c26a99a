"""Authorization-matrix entries for the merchant order desk routes (see test_authz_matrix)."""

from tests.authz_access import MERCHANT  # noqa: F401

ORDER_DESK_ROUTES: dict[str, tuple[str, dict[str, str]]] = {}

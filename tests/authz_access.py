"""Access kinds used by the authorization matrix (tests/test_authz_matrix.py)."""

PUBLIC = "public"
ANY_USER = "any_user"  # logged in, either role
BOTH = "both"  # logged in with a shop, either side
MERCHANT = "merchant"
SUPPLIER = "supplier"
API_BOTH = "api_both"
API_MERCHANT = "api_merchant"
API_SUPPLIER = "api_supplier"

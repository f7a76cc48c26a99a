"""gunicorn entry point for the HTTP benchmark: the portal app plus two endpoints of its own.

`/__bench/ping` answers "ok" from the same app in the same workers, through the same
before/after-request hooks (security headers, session) — the floor the order list is compared
with. `/__bench/merchant-orders-sql` sends the SQL the merchant order list sends for the same
query string (the signed-in user with its shop, the shown tab's count, the page of rows, the
suppliers of the filter), through the same query functions, and renders nothing: what the
list would cost if making its HTML were free. Configured by the PORTAL_* environment
(database URL, keys file, secret key) like `wsgi.py`; only bench/run.py starts it.
"""

from __future__ import annotations

from flask import abort, request
from flask_login import current_user

from portal import create_app
from portal.domain import bindings
from portal.merchant.orders import PER_PAGE, desk_page, parse_filters
from portal.models import Merchant
from portal.web.pagination import page_args

app = create_app()


@app.get("/__bench/ping")
def bench_ping() -> str:
    return "ok"


@app.get("/__bench/merchant-orders-sql")
def bench_merchant_orders_sql() -> str:
    merchant = current_user.shop_profile if current_user.is_authenticated else None
    if not isinstance(merchant, Merchant):
        abort(403)
    filters = parse_filters(request.args)
    # As portal.merchant.orders.desk_context asks them.
    _counts, page = desk_page(merchant, filters, page_args(PER_PAGE, PER_PAGE).page)
    rows = list(page.items)
    bindings.supplier_choices(merchant)
    return str(len(rows))

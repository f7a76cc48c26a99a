"""Schemathesis over /api/v1/openapi.json: every operation, as a merchant and as a supplier.

The schema is loaded from the Flask app itself (WSGI, no server). The world has a bound pair
with orders in every stage, a print job waiting for confirmation, a dispatched order, a built
statement and a return address, so list and detail answers carry real data. For every
operation, generated requests — valid ones, invalid ones, and valid ones aimed at the world's
real objects — must get an answer that is not a server error, whose status code the spec
documents and whose body matches the documented schema.

Operations of the other role are only sampled (their answer is the role gate's 403). Example
counts are bounded and derandomized (no example database): the run is reproducible and quick.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import request
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import negative_data_rejection
from sqlalchemy import select

from portal.domain import accounts, allocation, staff
from portal.domain.dispatch import dispatch_orders
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.printing.jobs import create_print_job
from portal.extensions import db
from portal.models import Binding, Merchant, Supplier
from tests.authz_access import API_BOTH, API_MERCHANT, API_SUPPLIER
from tests.factories import demo_order
from tests.test_authz_matrix import ROUTES
from tests.test_statements_web import World, build_world, run_queue

# Every check schemathesis has runs, negative_data_rejection included. Two are tuned:
# - positive_data_acceptance also expects 400 and 422 with a domain code: values the schema
#   allows but the service refuses by meaning (an unknown shop ID, a period in the future, a
#   stale cursor, text with NUL), each answered with its code and never as a crash;
# - POST /orders answers per order (DESIGN §10.1): an order off the schema is one entry of
#   `rejected` in a 200, so that operation's negative cases are checked by the tests of
#   per-order refusals, not by negative_data_rejection.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]
            }
        }
    }
)
PER_ITEM = {("POST", "/orders")}
EXAMPLES = 15  # per operation and generation mode
OTHER_ROLE_EXAMPLES = 3
ROLE_ACCESS = {"merchant": {API_MERCHANT, API_BOTH}, "supplier": {API_SUPPLIER, API_BOTH}}


def populate(world: World) -> dict[str, Any]:
    """Besides build_world's two returned orders: assigned, held, cancelled and dispatched
    orders, a print job waiting for confirmation, a return address and a built statement."""
    with world.app.app_context():
        merchant = db.session.get(Merchant, world.merchant_id)
        supplier = db.session.get(Supplier, world.supplier_id)
        numbers = [f"261121-s{i:014d}" for i in range(1, 6)]
        upsert_orders(current_keyring(), merchant, [demo_order(n) for n in numbers])
        assert allocation.assign_orders(merchant, numbers, supplier, None).done
        allocation.cancel_assignments(merchant, [numbers[0]], None)
        upsert_orders(
            current_keyring(),
            merchant,
            [
                demo_order(numbers[1], detail="人民路1号"),  # address change pending
                demo_order(numbers[2], after_sale_status="退款中"),  # assignment cancelled
            ],
        )
        start = f"YT{supplier.id:013d}"
        job = create_print_job(supplier, numbers[3:], "YTO", "100x180", start, None).job
        accounts.add_return_address(
            merchant,
            accounts.AddressInput("退货", "13800138000", "北京市", "北京市", "朝阳区", "x 路"),
            make_default=True,
        )
        # an address no order used, for PATCH/DELETE /return-addresses/{address_id}
        spare = accounts.add_return_address(
            merchant,
            accounts.AddressInput("退货", "13800138000", "北京市", "北京市", "朝阳区", "y 路"),
            make_default=False,
        )
        db.session.flush()
        assert dispatch_orders(merchant, world.order_nos[:1], None).dispatched
        db.session.commit()
        known = {
            "binding_id": db.session.scalar(select(Binding.id)),
            "address_id": spare.id,
            "job_id": job.id,
            "order_no": numbers[3],
            # a member of each shop, for PATCH /staff/{member_id}
            "merchant.member_id": staff.add_member(
                merchant.user, "m_op", "initial-pass-1", "operator"
            ).id,
            "supplier.member_id": staff.add_member(
                supplier.user, "s_pr", "initial-pass-1", "printer"
            ).id,
        }
        db.session.commit()
    response = world.merchant.client.post(
        "/api/v1/statements",
        json={
            "supplier_shop_id": world.supplier_shop_id,
            "start": "2026-11-15",
            "end": "2026-11-21",
        },
        headers={"Authorization": f"Bearer {world.merchant_token}"},
    )
    assert response.status_code == 202, response.json
    assert run_queue(world.app) >= 1
    return {**known, "statement_id": response.json["id"]}


def access_of(app: Any, operation: Any) -> str:
    """The authorization matrix's access kind for the Flask route behind an operation."""
    path = "/api/v1" + operation.path
    for parameter in operation.path_parameters:
        path = path.replace("{" + parameter.name + "}", "1")
    adapter = app.url_map.bind("portal.test")
    endpoint, _values = adapter.match(path, method=operation.method.upper())
    return ROUTES[endpoint][0]


def method_rank(operation: Any) -> int:
    """Reads first, then writes, deletes last: ending the binding must not empty the world."""
    return {"get": 0, "delete": 2}.get(operation.method.lower(), 1)


def describe(error: BaseException) -> str:
    """The failure without the traceback: schemathesis puts status, body and curl in it."""
    parts = [f"{type(error).__name__}: {error}"]
    parts += [f"  - {type(inner).__name__}: {inner}" for inner in getattr(error, "exceptions", ())]
    return "\n".join(parts)


def run_operation(
    operation: Any, token: str, mode: GenerationMode, examples: int, **fixed: Any
) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy(mode, **fixed))
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        # A query parameter without a name (`{"": {...}}`) goes out as a bare `?=`, which
        # names no parameter: the request sent is a valid one, nothing for the API to refuse.
        assume(mode is not GenerationMode.NEGATIVE or "" not in (case.query or {}))
        excluded = (
            [negative_data_rejection]
            if (operation.method.upper(), operation.path) in PER_ITEM
            else []
        )
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    try:
        check()
    except (Exception, BaseExceptionGroup) as error:  # report every operation, not the first
        return [f"{operation.label} [{mode.value}] {fixed}:\n{describe(error)}"]
    return []


@pytest.mark.parametrize("role", ["merchant", "supplier"])
def test_every_operation_conforms_to_the_spec(app, factory, make_browser, role):
    world = build_world(app, factory, make_browser)
    known = populate(world)
    known["member_id"] = known[f"{role}.member_id"]
    token = world.merchant_token if role == "merchant" else world.supplier_token
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=method_rank)
    assert len(operations) >= 35  # the whole API, not a part the loader understood

    failures: list[str] = []
    own = 0
    for operation in operations:
        if access_of(app, operation) not in ROLE_ACCESS[role]:
            failures += run_operation(
                operation, token, GenerationMode.POSITIVE, OTHER_ROLE_EXAMPLES
            )
            continue
        own += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += run_operation(operation, token, mode, EXAMPLES)
        names = [parameter.name for parameter in operation.path_parameters]
        if names:
            real = {name: known[name] for name in names}
            failures += run_operation(
                operation, token, GenerationMode.POSITIVE, EXAMPLES, path_parameters=real
            )
    assert own >= 15
    assert not failures, "\n\n".join(failures)


def test_the_checks_can_fail(app, factory):
    """A server error and an answer off the spec are caught (the suite is not vacuous)."""
    token = factory.token(factory.merchant())

    @app.after_request
    def break_me(response):
        if request.path == "/api/v1/me":
            response.set_data(b'{"username": 1}')
        return response

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    operation = schema["/me"]["GET"]
    failures = run_operation(operation, token, GenerationMode.POSITIVE, 1)
    assert failures and "schema" in failures[0].lower()


def test_accepting_invalid_data_is_caught(app, factory):
    """negative_data_rejection runs: an endpoint that took a bad `per_page` would fail it."""
    token = factory.token(factory.merchant())

    @app.after_request
    def accept_anything(response):
        if request.path == "/api/v1/bindings" and response.status_code == 422:
            return app.response_class(
                b'{"items": [], "page": 1, "per_page": 50, "total": 0}',
                mimetype="application/json",
            )
        return response

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    operation = schema["/bindings"]["GET"]
    failures = run_operation(operation, token, GenerationMode.NEGATIVE, 10)
    assert failures and "accepted" in failures[0].lower(), failures

"""The statements API (DESIGN §7, §8.2): request (202, 429 with Retry-After), read, download,
review, retry; every other tenant gets 404."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from portal.domain.statements import build as statement_build
from tests.test_api_orders import API, Api
from tests.test_statements import shanghai
from tests.test_statements_web import World, _xlsx_rows, build_world, run_queue


@pytest.fixture
def world(app, factory, make_browser) -> World:
    return build_world(app, factory, make_browser)


@pytest.fixture
def merchant(world) -> Api:
    return Api(world.app.test_client(), world.merchant_token)


@pytest.fixture
def supplier(world) -> Api:
    return Api(world.app.test_client(), world.supplier_token)


def create(merchant: Api, world: World, **changes: Any) -> Any:
    body = {"supplier_shop_id": world.supplier_shop_id, "start": "2026-11-15", "end": "2026-11-21"}
    return merchant.post("/statements", {**body, **changes})


def created(merchant: Api, world: World) -> dict[str, Any]:
    response = create(merchant, world)
    assert response.status_code == 202, response.json
    return response.json


def built(merchant: Api, world: World) -> dict[str, Any]:
    statement = created(merchant, world)
    assert run_queue(world.app) >= 1
    answer = merchant.get(f"/statements/{statement['id']}").json
    assert answer["status"] == "ready"
    return answer


def error(response: Any) -> dict[str, Any]:
    return response.json["error"]


def test_a_request_is_accepted_queued_and_built(world, merchant, supplier):
    response = create(merchant, world)
    assert response.status_code == 202
    statement = response.json
    assert response.headers["Location"] == f"{API}/statements/{statement['id']}"
    assert statement["status"] == "queued"
    assert statement["period"] == {"start": "2026-11-15", "end": "2026-11-21"}
    assert statement["supplier"] == {"shop_id": world.supplier_shop_id, "shop_name": "乙厂"}
    assert statement["merchant"] == {"shop_id": world.merchant_shop_id, "shop_name": "甲店"}
    assert statement["total_amount"] is None and statement["line_count"] is None
    assert statement["downloads"] is None
    assert statement["requested_at"] == shanghai(2026, 11, 21, 9, 0).isoformat()

    assert run_queue(world.app) == 2  # the build, then its XLSX
    for api in (merchant, supplier):
        answer = api.get(f"/statements/{statement['id']}")
        assert answer.status_code == 200
        ready = answer.json
        assert ready["status"] == "ready" and ready["review_status"] == "pending"
        assert (ready["total_amount"], ready["total_fen"]) == ("25.00", 2500)
        assert (ready["line_count"], ready["quantity_total"], ready["missing_price_count"]) == (
            2,
            3,
            1,
        )
        assert ready["finished_at"] is not None and ready["error"] == ""
        assert ready["downloads"] == {
            "csv": f"{API}/statements/{statement['id']}/download?format=csv",
            "xlsx": f"{API}/statements/{statement['id']}/download?format=xlsx",
        }


def test_the_list_for_both_roles_with_filters(world, merchant, supplier, factory):
    first = built(merchant, world)
    world.clock.advance(minutes=10)
    second = created(merchant, world)
    for api, party in ((merchant, "supplier_shop_id"), (supplier, "merchant_shop_id")):
        page = api.get("/statements").json
        assert [s["id"] for s in page["items"]] == [second["id"], first["id"]]
        assert (page["page"], page["per_page"], page["total"]) == (1, 50, 2)
        assert [s["id"] for s in api.get("/statements", status="ready").json["items"]] == [
            first["id"]
        ]
        pending = api.get("/statements", review_status="pending", status="ready").json
        assert pending["total"] == 1
        own = world.supplier_shop_id if party == "supplier_shop_id" else world.merchant_shop_id
        assert api.get("/statements", **{party: own}).json["total"] == 2
        assert api.get("/statements", **{party: "123456789"}).json["total"] == 0
        refused = api.get("/statements", status="done")
        assert refused.status_code == 422 and error(refused)["field"] == "status"
        assert api.get("/statements", per_page=500).status_code == 422
    # Another merchant's list is empty.
    stranger = Api(world.app.test_client(), factory.token(factory.merchant()))
    assert stranger.get("/statements").json["total"] == 0


def test_bad_requests_are_422_and_create_nothing(world, merchant, factory):
    stranger = factory.supplier()  # a real supplier, never bound to this merchant
    cases = [
        ({"start": "2026/11/01"}, "validation_error", "start"),
        ({"end": "2026-02-30"}, "validation_error", "end"),
        ({"start": 20261101}, "validation_error", "start"),
        ({"start": None}, "validation_error", "start"),
        ({"start": "2026-11-22", "end": "2026-11-23"}, "invalid_period", "period"),
        ({"start": "2024-11-01"}, "invalid_period", "period"),
        ({"supplier_shop_id": "000000000"}, "invalid_shop_id", "supplier_shop_id"),
        ({"supplier_shop_id": stranger.shop_id}, "invalid_shop_id", "supplier_shop_id"),
        ({"supplier_shop_id": world.merchant_shop_id}, "invalid_shop_id", "supplier_shop_id"),
        ({"supplier_shop_id": None}, "validation_error", "supplier_shop_id"),
    ]
    for changes, code, field in cases:
        response = create(merchant, world, **changes)
        assert response.status_code == 422, (changes, response.json)
        assert (error(response)["code"], error(response)["field"]) == (code, field), changes
    assert merchant.post("/statements", {}).status_code == 422
    assert merchant.post("/statements", ["not", "an", "object"]).status_code == 400
    assert merchant.get("/statements").json["total"] == 0


def test_the_rate_limit_is_429_with_retry_after(world, merchant):
    created(merchant, world)
    world.clock.advance(minutes=4)
    response = create(merchant, world)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "360"
    body = error(response)
    assert body["code"] == "statement_rate_limited"
    assert (body["limit"], body["retry_after"]) == ("interval", 360)
    assert body["next_allowed_at"] == shanghai(2026, 11, 21, 9, 10).isoformat()
    assert "两次生成对账单需间隔 10 分钟" in body["message"]

    world.clock.advance(minutes=6)
    created(merchant, world)
    world.clock.advance(minutes=10)
    created(merchant, world)
    world.clock.advance(minutes=10)
    response = create(merchant, world)  # the 4th of the day
    assert response.status_code == 429
    body = error(response)
    assert body["limit"] == "daily"
    assert body["next_allowed_at"] == shanghai(2026, 11, 22, 0, 0).isoformat()
    assert response.headers["Retry-After"] == str(body["retry_after"])
    assert body["retry_after"] == int((shanghai(2026, 11, 22) - world.clock.now).total_seconds())
    assert merchant.get("/statements").json["total"] == 3
    world.clock.now = shanghai(2026, 11, 22, 0, 0)
    assert create(merchant, world).status_code == 202


def _csv(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_downloads_for_both_roles(world, merchant, supplier):
    statement = built(merchant, world)
    files = []
    for api in (merchant, supplier):
        for kind, read in (("csv", _csv), ("xlsx", _xlsx_rows)):
            response = api.get(f"/statements/{statement['id']}/download", format=kind)
            assert response.status_code == 200
            assert response.headers["Content-Disposition"].startswith("attachment")
            assert f".{kind}" in response.headers["Content-Disposition"]
            files.append(read(response))
    assert all(rows == files[0] for rows in files)
    assert files[0][-1][0] == "合计" and files[0][-1][6] == "25.00"
    bad = merchant.get(f"/statements/{statement['id']}/download", format="pdf")
    assert bad.status_code == 422 and error(bad)["field"] == "format"


def test_a_queued_statement_cannot_be_downloaded(world, merchant, supplier):
    statement = created(merchant, world)
    for api in (merchant, supplier):
        response = api.get(f"/statements/{statement['id']}/download")
        assert response.status_code == 409
        assert error(response)["code"] == "statement_not_ready"


def test_settle_before_the_factory_confirms_is_refused(world, merchant, supplier):
    statement = built(merchant, world)
    base = f"/statements/{statement['id']}"
    refused = merchant.post(f"{base}/settle")
    assert refused.status_code == 409 and error(refused)["code"] == "statement_not_confirmed"
    assert merchant.get(base).json["review_status"] == "pending"
    assert supplier.post(f"{base}/confirm").status_code == 200
    assert merchant.post(f"{base}/settle").json["review_status"] == "settled"


def test_a_second_overlapping_statement_is_refused_confirmation_naming_the_first(
    world, merchant, supplier
):
    first = built(merchant, world)
    world.clock.advance(minutes=11)
    second = built(merchant, world)
    assert supplier.post(f"/statements/{first['id']}/confirm").status_code == 200
    refused = supplier.post(f"/statements/{second['id']}/confirm")
    assert refused.status_code == 409
    assert error(refused)["code"] == "statement_overlaps"
    assert error(refused)["statement_id"] == first["id"]


def test_dispute_confirm_settle(world, merchant, supplier):
    statement = built(merchant, world)
    base = f"/statements/{statement['id']}"
    response = supplier.post(f"{base}/dispute", {})
    assert response.status_code == 422 and error(response)["code"] == "dispute_reason_required"
    response = supplier.post(f"{base}/dispute", {"reason": "x" * 501})
    assert response.status_code == 422 and error(response)["code"] == "field_too_long"
    response = supplier.post(f"{base}/dispute", {"reason": "  第 2 单\n缺价  "})
    assert response.status_code == 200
    assert (response.json["review_status"], response.json["dispute_reason"]) == (
        "disputed",
        "第 2 单 缺价",
    )
    refused = merchant.post(f"{base}/settle")
    assert refused.status_code == 409 and error(refused)["code"] == "statement_not_confirmed"
    confirmed = supplier.post(f"{base}/confirm")
    assert confirmed.status_code == 200
    assert (confirmed.json["review_status"], confirmed.json["dispute_reason"]) == ("confirmed", "")
    assert confirmed.json["reviewed_at"] is not None
    settled = merchant.post(f"{base}/settle")
    assert settled.status_code == 200 and settled.json["review_status"] == "settled"
    assert settled.json["settled_at"] is not None
    assert supplier.get(base).json["review_status"] == "settled"
    for api, action in ((supplier, "confirm"), (supplier, "dispute"), (merchant, "settle")):
        response = api.post(
            f"{base}/{action}", {"reason": "再看看"} if action == "dispute" else None
        )
        assert response.status_code == 409, action


def test_review_before_the_build_is_refused(world, merchant, supplier):
    statement = created(merchant, world)
    base = f"/statements/{statement['id']}"
    for api, action in ((supplier, "confirm"), (supplier, "dispute"), (merchant, "settle")):
        response = api.post(f"{base}/{action}", {"reason": "x"} if action == "dispute" else None)
        assert response.status_code == 409 and error(response)["code"] == "statement_not_ready"


def test_a_failed_build_is_retried(world, merchant, monkeypatch):
    statement = created(merchant, world)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(statement_build, "PriceBook", broken)
    run_queue(world.app)
    monkeypatch.undo()
    base = f"/statements/{statement['id']}"
    failed = merchant.get(base).json
    assert failed["status"] == "failed" and "可重试" in failed["error"]
    assert merchant.get("/statements", status="failed").json["total"] == 1
    world.clock.advance(minutes=1)
    response = merchant.post(f"{base}/retry")
    assert response.status_code == 202 and response.json["status"] == "queued"
    again = merchant.post(f"{base}/retry")
    assert again.status_code == 409 and error(again)["code"] == "statement_not_failed"
    run_queue(world.app)
    assert merchant.get(base).json["status"] == "ready"


def test_other_tenants_get_404(world, merchant, factory):
    statement = built(merchant, world)
    base = f"/statements/{statement['id']}"
    client = world.app.test_client()
    other_merchant = Api(client, factory.token(factory.merchant()))
    other_supplier = Api(client, factory.token(factory.supplier()))
    for api in (other_merchant, other_supplier):
        for path, params in (
            (base, {}),
            (f"{base}/download", {}),
            (f"{base}/download", {"format": "xlsx"}),
        ):
            response = api.get(path, **params)
            assert response.status_code == 404 and error(response)["code"] == "not_found"
    for action in ("settle", "retry"):
        assert other_merchant.post(f"{base}/{action}").status_code == 404
    assert other_supplier.post(f"{base}/confirm").status_code == 404
    assert other_supplier.post(f"{base}/dispute", {"reason": "x"}).status_code == 404
    assert merchant.get("/statements/99999999999999999999").status_code == 404
    assert merchant.get(base).json["review_status"] == "pending"

"""The statements API (DESIGN §7, §8.2): request (202, 429 with Retry-After), read, download,
review, retry; a dispute answered, adjusted or regenerated; every other tenant gets 404."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from portal.domain.statements import build as statement_build
from tests.test_api_orders import API, Api
from tests.test_statements import shanghai
from tests.test_statements_web import (
    SUPPLIER_LIST,
    World,
    _xlsx_rows,
    build_world,
    html,
    run_queue,
)


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


# --- a dispute is not a dead end: answered, adjusted or regenerated, confirmed again ----------


def disputed(merchant: Api, supplier: Api, world: World, reason: str = "缺价那单按 9.90 元算"):
    statement = built(merchant, world)
    response = supplier.post(f"/statements/{statement['id']}/dispute", {"reason": reason})
    assert response.status_code == 200 and response.json["review_status"] == "disputed"
    return response.json


def test_a_dispute_is_answered_through_the_api_and_confirmed_again(world, merchant, supplier):
    statement = disputed(merchant, supplier, world, "单价不对")
    base = f"/statements/{statement['id']}"
    for body in ({}, {"note": " \n "}):
        empty = merchant.post(f"{base}/answer", body)
        assert empty.status_code == 422
        assert (error(empty)["code"], error(empty)["field"]) == ("answer_required", "note")
    too_long = merchant.post(f"{base}/answer", {"note": "x" * 501})
    assert too_long.status_code == 422 and error(too_long)["code"] == "field_too_long"
    bad = merchant.post(f"{base}/answer", {"note": "好", "amount": "1"})
    assert bad.status_code == 422 and error(bad)["field"] == "amount"
    assert merchant.get(base).json["review_status"] == "disputed"

    response = merchant.post(f"{base}/answer", {"note": "  已按合同\n单价核对 "})
    assert response.status_code == 200
    assert (response.json["id"], response.json["review_status"]) == (statement["id"], "pending")
    # The factory sees the answer on its side, in its ERP too, and confirms again.
    mine = supplier.get(base).json
    assert mine["review_status"] == "pending"
    assert [(e["kind"], e["note"]) for e in mine["history"][-2:]] == [
        ("disputed", "单价不对"),
        ("answered", "已按合同 单价核对"),
    ]
    assert mine["history"][-1]["actor"] and mine["adjustments"] == []
    assert merchant.get(base).json["history"] == mine["history"]
    page = html(world.supplier.get(f"{SUPPLIER_LIST}/{statement['id']}"))
    assert "商家回复异议" in page and "已按合同 单价核对" in page and "确认无误" in page
    assert supplier.get("/statements", review_status="pending").json["total"] == 1
    again = merchant.post(f"{base}/answer", {"note": "再说一次"})  # nothing disputed any more
    assert again.status_code == 409 and error(again)["code"] == "statement_review_closed"
    confirmed = supplier.post(f"{base}/confirm")
    assert confirmed.status_code == 200 and confirmed.json["review_status"] == "confirmed"
    late = merchant.post(f"{base}/answer", {"note": "再说一次"})
    assert late.status_code == 409 and error(late)["code"] == "statement_review_closed"


def test_answering_a_statement_nobody_disputed_or_not_built_is_refused(world, merchant):
    pending = built(merchant, world)
    refused = merchant.post(f"/statements/{pending['id']}/answer", {"note": "没有异议"})
    assert refused.status_code == 409 and error(refused)["code"] == "statement_review_closed"
    world.clock.advance(minutes=10)
    queued = created(merchant, world)
    refused = merchant.post(f"/statements/{queued['id']}/answer", {"note": "没有异议"})
    assert refused.status_code == 409 and error(refused)["code"] == "statement_not_ready"


def test_an_adjustment_changes_the_amount_due_and_the_factory_confirms_again(
    world, merchant, supplier
):
    statement = disputed(merchant, supplier, world)
    base = f"/statements/{statement['id']}"
    assert (statement["total_amount"], statement["adjustment_amount"]) == ("25.00", "0.00")
    for body, code, field in (
        ({"amount": "九元九", "reason": "缺价"}, "invalid_adjustment", "amount"),
        ({"amount": "0", "reason": "缺价"}, "invalid_adjustment", "amount"),
        ({"amount": "1.234", "reason": "缺价"}, "invalid_adjustment", "amount"),
        ({"amount": "1000000.01", "reason": "缺价"}, "invalid_adjustment", "amount"),
        ({"amount": "", "reason": "缺价"}, "invalid_adjustment", "amount"),
        ({"amount": 9.9, "reason": "缺价"}, "validation_error", "amount"),
        ({"reason": "缺价"}, "validation_error", "amount"),
        ({"amount": "9.90"}, "adjustment_reason_required", "reason"),
        ({"amount": "9.90", "reason": "  "}, "adjustment_reason_required", "reason"),
        ({"amount": "9.90", "reason": "x" * 201}, "field_too_long", "reason"),
    ):
        response = merchant.post(f"{base}/adjustments", body)
        assert response.status_code == 422, body
        assert (error(response)["code"], error(response)["field"]) == (code, field), body
    number = merchant.post(f"{base}/adjustments", {"amount": 9.9, "reason": "缺价"})
    assert 'amount 必须是字符串，单位为元，例如 "-12.50"' in error(number)["message"]
    assert merchant.get(base).json["total_amount"] == "25.00"

    response = merchant.post(
        f"{base}/adjustments", {"amount": "9.90", "reason": "缺价订单按 9.90 元"}
    )
    assert response.status_code == 200
    adjusted = response.json
    assert (adjusted["review_status"], adjusted["total_amount"], adjusted["total_fen"]) == (
        "pending",
        "34.90",
        3490,
    )
    assert adjusted["adjustment_amount"] == "9.90"
    response = merchant.post(f"{base}/adjustments", {"amount": "-２.50元", "reason": "运费多算"})
    assert response.status_code == 200
    assert (response.json["total_amount"], response.json["adjustment_amount"]) == ("32.40", "7.40")

    # The factory sees the new amount due and each adjustment with its reason, in its files
    # too, and confirms.
    mine = supplier.get(base).json
    assert (mine["review_status"], mine["total_amount"]) == ("pending", "32.40")
    assert [(a["amount"], a["amount_fen"], a["reason"]) for a in mine["adjustments"]] == [
        ("+9.90", 990, "缺价订单按 9.90 元"),
        ("-2.50", -250, "运费多算"),
    ]
    assert [e["kind"] for e in mine["history"]][-2:] == ["adjusted", "adjusted"]
    assert merchant.get(base).json["adjustments"] == mine["adjustments"]
    rows = _csv(supplier.get(f"{base}/download", format="csv"))
    assert [row[6] for row in rows if row[0] == "调整"] == ["9.90", "-2.50"]
    assert rows[-1][0] == "合计" and rows[-1][6] == "32.40"
    page = html(world.supplier.get(f"{SUPPLIER_LIST}/{statement['id']}"))
    assert "商家添加调整" in page and "缺价订单按 9.90 元" in page
    confirmed = supplier.post(f"{base}/confirm")
    assert confirmed.status_code == 200 and confirmed.json["review_status"] == "confirmed"
    late = merchant.post(f"{base}/adjustments", {"amount": "1", "reason": "再补"})
    assert late.status_code == 409 and error(late)["code"] == "statement_review_closed"
    assert merchant.post(f"{base}/settle").json["total_amount"] == "32.40"


def test_regenerate_requeues_within_the_limits_and_the_factory_confirms_again(
    world, merchant, supplier
):
    statement = disputed(merchant, supplier, world, "NO-PRICE 应按 9.90 元")
    base = f"/statements/{statement['id']}"
    with world.app.app_context():
        world.pair().price("NO-PRICE", 990, shanghai(2026, 11, 1, 0, 0))  # the gap filled
    # Under the same limits as a request: not within 10 minutes of the last one.
    early = merchant.post(f"{base}/regenerate")
    assert early.status_code == 429
    body = error(early)
    assert (body["code"], body["limit"], body["retry_after"]) == (
        "statement_rate_limited",
        "interval",
        600,
    )
    assert early.headers["Retry-After"] == "600"
    assert body["next_allowed_at"] == shanghai(2026, 11, 21, 9, 10).isoformat()
    assert merchant.get(base).json["review_status"] == "disputed"
    world.clock.advance(minutes=11)
    with_body = merchant.post(f"{base}/regenerate", {"force": True})
    assert with_body.status_code == 422 and error(with_body)["field"] == "force"

    response = merchant.post(f"{base}/regenerate")
    assert response.status_code == 202
    assert (response.json["id"], response.json["status"]) == (statement["id"], "queued")
    assert response.json["review_status"] == "pending" and response.json["total_amount"] is None
    assert run_queue(world.app) >= 1
    rebuilt = supplier.get(base).json
    assert (rebuilt["status"], rebuilt["review_status"]) == ("ready", "pending")
    assert (rebuilt["total_fen"], rebuilt["missing_price_count"]) == (2500 + 990, 0)
    assert "商家重新生成" in html(world.supplier.get(f"{SUPPLIER_LIST}/{statement['id']}"))
    assert supplier.post(f"{base}/confirm").status_code == 200
    world.clock.advance(minutes=11)
    closed = merchant.post(f"{base}/regenerate")
    assert closed.status_code == 409 and error(closed)["code"] == "statement_review_closed"
    assert merchant.get("/statements").json["total"] == 1  # rebuilt in place, not a second one


def test_a_factory_token_cannot_answer_adjust_or_regenerate(world, merchant, supplier):
    statement = disputed(merchant, supplier, world)
    base = f"/statements/{statement['id']}"
    for action, body in (
        ("answer", {"note": "好"}),
        ("adjustments", {"amount": "1", "reason": "x"}),
        ("regenerate", None),
    ):
        response = supplier.post(f"{base}/{action}", body)
        assert response.status_code == 403 and error(response)["code"] == "forbidden", action
    assert merchant.get(base).json["review_status"] == "disputed"


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
    for action, body in (
        ("settle", None),
        ("retry", None),
        ("regenerate", None),
        ("answer", {"note": "x"}),
        ("adjustments", {"amount": "1", "reason": "x"}),
        ("answer", {}),
        ("adjustments", {"amount": 1}),  # whatever the body says
    ):
        assert other_merchant.post(f"{base}/{action}", body).status_code == 404, action
    assert other_supplier.post(f"{base}/confirm").status_code == 404
    assert other_supplier.post(f"{base}/dispute", {"reason": "x"}).status_code == 404
    assert merchant.get("/statements/99999999999999999999").status_code == 404
    assert merchant.get(base).json["review_status"] == "pending"


def test_the_document_counts_statement_lines_not_orders(app):
    # A statement has a line per goods line: an order of two items is two lines (DESIGN §10.2),
    # and the pages say 明细行数. The API's reference said 订单数.
    document = app.test_client().get("/api/v1/openapi.json").json
    fields = document["components"]["schemas"]["Statement"]["properties"]
    for name in ("line_count", "missing_price_count", "already_in_statement_count"):
        description = fields[name]["description"]
        assert "明细行数" in description and "订单数" not in description, (name, description)

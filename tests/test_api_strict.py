"""The API's typed schemas (DESIGN §10.1): what was wrongly accepted is refused with a 422
`validation_error` naming the field by its JSON path; batch endpoints still answer per item."""

from __future__ import annotations

import re

import pytest

from tests.test_api_orders import Api, order_json
from tests.test_api_orders import desk as desk


def refusal(response) -> tuple[int, str, str]:
    error = response.json["error"]
    return response.status_code, error["code"], error.get("field", "")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        # a JSON number where a string belongs
        ("/bindings", {"supplier_shop_id": 123456789}, "supplier_shop_id"),
        ("/bindings", {"supplier_shop_id": "123456789", "message": 5}, "message"),
        # an unknown field
        ("/bindings", {"supplier_shop_id": "123456789", "note": "hi"}, "note"),
        ("/allocations/cancel", {"order_nos": ["x"], "why": "no"}, "why"),
    ],
)
def test_wrong_types_and_unknown_fields_are_refused(desk, path, body, field):
    assert refusal(desk.merchant.post(path, body)) == (422, "validation_error", field)


ADDRESS = {
    "contact_name": "退货",
    "phone": "13800138000",
    "province": "北京市",
    "city": "北京市",
    "district": "朝阳区",
    "detail": "x 路 1 号",
}


def test_a_return_address_refuses_a_number_phone_and_a_yes_for_is_default(desk):
    answer = desk.merchant.post("/return-addresses", {**ADDRESS, "phone": 13800138000})
    assert refusal(answer) == (422, "validation_error", "phone")
    # "yes" was silently taken as false
    answer = desk.merchant.post("/return-addresses", {**ADDRESS, "is_default": "yes"})
    assert refusal(answer) == (422, "validation_error", "is_default")
    assert desk.merchant.get("/return-addresses").json["items"] == []
    created = desk.merchant.post("/return-addresses", {**ADDRESS, "is_default": True})
    assert created.status_code == 201 and created.json["is_default"] is True


def test_nested_paths_name_the_field(desk):
    items = [
        {"order_no": "261121-000000000000001", "courier": "SF", "tracking_no": "SF1234567890"},
        {"order_no": "261121-000000000000002", "courier": "SF", "tracking_no": 1234567890},
    ]
    answer = desk.supplier.post("/supplier/tracking", {"items": items})
    assert refusal(answer) == (422, "validation_error", "items[1].tracking_no")
    items[1] = {**items[0], "extra_tracking_nos": ["SF1", 2]}
    answer = desk.supplier.post("/supplier/tracking", {"items": items})
    assert refusal(answer) == (422, "validation_error", "items[1].extra_tracking_nos[1]")


def test_an_order_with_an_unknown_field_is_refused_alone(desk):
    good, bad = order_json("261121-000000000000001"), order_json("261121-000000000000002")
    bad["lines"][0]["colour"] = "red"
    answer = desk.merchant.upsert(good, bad)
    assert answer["created"] == 1
    [rejected] = answer["rejected"]
    assert (rejected["code"], rejected["field"]) == (
        "validation_error",
        "orders[1].lines[0].colour",
    )
    # what GET answers can be sent back as it is (its read-only fields are ignored)
    order = desk.merchant.order("261121-000000000000001")
    again = desk.merchant.upsert(order)
    assert again["unchanged"] == 1 and again["rejected"] == []


def test_a_string_query_number_is_fine_but_an_unknown_argument_is_not(desk):
    assert desk.merchant.get("/orders", per_page="5").status_code == 200
    answer = desk.merchant.get("/orders", colour="red")
    assert refusal(answer) == (422, "validation_error", "colour")


def test_the_document_is_generated_and_the_reference_page_is_csp_safe(app):
    client = app.test_client()
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    batch = document["components"]["schemas"]["OrderBatch"]
    assert batch["additionalProperties"] is False
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in html and "style=" not in html  # no inline code or styles
    for asset in ("vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css"):
        assert asset in html
        assert client.get(f"/static/{asset}").status_code == 200


def test_answers_are_checked_against_their_schema_in_tests_and_debug_only(
    app, factory, monkeypatch
):
    from portal.api import serializers

    headers = {"Authorization": f"Bearer {factory.token(factory.merchant())}"}
    monkeypatch.setattr(serializers, "me", lambda _user: {"username": 1})
    client = app.test_client()
    with pytest.raises(RuntimeError, match="answer does not match its schema"):
        client.get("/api/v1/me", headers=headers)
    # Production sends what the view made (the check cost a fifth of an order page).
    app.config["API_CHECK_ANSWERS"] = False
    assert client.get("/api/v1/me", headers=headers).json == {"username": 1}
    app.debug = True
    with pytest.raises(RuntimeError, match="answer does not match its schema"):
        client.get("/api/v1/me", headers=headers)


def test_an_operation_without_a_body_refuses_one_that_says_something(app, desk, factory):
    """`{"dry_run": true}` on 立即执行 was ignored and the rules ran for real; a field sent to
    an operation that takes none is an unknown field like any other. Nothing or {} is fine."""
    answer = desk.merchant.post("/allocation-rules/apply", {"dry_run": True})
    assert refusal(answer) == (422, "validation_error", "dry_run")
    s_user = factory.supplier(factory_name="第二家厂")
    binding = desk.merchant.post("/bindings", {"supplier_shop_id": s_user.shop_id}).json
    supplier = Api(app.test_client(), factory.token(s_user))
    answer = supplier.post(f"/bindings/{binding['id']}/accept", {"reason": "ok"})
    assert refusal(answer) == (422, "validation_error", "reason")
    answer = supplier.client.post(
        f"/api/v1/bindings/{binding['id']}/accept",
        data="yes",
        headers={**supplier.headers, "Content-Type": "text/plain"},
    )
    assert refusal(answer)[:2] == (400, "invalid_request")
    assert supplier.get("/bindings").json["items"][0]["status"] == "pending"
    assert supplier.post(f"/bindings/{binding['id']}/accept", {}).json["status"] == "active"
    assert desk.merchant.post("/allocation-rules/apply").status_code == 200


def test_every_operation_without_a_body_refuses_an_unknown_field(app, desk):
    """Every such operation of the generated document: its role answers 422 naming the field
    (the other role gets the role gate's 403), whatever the path names."""
    document = app.test_client().get("/api/v1/openapi.json").json
    ids = {"order_no": "261121-000000000000001"}
    operations = [
        (method, path)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if method in ("post", "put", "patch", "delete") and "requestBody" not in operation
    ]
    assert len(operations) >= 10
    missed = []
    for method, path in operations:
        url = "/api/v1" + re.sub(r"\{(\w+)\}", lambda m: ids.get(m[1], "1"), path)
        statuses = set()
        for api in (desk.merchant, desk.supplier):
            answer = api.client.open(
                url, method=method.upper(), json={"unexpected": 1}, headers=api.headers
            )
            assert answer.status_code in (403, 422), (method, path, answer.json)
            if answer.status_code == 422:
                assert answer.json["error"]["field"] == "unexpected", (method, path)
            statuses.add(answer.status_code)
        if 422 not in statuses:
            missed.append((method, path, statuses))
    assert missed == []

"""The API reference page (/api/v1/docs) in chromium under the app's real CSP: Swagger UI from
the vendored files renders every operation of the generated document, with no console error
(a blocked script, style or eval is one) and nothing fetched from another origin."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from tests.e2e_helpers import DESKTOP, ConsoleErrors, live_server

pytestmark = pytest.mark.browser


def test_the_reference_page_renders_every_operation_under_the_csp(
    tmp_path: Path, chromium: Browser
) -> None:
    with live_server(tmp_path) as server:
        context = chromium.new_context(viewport=DESKTOP)
        page = context.new_page()
        console = ConsoleErrors()
        console.watch(page, "reader")
        origins: set[str] = set()
        page.on("request", lambda request: origins.add(urlsplit(request.url).netloc))
        answer = page.goto(f"{server.base_url}/api/v1/docs")
        assert answer is not None and answer.ok
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        page.wait_for_selector(".opblock", timeout=20_000)
        document = page.request.get(f"{server.base_url}/api/v1/openapi.json").json()
        operations = sum(len(methods) for methods in document["paths"].values())
        assert page.locator(".opblock").count() == operations
        assert page.locator(".opblock-summary-path", has_text="/orders/{order_no}").count() >= 1
        assert console.errors == []
        assert origins == {urlsplit(server.base_url).netloc}
        context.close()

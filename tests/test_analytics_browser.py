"""The 数据 page in chromium: the vendored ECharts draws under the CSP, on a desktop and a phone.

Console errors (a CSP violation is one) fail the test; the chart's numbers stay in a table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import make_url

from tests.e2e_helpers import (
    DESKTOP,
    E2E_DATABASE,
    PHONE,
    ROOT,
    ConsoleErrors,
    LiveServer,
    live_server,
    server_environment,
)

pytestmark = pytest.mark.browser
PASSWORD = "e2e-correct-horse-9"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict]]:
    tmp = tmp_path_factory.mktemp("analytics")
    with live_server(tmp) as running:
        # The same environment as the server's (live_server made the database), for the CLI.
        pg_url = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
        url = (
            make_url(pg_url).set(database=E2E_DATABASE).render_as_string(hide_password=False)
            if pg_url
            else f"sqlite:///{tmp / 'portal.db'}"
        )
        yield running, server_environment(tmp, url)


def create_merchant(env: dict, username: str) -> None:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "portal", "create-user"]
    command += [username, "--role", "merchant", "--password", PASSWORD]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_chart_draws_under_the_csp(server: tuple, chromium: Browser, viewport: dict) -> None:
    server, env = server
    username = f"chart{viewport['width']}"
    create_merchant(env, username)
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    console = ConsoleErrors()
    console.watch(page, "merchant")
    page.goto(f"{server.base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/merchant/**")
    page.goto(f"{server.base_url}/merchant/analytics?period=30d")
    chart = page.locator(".chart")
    expect(chart).to_be_visible()
    assert not console.errors, console.errors
    expect(chart.locator("canvas")).to_have_count(1)
    box = chart.bounding_box()
    assert box and box["width"] <= viewport["width"] and box["height"] >= 200
    # The period form swaps the report in with htmx; the chart is drawn again.
    page.check("input[name=period][value=today]")
    page.click("form.analytics-period button[type=submit]")
    expect(page.locator("#analytics-daily tbody tr")).to_have_count(1)
    expect(chart.locator("canvas")).to_have_count(1)
    page.click("details.chart-data summary")
    expect(page.locator("#analytics-daily")).to_be_visible()
    # Nothing wider than the screen but the scrolling tables.
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"] + 1
    assert not console.errors, console.errors
    context.close()

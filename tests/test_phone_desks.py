"""Both order desks in a real browser at phone width (390 px) and on a laptop (1366 px).

At 390 px the desks are cards (nothing scrolls sideways), the tab strip scrolls with a visible
cue instead of wrapping or hiding tabs, the filters fold behind 筛选 so the first order is on
the first screen, every control is at least 40 px tall and the print toolbar is one line. At
1366 px the same desks are tables. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.cli import DEMO_PASSWORD
from tests.e2e_helpers import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    LiveServer,
    horizontal_overflow,
    live_server,
    wider_than_viewport,
)

pytestmark = pytest.mark.browser

DESKS = (("demo_shop", "/merchant/orders?tab=all"), ("demo_factory", "/supplier/orders"))
# Visible controls of the desk smaller than 40 px: [tag, text, height].
# A checkbox inside its label is tapped through the label.
SMALL_TARGETS = """() => [...document.querySelectorAll(
    '#order-desk a, #order-desk button, #order-desk select, #order-desk input:not([type=hidden])')]
  .filter(el => el.offsetParent !== null && !el.closest('.sr-only'))
  .map(el => [el.tagName, (el.textContent || el.name || '').trim().slice(0, 20),
              (el.closest('label') || el).getBoundingClientRect().height])
  .filter(([, , height]) => height < 39.5)"""
# Distinct tops of the print toolbar's visible children (one line: one top, give or take).
TOOLBAR_TOPS = """() => [...document.querySelectorAll('#print-options > *')]
  .filter(el => el.offsetParent !== null)
  .map(el => Math.round(el.getBoundingClientRect().top + el.getBoundingClientRect().height / 2))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("phone")) as running:
        running.portal("demo")
        yield running


def open_desk(chromium: Browser, server: LiveServer, username: str, path: str, size: dict) -> Page:
    """The desk at this size once its counts are in, photographed, nothing wider than the
    screen."""
    page = chromium.new_context(viewport=size).new_page()
    page.goto(f"{server.base_url}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{server.base_url}{path}")
    page.wait_for_load_state("load")
    # The tab bar loads its counts itself once shown.
    expect(page.locator("#order-tabs .count.pending")).to_have_count(0)
    role = "merchant" if username == "demo_shop" else "factory"
    shot(page, f"{role}-desk-{size['width']}")
    scroll_width, inner_width = horizontal_overflow(page)
    assert scroll_width <= inner_width + 1, wider_than_viewport(page)
    return page


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


@pytest.mark.parametrize(("username", "path"), DESKS)
def test_desks_are_cards_at_phone_width(chromium, server, username, path):
    page = open_desk(chromium, server, username, path, PHONE)
    role = "merchant" if username == "demo_shop" else "factory"
    # Cards: no header row, each order a block the width of the screen, no sideways table.
    expect(page.locator(".orders-table thead th:not(.check)").first).to_be_hidden()
    first = page.locator("#order-list tbody tr").first
    expect(first).to_have_css("display", "block")
    box = first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
    # The filters are folded: the first order is on the first screen.
    assert box["y"] < PHONE["height"], box
    toggle = page.locator("[data-filters-toggle]")
    expect(toggle).to_be_visible()
    folded = page.locator("#order-filters > .field:not(.grow)").first
    expect(folded).to_be_hidden()
    toggle.click()
    expect(folded).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    shot(page, f"{role}-desk-390-filters")
    toggle.click()
    expect(folded).to_be_hidden()

    # Every tab is there; the strip scrolls sideways (it does not wrap) and its last tab can
    # be brought on screen.
    strip = page.locator("#order-tabs")
    widths = strip.evaluate("el => [el.scrollWidth, el.clientWidth, el.offsetHeight]")
    tabs = strip.locator("a.tab")
    assert widths[0] > widths[1], "the tab strip fits: nothing to scroll at 390 px?"
    heights = {round(b["y"]) for b in (t.bounding_box() for t in tabs.all()) if b}
    assert len(heights) == 1, "the tabs wrap onto several lines"
    # The cue: a scroll shadow painted at the strip's edge.
    assert "radial-gradient" in strip.evaluate("el => getComputedStyle(el).backgroundImage")
    last = tabs.last
    last.scroll_into_view_if_needed()
    last_box = last.bounding_box()
    assert last_box is not None and last_box["x"] + last_box["width"] <= PHONE["width"] + 1

    assert page.evaluate(SMALL_TARGETS) == []

    if role == "factory":
        tops = page.evaluate(TOOLBAR_TOPS)
        assert tops and max(tops) - min(tops) <= 4, tops  # one line
        # The inline 回传 is reachable in the card, not off-screen to the right.
        button = first.get_by_role("button", name="回传")
        button.scroll_into_view_if_needed()
        button_box = button.bounding_box()
        assert button_box is not None
        assert button_box["x"] + button_box["width"] <= PHONE["width"] + 1, button_box


@pytest.mark.parametrize(("username", "path"), DESKS)
def test_desks_are_tables_on_a_laptop(chromium, server, username, path):
    page = open_desk(chromium, server, username, path, DESKTOP)
    expect(page.locator(".orders-table thead")).to_be_visible()
    expect(page.locator("#order-list tbody tr").first).to_have_css("display", "table-row")
    expect(page.locator("[data-filters-toggle]")).to_be_hidden()
    expect(page.locator("#order-filters > .field").last).to_be_visible()

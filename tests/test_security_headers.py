"""Security headers on every kind of answer, and templates the CSP would silently break.

The Content-Security-Policy allows scripts from our own origin only (no inline script, no eval)
and no framing; every answer — full pages, htmx fragments, API JSON, file downloads, static
files and error pages — carries it with nosniff and a same-origin referrer policy. Because the
CSP blocks inline code without a word, every template is scanned for inline <script> bodies,
on*= handlers, style= attributes, javascript: URLs and htmx's eval-based features.
(tests/test_web_basics.py checks the headers of one page and four rendered pages for inline
code; this module covers every kind of answer and every template.)
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

from portal.domain import allocation
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.printing.jobs import create_print_job
from portal.extensions import db
from portal.models import Merchant, Supplier
from tests.factories import demo_order
from tests.test_statements_web import World, build_world, run_queue

TEMPLATES = Path(__file__).resolve().parent.parent / "portal" / "templates"
API = "/api/v1"


def directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            assert words[0] not in parsed, f"directive {words[0]} given twice"
            parsed[words[0]] = words[1:]
    return parsed


def assert_hardened(response, what: str) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy")
    assert policy, f"{what}: no Content-Security-Policy"
    csp = directives(policy)
    assert csp.get("script-src") == ["'self'"], (what, policy)
    assert csp.get("default-src") == ["'self'"], (what, policy)
    assert csp.get("frame-ancestors") == ["'none'"], (what, policy)
    assert csp.get("object-src") == ["'none'"], (what, policy)
    assert csp.get("style-src") == ["'self'"], (what, policy)
    assert csp.get("base-uri") == ["'self'"], (what, policy)
    assert "script-src-elem" not in csp and "script-src-attr" not in csp, (what, policy)
    for forbidden in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:"):
        for name in ("script-src", "default-src"):
            assert forbidden not in csp[name], (what, name, forbidden)
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") == "same-origin", what
    assert headers.get("X-Frame-Options") == "DENY", what


def test_directives_parser_catches_a_weak_policy():
    weak = SimpleNamespace(
        headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }
    )
    with pytest.raises(AssertionError):
        assert_hardened(weak, "weak")


@pytest.fixture
def world(app: Flask, factory, make_browser) -> World:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")  # registered before the first request
    def boom():
        raise RuntimeError("boom")

    return build_world(app, factory, make_browser)


def _print_job(world: World) -> int:
    with world.app.app_context():
        supplier = db.session.get(Supplier, world.supplier_id)
        merchant = db.session.get(Merchant, world.merchant_id)
        upsert_orders(current_keyring(), merchant, [demo_order("261121-h00000000000001")])
        assert allocation.assign_orders(merchant, ["261121-h00000000000001"], supplier, None).done
        job = create_print_job(supplier, ["261121-h00000000000001"], "SF", "100x180", "", None)
        db.session.commit()
        return job.job.id


def test_every_kind_of_answer_is_hardened(app, world):
    merchant, supplier = world.merchant, world.supplier
    job_id = _print_job(world)
    assert world.request().status_code == 200
    statement_id = world.statement_ids()[-1]
    assert run_queue(app) >= 1
    bearer = {"Authorization": f"Bearer {world.supplier_token}"}
    api = app.test_client()

    requests = {
        "login page": lambda: api.get("/login"),
        "merchant page": lambda: merchant.get("/merchant/"),
        "merchant orders page": lambda: merchant.get("/merchant/orders"),
        "supplier desk page": lambda: supplier.get("/supplier/orders"),
        "supplier desk fragment": lambda: supplier.get(
            "/supplier/orders", htmx=True, target="order-desk"
        ),
        "statement list fragment": lambda: merchant.get(
            "/merchant/statements", htmx=True, target="statement-list"
        ),
        "htmx action answer": lambda: merchant.post(
            "/merchant/suppliers", {"supplier_shop_id": "1"}, target="bindings"
        ),
        "api json": lambda: api.get(f"{API}/me", headers=bearer),
        "api list": lambda: api.get(f"{API}/supplier/orders", headers=bearer),
        "api error 401": lambda: api.get(f"{API}/me"),
        "api error 404": lambda: api.get(f"{API}/statements/999999", headers=bearer),
        "api openapi": lambda: api.get(f"{API}/openapi.json"),
        "api reference": lambda: api.get(f"{API}/docs"),
        "statement csv": lambda: merchant.get(f"/merchant/statements/{statement_id}/download"),
        "statement xlsx": lambda: supplier.get(
            f"/supplier/statements/{statement_id}/download?format=xlsx"
        ),
        "api statement csv": lambda: api.get(
            f"{API}/statements/{statement_id}/download?format=csv", headers=bearer
        ),
        "tracking template csv": lambda: supplier.get("/supplier/tracking/template.csv"),
        "waybill pdf": lambda: supplier.get(f"/supplier/print-jobs/{job_id}/pdf"),
        "api waybill pdf": lambda: api.get(
            f"{API}/supplier/print-jobs/{job_id}/pdf", headers=bearer
        ),
        "static script": lambda: api.get("/static/js/portal.js"),
        "page 404": lambda: merchant.get("/merchant/nope"),
        "page 404 other tenant": lambda: supplier.get("/supplier/statements/999999"),
        "page 403 wrong role": lambda: supplier.get("/merchant/"),
        "page 405": lambda: merchant.get("/logout"),
        "csrf 400": lambda: merchant.client.post(
            "/merchant/suppliers", data={"supplier_shop_id": "1"}
        ),
        "page 500": lambda: merchant.get("/boom"),
        "api 405": lambda: api.get(f"{API}/allocations", headers=bearer),
        "redirect to login": lambda: api.get("/merchant/"),
    }
    answers = {}
    for name, send in requests.items():
        response = send()
        response.get_data()
        # A streamed download keeps its request (and app) context until closed; left open,
        # the next request of any client would reuse its `g` and so its logged-in user.
        response.close()
        answers[name] = response
    kinds = {name: response.mimetype for name, response in answers.items()}
    assert kinds["waybill pdf"] == "application/pdf"
    assert kinds["statement csv"] == "text/csv"
    assert "spreadsheetml" in kinds["statement xlsx"]
    for name in ("waybill pdf", "api waybill pdf", "statement csv", "statement xlsx"):
        assert answers[name].status_code == 200, name
    assert answers["page 500"].status_code == 500
    assert answers["page 404"].status_code == 404
    assert answers["api error 401"].status_code == 401
    assert answers["csrf 400"].status_code == 400
    for name, response in answers.items():
        assert response.status_code >= 300 or response.data, name
        assert_hardened(response, f"{name} ({response.status_code})")


def test_payload_too_large_answer_is_hardened(app, factory):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    token = factory.token(factory.merchant())
    response = app.test_client().post(
        f"{API}/orders/import",
        data={"file": (io.BytesIO(b"x" * 4096), "big.csv")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 413
    assert_hardened(response, "413")


# --- templates -------------------------------------------------------------------------------

# An opening <script> tag; its body must be empty and it must load a src.
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
CHECKS = {
    "inline event handler": re.compile(r"""<[^>]*\s(on[a-z]+)\s*=""", re.I | re.S),
    "style attribute": re.compile(r"""<[^>]*\sstyle\s*=""", re.I | re.S),
    "javascript: URL": re.compile(r"javascript\s*:", re.I),
    # htmx evaluates these with Function(): the CSP (and allowEval=false) blocks them.
    "hx-on handler": re.compile(r"\s(?:data-)?hx-on[:\-=]", re.I),
    "eval in hx-vals/hx-vars": re.compile(
        r"""hx-(?:vals|vars)\s*=\s*['"]\s*(?:js|javascript):""", re.I
    ),
    "hx-trigger filter expression": re.compile(r"""hx-trigger\s*=\s*['"][^'"]*\[""", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
}


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def template_problems(path: Path, root: Path = TEMPLATES) -> list[str]:
    text = path.read_text(encoding="utf-8")
    # Jinja comments may mention anything.
    scanned = re.sub(r"\{#.*?#\}", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    name = path.relative_to(root)
    problems = []
    for match in SCRIPT_TAG.finditer(scanned):
        attributes, body = match.groups()
        if body.strip() or "src=" not in attributes:
            problems.append(f"{name}:{_line(scanned, match.start())}: inline <script>")
    for what, pattern in CHECKS.items():
        for match in pattern.finditer(scanned):
            problems.append(f"{name}:{_line(scanned, match.start())}: {what}")
    return problems


def test_templates_hold_nothing_the_csp_would_block():
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 40
    problems = [problem for path in templates for problem in template_problems(path)]
    assert not problems, "\n".join(problems)


def test_template_scan_finds_each_kind_of_problem(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<p>ok</p>\n"
        "<script>alert(1)</script>\n"
        '<button onclick="go()">x</button>\n'
        '<div style="color: red">x</div>\n'
        '<a href="javascript:void(0)">x</a>\n'
        '<div hx-on:click="go()">x</div>\n'
        "<div hx-vals='js:{a: 1}'>x</div>\n"
        '<script src="/static/x.js"></script>\n'
        "{# <script>fine in a comment</script> #}\n",
        encoding="utf-8",
    )
    problems = template_problems(bad, tmp_path)
    found = {(p.split(":")[1], p.split(": ", 1)[1]) for p in problems}
    assert found == {
        ("2", "inline <script>"),
        ("3", "inline event handler"),
        ("4", "style attribute"),
        ("5", "javascript: URL"),
        ("6", "hx-on handler"),
        ("7", "eval in hx-vals/hx-vars"),
    }


def test_htmx_is_configured_for_the_csp(browser, factory):
    """htmx would inject an indicator <style> and may eval: both are switched off."""
    browser.login(factory.merchant().username)
    html = browser.get("/merchant/").get_data(as_text=True)
    config = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', html)
    assert config, "no htmx-config meta"
    values = json.loads(config.group(1))
    assert values["allowEval"] is False and values["includeIndicatorStyles"] is False

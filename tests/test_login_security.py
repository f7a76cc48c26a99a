"""Signing in safely: lockouts nobody can aim at someone else, proxies, non-ASCII next URLs,
and reads that never fail because of bookkeeping (API token use, label renders)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from datetime import timedelta

import pytest
from flask import request
from sqlalchemy import event
from werkzeug.test import EnvironBuilder

from portal import create_app
from portal.domain import accounts
from portal.domain.errors import DomainError
from portal.extensions import db
from portal.models import ApiToken, User
from portal.models.base import utcnow
from tests.conftest import PASSWORD, PG_URL, config
from tests.test_api_supplier import desk, nos  # noqa: F401  (the supplier API fixture)


def _login_from(make_browser, address: str, username: str, password: str = PASSWORD):
    browser = make_browser()
    browser.client.environ_base["REMOTE_ADDR"] = address
    return browser.login(username, password)


def test_failures_from_one_address_do_not_lock_the_account_elsewhere(app, factory, make_browser):
    user = factory.merchant()
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 3):
        _login_from(make_browser, "203.0.113.9", user.username, "nope-nope")
    # the attacking address is locked out of that account …
    refused = _login_from(make_browser, "203.0.113.9", user.username)
    assert "登录失败次数过多" in refused.get_data(as_text=True)
    assert "HX-Redirect" not in refused.headers
    # … the owner, from anywhere else, is not
    ok = _login_from(make_browser, "198.51.100.7", user.username)
    assert ok.headers["HX-Redirect"] == "/merchant/"


def test_a_distributed_guess_meets_growing_delays_then_a_ceiling(app_ctx, factory):
    user = factory.merchant()
    throttle = accounts.Throttle(
        max_failures=5,
        max_failures_per_ip=30,
        window=timedelta(minutes=15),
        max_failures_per_username=20,
        delay_after=10,
        max_delay=timedelta(seconds=30),
    )
    now = utcnow()

    def attempt(ip: str, password: str = "wrong-pass-1") -> str:  # noqa: S107
        try:
            accounts.authenticate(user.username, password, ip, throttle, now=now)
        except DomainError as error:
            db.session.commit()
            return error.code
        db.session.commit()
        return "ok"

    # 10 failures from 10 addresses: no delay yet
    for i in range(10):
        assert attempt(f"10.0.0.{i}") == "invalid_credentials"
    # from the 10th failure on, the next try must wait 2 s, then 4 s, 8 s … up to 30 s
    assert attempt("10.0.1.1") == "login_delayed"
    waits = []
    for i in range(10):
        delay = throttle.delay(10 + i)
        waits.append(delay)
        assert attempt(f"10.0.2.{i}") == "login_delayed"
        now += delay
        assert attempt(f"10.0.2.{i}") == "invalid_credentials"
    assert waits[:3] == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
    assert max(waits) == timedelta(seconds=30)
    # 20 failures for the username: locked for everyone, even with the right password
    now += timedelta(minutes=2)
    assert attempt("10.0.3.1", PASSWORD) == "login_throttled"


def test_the_delay_is_shown_in_seconds(app, factory, make_browser):
    app.config.update(LOGIN_DELAY_AFTER_FAILURES=2, LOGIN_MAX_DELAY=timedelta(minutes=1))
    user = factory.supplier()
    for i in range(2):
        _login_from(make_browser, f"192.0.2.{i}", user.username, "nope-nope")
    response = _login_from(make_browser, "192.0.2.99", user.username)
    assert "请 2 秒后再试" in response.get_data(as_text=True)
    assert "HX-Redirect" not in response.headers


def test_a_login_forgives_only_its_own_address(app_ctx, factory):
    user = factory.merchant()
    throttle = accounts.Throttle.from_config(app_ctx.config)
    now = utcnow() - timedelta(minutes=5)
    for ip in ("10.9.0.1", "10.9.0.2"):
        for _ in range(2):
            try:
                accounts.authenticate(user.username, "wrong-pass-1", ip, throttle, now=now)
            except DomainError:
                db.session.commit()
    accounts.authenticate(user.username, PASSWORD, "10.9.0.1", throttle)
    db.session.commit()
    remaining = db.session.scalars(db.select(accounts.LoginFailure.ip)).all()
    assert remaining == ["10.9.0.2", "10.9.0.2"]


def _proxied_app(tmp_path, database_url, hops):
    return create_app(
        config(
            SQLALCHEMY_DATABASE_URI=database_url,
            KEYS_FILE=str(tmp_path / "keys.json"),
            QUEUE_FILE=str(tmp_path / "queue.db"),
            TRUSTED_PROXIES=hops,
        )
    )


def test_behind_a_trusted_proxy_each_client_is_throttled_alone(tmp_path, database_url, app):
    from tests.conftest import Browser, Factory

    proxied = _proxied_app(tmp_path, database_url, 1)
    victim = Factory(app).merchant()

    def login(client_ip: str, password: str):
        browser = Browser(proxied.test_client())
        browser.client.environ_base.update(
            REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"1.2.3.4, {client_ip}"
        )
        return browser.login(victim.username, password)

    # one client behind the proxy fails often enough to lock any shared address …
    for _ in range(proxied.config["LOGIN_MAX_FAILURES_PER_IP"]):
        login("203.0.113.50", "nope-nope")
    # … and only it is locked: another client behind the same proxy logs in
    assert login("198.51.100.20", PASSWORD).headers["HX-Redirect"] == "/merchant/"
    with proxied.app_context():
        addresses = set(db.session.scalars(db.select(accounts.LoginFailure.ip)))
    # one hop trusted: the forged first entry (1.2.3.4) is not believed
    assert addresses == {"203.0.113.50"}


def _seen_by_the_app(app, remote_addr: str, headers: dict[str, str]) -> dict[str, str]:
    seen: dict[str, str] = {}

    @app.get("/_test/remote-addr")
    def remote_addr_view():
        seen.update(addr=request.remote_addr, scheme=request.scheme)
        return ""

    app.test_client().get(
        "/_test/remote-addr", environ_base={"REMOTE_ADDR": remote_addr}, headers=headers
    )
    return seen


def test_without_trusted_proxies_forwarded_headers_are_ignored(app):
    forged = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"}
    assert _seen_by_the_app(app, "127.0.0.1", forged) == {"addr": "127.0.0.1", "scheme": "http"}


def test_trusted_proxy_sets_client_address_and_scheme(tmp_path, database_url):
    proxied = _proxied_app(tmp_path, database_url, 1)
    headers = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7", "X-Forwarded-Proto": "https"}
    seen = _seen_by_the_app(proxied, "127.0.0.1", headers)
    assert seen == {"addr": "203.0.113.7", "scheme": "https"}


def test_the_access_log_sees_the_client_behind_a_trusted_proxy(tmp_path, database_url):
    """gunicorn logs the request's REMOTE_ADDR (%(h)s) after the app answered: ProxyFix sets it
    in the same environ, so the log names the client, not the proxy."""
    proxied = _proxied_app(tmp_path, database_url, 1)
    environ = EnvironBuilder(
        path="/login", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}
    ).get_environ()
    environ["REMOTE_ADDR"] = "127.0.0.1"
    list(proxied.wsgi_app(environ, lambda status, headers, exc_info=None: None))
    assert environ["REMOTE_ADDR"] == "203.0.113.9"


def test_htmx_login_with_a_non_ascii_next_redirects(browser, factory):
    user = factory.merchant()
    browser.refresh_token("/login")
    response = browser.client.post(
        "/login",
        query_string={"next": "/merchant/orders?q=欧阳娜娜"},
        data={"username": user.username, "password": PASSWORD},
        headers=browser.headers(True, None),
    )
    assert response.status_code == 200
    location = response.headers["HX-Redirect"]
    assert location == "/merchant/orders?q=%E6%AC%A7%E9%98%B3%E5%A8%9C%E5%A8%9C"
    location.encode("ascii")


# --- API tokens: a read never fails because of the last-used stamp -----------------------------


def _token_last_used(app, token_id=None):
    with app.app_context():
        return db.session.scalar(db.select(ApiToken.last_used_at))


def _sqlite_path(app) -> str:
    with app.app_context():
        return db.engine.url.database


@pytest.fixture(params=["rate limit off", "rate limit on"])
def counted(request, app):
    """Both ways an API read starts: without the rate limit, and counted first in its own
    transaction (portal.transactions.write_first)."""
    if request.param == "rate limit on":
        app.config.update(API_RATE_LIMIT=50.0, API_RATE_BURST=100)
    return request.param


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock")
def test_a_get_succeeds_while_another_request_holds_the_write_lock(app, factory, counted):
    user = factory.merchant()
    token = factory.token(user)
    writer = sqlite3.connect(_sqlite_path(app), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # an import, a dispatch … mid-transaction
    try:
        started = time.monotonic()
        response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        elapsed = time.monotonic() - started
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert response.status_code == 200, response.get_json()
    assert elapsed < 10  # not the 30 s busy timeout: a generous bound, not a benchmark
    assert _token_last_used(app) is None  # skipped, best effort; the next request stamps it
    app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert _token_last_used(app) is not None


def _another_request_writes_after(app, marker: str) -> list[bool]:
    """Right after the request under test reads `marker`, another request commits a write
    (or tries to, without waiting, when the request under test holds the write lock)."""
    path = _sqlite_path(app)
    wrote: list[bool] = []

    def write_meanwhile(conn, cursor, statement, *args):
        if marker in statement and not wrote:
            other = sqlite3.connect(path, isolation_level=None, timeout=0)
            with contextlib.suppress(sqlite3.OperationalError):
                other.execute(
                    "INSERT INTO login_failures (username, ip, created_at)"
                    " VALUES ('someone', '192.0.2.1', '2000-01-01 00:00:00.000000')"
                )
                wrote.append(True)
            other.close()
            wrote.append(False)

    with app.app_context():
        event.listen(db.engine, "after_cursor_execute", write_meanwhile)
    return wrote


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's snapshots")
def test_a_get_succeeds_when_another_request_writes_during_it(app, factory):
    user = factory.merchant()
    token = factory.token(user)
    wrote = _another_request_writes_after(app, "FROM api_tokens")
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert wrote == [True, False]
    assert response.status_code == 200, response.get_json()
    assert _token_last_used(app) is not None


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's snapshots")
def test_a_label_pdf_is_served_while_other_requests_write(app, desk):  # noqa: F811
    [no] = nos(1)
    desk.orders(no)
    job = desk.supplier.print_job([no]).json
    # The render is recorded (print count, audit): this GET writes, so it takes the write
    # lock up front instead of failing when another request wrote since it began reading.
    wrote = _another_request_writes_after(app, "FROM print_jobs")
    response = desk.supplier.get(f"/supplier/print-jobs/{job['id']}/pdf")
    assert wrote and response.status_code == 200
    assert response.mimetype == "application/pdf"


def test_token_use_is_stamped_at_most_once_a_minute(app, factory):
    user = factory.supplier()
    token = factory.token(user)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    client.get("/api/v1/me", headers=headers)
    first = _token_last_used(app)
    assert first is not None
    client.get("/api/v1/me", headers=headers)
    assert _token_last_used(app) == first
    with app.app_context():
        db.session.execute(db.update(ApiToken).values(last_used_at=first - timedelta(minutes=2)))
        db.session.commit()
    client.get("/api/v1/me", headers=headers)
    assert _token_last_used(app) > first - timedelta(minutes=2)


def test_a_label_pdf_is_drawn_after_its_bookkeeping_is_committed(app, desk, monkeypatch):  # noqa: F811
    """Drawing a big PDF takes seconds: other requests must be able to write meanwhile."""
    from portal.domain.printing import jobs
    from portal.transactions import write_apart

    [no] = nos(1, prefix="261121-3200000000000")
    desk.orders(no)
    job = desk.supplier.print_job([no]).json
    draw = jobs.render_labels
    others_wrote: list[bool] = []

    def draw_while_another_request_writes(*args, **kwargs):
        with app.app_context():
            stamp = db.update(ApiToken).where(ApiToken.id < 0).values(last_used_at=utcnow())
            others_wrote.append(write_apart(stamp, "test") is not None)
            order = db.update(jobs.Order).where(jobs.Order.order_no == no)
            others_wrote.append(write_apart(order.values(updated_at=utcnow()), "test") is not None)
        return draw(*args, **kwargs)

    monkeypatch.setattr(jobs, "render_labels", draw_while_another_request_writes)
    response = desk.supplier.get(f"/supplier/print-jobs/{job['id']}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert others_wrote == [True, True]
    with app.app_context():  # the render is still counted
        assert (
            db.session.scalar(db.select(jobs.Order.print_count).where(jobs.Order.order_no == no))
            == 1
        )


def _sign_up(make_browser, address: str, username: str):
    browser = make_browser()
    browser.client.environ_base["REMOTE_ADDR"] = address
    browser.refresh_token("/signup")
    form = {"username": username, "password": "s3cret-pass", "password_confirm": "s3cret-pass"}
    return browser.post("/signup", form)


def test_sign_up_never_confirms_that_an_account_exists(app, factory, make_browser):
    taken = factory.merchant().username
    answers = {
        name: _sign_up(make_browser, "203.0.113.20", name).get_data(as_text=True)
        for name in (taken, "admin")  # an account, and a name nobody may take
    }
    for name, body in answers.items():
        assert "已被注册" not in body, name
        assert "该用户名不可用，请换一个用户名" in body, name
    with app.app_context():
        assert (
            db.session.scalar(
                db.select(db.func.count()).select_from(User).where(User.username == taken)
            )
            == 1
        )  # no second account


def test_probing_usernames_from_one_address_meets_the_address_lock(app, factory, make_browser):
    taken = factory.merchant().username
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_IP"]):
        _sign_up(make_browser, "203.0.113.21", taken)
    refused = _sign_up(make_browser, "203.0.113.21", "brand_new_shop")
    assert "请 15 分钟后再试" in refused.get_data(as_text=True)
    assert "HX-Redirect" not in refused.headers
    # another address signs up as usual, and the account owner still logs in
    assert _sign_up(make_browser, "198.51.100.21", "brand_new_shop").headers["HX-Redirect"]
    browser = make_browser()
    browser.client.environ_base["REMOTE_ADDR"] = "198.51.100.22"
    assert browser.login(taken).headers["HX-Redirect"] == "/merchant/"

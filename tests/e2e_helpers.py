"""Helpers for the browser end-to-end story (tests/test_e2e_browser.py).

The real app runs in a subprocess (`flask --app wsgi portal serve`: gunicorn, one worker, the
embedded queue with its in-process job worker) against its own database; Playwright drives
Debian's chromium (/usr/bin/chromium, never a downloaded browser) against it. Every page's
console errors and uncaught exceptions are collected (a CSP violation is a console error).
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_EXPORT = ROOT / "tests" / "data" / "pdd_orders_export_gbk.csv"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
E2E_DATABASE = "test_e2e"  # the dedicated PostgreSQL database when PORTAL_TEST_DATABASE_URL is set

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


# --- the app in a subprocess ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def e2e_database_url(tmp: Path) -> str:
    """A fresh SQLite file, or a freshly created `test_e2e` database next to the PostgreSQL
    test database when PORTAL_TEST_DATABASE_URL is set (never the shared test database)."""
    pg_url = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
    if not pg_url:
        return f"sqlite:///{tmp / 'portal.db'}"
    url = make_url(pg_url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{E2E_DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{E2E_DATABASE}"'))
    engine.dispose()
    return url.set(database=E2E_DATABASE).render_as_string(hide_password=False)


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # for CLI commands against its database

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def run(self, *command: str, timeout: float = 300) -> str:
        """A command of ours against the server's database (its environment); its output."""
        done = subprocess.run(
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def python(self, script: str) -> str:
        """A Python script (`python -c`) against the server's database; its output."""
        return self.run(sys.executable, "-c", script, timeout=120)

    def portal(self, *args: str) -> str:
        """`flask --app wsgi portal …` against the server's database; its output."""
        return self.run(sys.executable, "-m", "flask", "--app", "wsgi", "portal", *args)


def server_environment(tmp: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_DATABASE_URL=database_url,
        PORTAL_KEYS_FILE=str(tmp / "data-keys.json"),
        PORTAL_SECRET_KEY="e2e-browser-secret-key-not-for-production-0123456789",
        PORTAL_CREATE_KEYS="true",
        PORTAL_INSTANCE_PATH=str(tmp / "instance"),
        # gunicorn's control socket defaults to ~/.gunicorn/gunicorn.ctl, shared with any other
        # gunicorn on the machine: the test server keeps to itself.
        GUNICORN_CMD_ARGS="--no-control-socket",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def live_server(tmp: Path) -> Iterator[LiveServer]:
    env = server_environment(tmp, e2e_database_url(tmp))
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    migrated = subprocess.run(
        [*flask, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*flask, "portal", "serve", "--port", str(port), "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: gunicorn's worker dies with it
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path, env)
    try:
        wait_until_up(server)
        yield server
    finally:
        stop_process_group(process)


def wait_until_up(server: LiveServer, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the app exited at start-up:\n{server.log_tail()}")
        try:
            login = f"{server.base_url}/login"  # http://127.0.0.1:<port>, built here
            with urllib.request.urlopen(login, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"the app did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def stop_process_group(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


# --- console errors ---------------------------------------------------------------------------


@dataclass
class ConsoleErrors:
    """Console messages of type error and uncaught page errors, from every page watched.

    A step that expects the browser to log a refused request (an htmx form answered 422 with
    its errors) says so with `expecting(pattern)`: only matching messages logged inside the
    block are set aside."""

    errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    _allow: list[re.Pattern[str]] = field(default_factory=list)

    def watch(self, page: Page, who: str) -> None:
        page.on("console", lambda msg: self._console(who, page, msg))
        page.on("pageerror", lambda exc: self._add(who, page, f"pageerror: {exc}"))

    def _console(self, who: str, page: Page, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self._add(who, page, f"console.error: {msg.text}")

    def _add(self, who: str, page: Page, message: str) -> None:
        line = f"[{who}] {page.url}: {message}"
        if any(p.search(message) for p in self._allow):
            self.expected.append(line)
        else:
            self.errors.append(line)

    @contextmanager
    def expecting(self, pattern: str) -> Iterator[None]:
        compiled = re.compile(pattern)
        self._allow.append(compiled)
        try:
            yield
        finally:
            self._allow.remove(compiled)


# --- files built by the test ------------------------------------------------------------------


def read_sample() -> tuple[list[str], list[dict[str, str]]]:
    with SAMPLE_EXPORT.open(encoding="gbk", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def order_no(row: dict[str, str]) -> str:
    """The export writes order numbers with a leading tab (so Excel keeps them as text)."""
    return row["订单号"].strip()


def write_export(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("gbk"))
    return path


def later_orders(rows: list[dict[str, str]], count: int) -> list[dict[str, str]]:
    """`count` new clean orders (awaiting shipment, no after-sale, no audit hold, complete
    address), cloned from the sample's clean ones with new order numbers and phones."""
    clean = [
        r
        for r in rows
        if r["订单状态"] == "待发货"
        and r["是否审核中"] == "否"
        and r["售后状态"] == "无售后或售后取消"
        and not r["快递单号"]
    ]
    made = []
    for i in range(count):
        row = dict(clean[i % len(clean)])
        row["订单号"] = f"\t261121-90000000000{i:04d}"
        row["手机"] = f"1370000{i:04d}"
        made.append(row)
    return made


def tracking_csv(path: Path, lines: list[tuple[str, str, str]]) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["订单号", "快递公司", "快递单号"])
    writer.writerows(lines)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# --- page checks ------------------------------------------------------------------------------

NO_OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def horizontal_overflow(page: Page) -> tuple[int, int]:
    scroll_width, inner_width = page.evaluate(NO_OVERFLOW)
    return scroll_width, inner_width


# The outermost elements sticking out of the viewport on the right (not those inside a
# scrolling box): what makes the page wider than the screen, for the failure message.
STICKING_OUT = """() => {
    const out = [];
    const width = window.innerWidth;
    const scrolls = (el) => {
        for (let p = el.parentElement; p; p = p.parentElement) {
            if (getComputedStyle(p).overflowX !== 'visible') return true;
        }
        return false;
    };
    for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.right > width + 1 && r.width > 0 && !scrolls(el)) {
            const classes = typeof el.className === 'string' ? el.className.trim() : '';
            const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                (classes ? '.' + classes.split(/\\s+/).join('.') : '');
            out.push(name + ' right=' + Math.round(r.right));
        }
        if (out.length >= 12) break;
    }
    return out;
}"""


def wider_than_viewport(page: Page) -> list[str]:
    return page.evaluate(STICKING_OUT)

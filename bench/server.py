"""The HTTP section: gunicorn (2 workers, as `portal serve`) on 127.0.0.1, a real login, then
bounded load from a second process against the order list and against a minimal endpoint.

gunicorn runs in its own process group; whatever happens (an exception, Ctrl-C, SIGTERM), the
group is terminated, then killed if it lingers.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.sections import CSRF_RE

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# As `portal serve` starts gunicorn (portal/cli.py serve_command).
WORKERS = 2
THREADS = 4
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log_dir: Path) -> Iterator[int]:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    for log in ("gunicorn-access.log", "gunicorn-error.log"):
        (log_dir / log).unlink(missing_ok=True)  # one run's logs, not every run's
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(WORKERS),
        "--threads",
        str(THREADS),
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        str(log_dir / "gunicorn-access.log"),
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--error-logfile",
        str(log_dir / "gunicorn-error.log"),
        "bench.wsgi_bench:app",
    ]
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
        command, cwd=ROOT, env={**os.environ, **env}, start_new_session=True
    )
    try:
        _wait_ready(process, port)
        yield port
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (master and workers), SIGKILL after 10 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_ready(process: subprocess.Popen, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode} (see its error log)")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/__bench/ping", timeout=2
            ) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within a minute")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def login_cookie(port: int, username: str, password: str, desk: str) -> str:
    """Log in like a browser (CSRF token from the form); the session cookie header to send."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    base = f"http://127.0.0.1:{port}"
    page = opener.open(f"{base}/login", timeout=10).read().decode("utf-8")
    match = CSRF_RE.search(page)
    if not match:
        raise SystemExit("no CSRF token on /login")
    token = match.group(1) or match.group(2)
    body = urllib.parse.urlencode(
        {"csrf_token": token, "username": username, "password": password}
    ).encode()
    request = urllib.request.Request(  # noqa: S310  (http://127.0.0.1 only)
        f"{base}/login", data=body, headers={"X-CSRFToken": token}, method="POST"
    )
    try:
        opener.open(request, timeout=10).read()
    except urllib.error.HTTPError as error:  # a redirect after login is a success
        if error.code not in (302, 303):
            raise SystemExit(f"login failed over HTTP: {error.code}") from None
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    check = urllib.request.Request(  # noqa: S310  (http://127.0.0.1 only)
        f"{base}{desk}", headers={"Cookie": cookie}
    )
    try:
        with opener.open(check, timeout=30) as response:
            if response.status != 200:
                raise SystemExit(f"GET {desk} after login: HTTP {response.status}")
    except urllib.error.HTTPError as error:
        raise SystemExit(f"GET {desk} after login: HTTP {error.code}") from None
    return cookie


def load(
    port: int,
    paths: list[str],
    concurrency: int,
    duration: float,
    warmup: float,
    *,
    cookie: str = "",
    bearer: str = "",
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(BENCH_DIR / "httpload.py"),
        "--port",
        str(port),
        "--cookie",
        cookie,
        "--bearer",
        bearer,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
    ]
    for path in paths:
        command += ["--path", path]
    done = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=True, timeout=duration + warmup + 120
    )
    return json.loads(done.stdout)


@dataclass(frozen=True)
class Client:
    """Who loads one list: a browser login (username, password) or an API token."""

    name: str  # the result's name: http_order_list, http_supplier_list, http_api_orders
    paths: list[str]
    username: str = ""
    password: str = ""
    token: str = ""
    what: str = ""  # said before the figures in the result's note
    reference: bool = False  # a figure to compare with, not judged against the target


def run_http(
    env: dict[str, str],
    log_dir: Path,
    clients: list[Client],
    concurrency: int,
    duration: float,
    warmup: float,
) -> list[dict[str, Any]]:
    """Each list against the ping of the same app in the same run (ping first, then each)."""
    with gunicorn(env, log_dir) as port:
        ping = load(port, ["/__bench/ping"], concurrency, duration, warmup)
        loads = []
        for client in clients:
            cookie = (
                login_cookie(port, client.username, client.password, client.paths[0])
                if client.username
                else ""
            )
            result = load(
                port,
                client.paths,
                concurrency,
                duration,
                warmup,
                cookie=cookie,
                bearer=client.token,
            )
            loads.append((client, result))
    for name, result in [("ping", ping)] + [(c.name, r) for c, r in loads]:
        if result["errors"] or result["ok"] != result["requests"]:
            raise SystemExit(
                f"HTTP {name}: {result['errors']} errors, statuses {result['statuses']}"
            )
    return [
        {
            "section": "http",
            "name": client.name,
            "unit": "req/s",
            "value": result["rps"],
            "raw_value": ping["rps"],
            "ratio": round(ping["rps"] / result["rps"], 1) if result["rps"] else None,
            "share_of_ping": round(result["rps"] / ping["rps"], 3) if ping["rps"] else None,
            "ratio_basis": "ping req/s ÷ list req/s",
            "reference": client.reference,
            "list": result,
            "ping": ping,
            "note": (
                (f"{client.what}; " if client.what else "")
                + f"gunicorn {WORKERS} workers × {THREADS} threads, {concurrency} keep-alive "
                f"clients for {duration:g} s; list p50 {result['p50_ms']} ms p95 "
                f"{result['p95_ms']} ms, {100 * result['rps'] / ping['rps']:.0f} % of ping; "
                f"ping {ping['rps']} req/s p50 {ping['p50_ms']} ms"
            ),
        }
        for client, result in loads
    ]

"""The measured operations: each through the app (services, views) and directly in SQL.

Each `run_*` function opens the app contexts it needs (the list timings run with none, like a
real request) and returns plain dicts for the report. The raw-SQL twin of an operation has the
same effect on the database (same rows changed, same rows inserted) without the portal's Python
around it: no ORM, no validation, no per-order checks, no encryption. The ratio app ÷ raw SQL
is what the portal's own code costs.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, update

from bench.dataset import ORDER_COLUMNS, ORDER_DEFAULTS, PASSWORD, Accounts, naive, shanghai_today
from bench.measure import (
    Profiler,
    counting_statements,
    latency_summary,
    sampling_rss,
    stopwatch,
    traced_peak,
)
from portal.domain import accounts, allocation, allocation_rules, dispatch, import_jobs, tracking
from portal.domain.allocation_rules import RulesInput
from portal.domain.demo_data import (
    PDD_EXPORT_HEADER,
    generate_orders,
    write_douyin_export,
    write_platform_export,
)
from portal.domain.imports.tracking_file import open_tracking_file
from portal.domain.statements import build as statement_build
from portal.domain.statements import clock as statement_clock
from portal.domain.statements import files as statement_files
from portal.domain.statements import requesting as statement_requesting
from portal.extensions import db
from portal.models import Binding, Merchant, Order, OrderEvent, Statement, Supplier, User
from portal.models.allocation import RULE_MANUAL, RULE_SHOP
from portal.models.bindings import BINDING_ACTIVE
from portal.models.orders import EVENT_AUTO_ASSIGNED
from portal.models.settlement import STATEMENT_QUEUED, STATEMENT_READY

CHUNK = 900
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"|name="csrf_token" type="hidden" value="([^"]+)"')
ELIGIBLE = (
    "stage = 'unassigned' AND platform_status = 'awaiting_shipment' "
    "AND after_sale_active = ? AND audit_hold = ? AND address_complete = ?"
)


# --- raw SQL plumbing -------------------------------------------------------------------------


class Raw:
    """DB-API statements on one SQLAlchemy connection; `?` placeholders on both backends."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    def run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.exec_driver_sql(self._sql(sql), tuple(params))

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.exec_driver_sql(self._sql(sql), [tuple(r) for r in rows])

    def ids_by_order_no(self, column: str, owner: int, order_nos: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(order_nos), CHUNK):
            chunk = order_nos[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self.run(
                f"SELECT order_no, id FROM orders WHERE {column} = ? AND order_no IN ({marks})",  # noqa: S608
                [owner, *chunk],
            )
            found.update(dict(rows.all()))
        return found


def _in_chunks(ids: Sequence[int]) -> list[tuple[str, list[int]]]:
    out = []
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        out.append((", ".join("?" * len(chunk)), chunk))
    return out


def in_app_context(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run a section in its own app context (and so its own session), removed afterwards.

    The list timings must run with no app context at all: a test-client request reuses an
    active one, session and identity map included, which no real request would.
    """

    @functools.wraps(function)
    def wrapper(scene: Scene, *args: Any, **kwargs: Any) -> Any:
        with scene.app.app_context():
            try:
                return function(scene, *args, **kwargs)
            finally:
                db.session.remove()

    return wrapper


def raw_transaction(body: Callable[[Raw], Any]) -> Any:
    db.session.remove()  # SQLite: the session's open transaction would hold the write lock
    with db.engine.begin() as conn:
        return body(Raw(conn))


# --- the scene --------------------------------------------------------------------------------


@dataclass
class Scene:
    """Who acts in the benchmark and on which orders (decided from the loaded data)."""

    app: Flask
    engine: Engine
    accounts: Accounts
    work_dir: Path
    profiler: Profiler
    batch: int
    merchant_index: int = 0
    list_suppliers: list[int] = field(default_factory=list)  # merchant 0's top suppliers
    big_supplier_index: int = 0  # the supplier with the most orders
    batch_supplier_index: int = 1  # receives the batch operations
    statement_supplier_index: int = 0
    app_pool: list[str] = field(default_factory=list)
    raw_pool: list[str] = field(default_factory=list)
    stage: dict[str, str] = field(
        default_factory=lambda: {"app": "unassigned", "raw": "unassigned"}
    )
    statements_made: int = 0

    @property
    def merchant_id(self) -> int:
        return self.accounts.merchant_ids[self.merchant_index]

    def merchant(self) -> Merchant:
        return db.session.get(Merchant, self.merchant_id)

    def merchant_user(self) -> User:
        return db.session.get(User, self.accounts.merchant_user_ids[self.merchant_index])

    def supplier(self, index: int) -> Supplier:
        return db.session.get(Supplier, self.accounts.supplier_ids[index])

    def supplier_user(self, index: int) -> User:
        return db.session.get(User, self.accounts.supplier_user_ids[index])


def prepare_scene(scene: Scene) -> None:
    """Pick the list filters, the busiest supplier and the two pools of assignable orders."""
    merchant_id = scene.merchant_id
    by_pair = db.session.execute(
        select(Order.supplier_id, func.count())
        .where(Order.merchant_id == merchant_id, Order.supplier_id.is_not(None))
        .group_by(Order.supplier_id)
        .order_by(func.count().desc())
    ).all()
    index_of = {sid: i for i, sid in enumerate(scene.accounts.supplier_ids)}
    ranked = [index_of[sid] for sid, _n in by_pair]
    scene.list_suppliers = ranked[:3]
    scene.statement_supplier_index = ranked[0]
    scene.batch_supplier_index = ranked[1] if len(ranked) > 1 else ranked[0]
    busiest = db.session.execute(
        select(Order.supplier_id, func.count())
        .where(Order.supplier_id.is_not(None))
        .group_by(Order.supplier_id)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    scene.big_supplier_index = index_of[busiest[0]]
    pool = db.session.scalars(
        select(Order.order_no)
        .where(
            Order.merchant_id == merchant_id,
            Order.stage == "unassigned",
            Order.platform_status == "awaiting_shipment",
            Order.after_sale_active.is_(False),
            Order.audit_hold.is_(False),
            Order.address_complete.is_(True),
        )
        .order_by(Order.id.desc())
        .limit(2 * scene.batch)
    ).all()
    if len(pool) < 2 * scene.batch:
        raise SystemExit(
            f"only {len(pool)} assignable orders for the batch operations; need {2 * scene.batch}"
        )
    scene.app_pool = list(pool[: scene.batch])
    scene.raw_pool = list(pool[scene.batch :])
    db.session.remove()


# --- lists -----------------------------------------------------------------------------------


def login(client: FlaskClient, username: str, password: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    match = CSRF_RE.search(page)
    if not match:
        raise SystemExit("no CSRF token on /login")
    token = match.group(1) or match.group(2)
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password},
        headers={"X-CSRFToken": token},
    )
    if response.status_code not in (200, 302, 303):
        raise SystemExit(f"login as {username} failed: HTTP {response.status_code}")


def merchant_list_urls(scene: Scene, count: int) -> list[str]:
    """One page of 50 of merchant 0's orders, by stage tab and supplier (pages 1–3)."""
    tabs = ("assigned", "returned", "dispatched")
    suppliers = [scene.accounts.supplier_ids[i] for i in scene.list_suppliers]
    urls = []
    for i in range(count):
        tab = tabs[i % 3]
        supplier_id = suppliers[(i // 3) % len(suppliers)]
        page = 1 + (i // 9) % 3
        urls.append(f"/merchant/orders?tab={tab}&supplier_id={supplier_id}&page={page}")
    return urls


def merchant_unassigned_urls(count: int) -> list[str]:
    return [f"/merchant/orders?tab=unassigned&page={1 + i % 3}" for i in range(count)]


SUPPLIER_TABS = ("to_print", "printed", "returned", "dispatched")


def supplier_list_urls(count: int) -> list[str]:
    return [
        f"/supplier/orders?tab={SUPPLIER_TABS[i % 4]}&page={1 + (i // 4) % 3}" for i in range(count)
    ]


@in_app_context
def api_order_urls(scene: Scene, count: int) -> list[str]:
    """GET /api/v1/orders, 50 a page, by stage and supplier (pages 1–3), like the merchant desk."""
    stages = ("assigned", "returned", "dispatched")
    shop_ids = [scene.supplier_user(i).shop_id for i in scene.list_suppliers]
    return [
        f"/api/v1/orders?per_page=50&stage={stages[i % 3]}"
        f"&supplier_shop_id={shop_ids[(i // 3) % len(shop_ids)]}&page={1 + (i // 9) % 3}"
        for i in range(count)
    ]


@in_app_context
def api_token(scene: Scene) -> str:
    """A fresh API token of the benchmark's merchant."""
    _record, token = accounts.create_api_token(scene.merchant_user(), "bench")
    db.session.commit()
    return token


def time_requests(
    scene: Scene,
    client: FlaskClient,
    urls: list[str],
    warmup: int = 10,
    headers: dict[str, str] | None = None,
) -> tuple[dict[str, float], int]:
    """Latency of GETs through the app (test client: WSGI without the network), and the SQL
    statements one request sends."""
    for url in urls[:warmup]:
        client.get(url, headers=headers)
    seconds = []
    # CPU time of this thread too (the test client and SQLite run in it): on a shared machine
    # the wall clock also counts the time spent waiting for a core.
    cpu_seconds = []
    for url in urls:
        started, cpu_started = time.perf_counter(), time.thread_time()
        response = client.get(url, headers=headers)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.thread_time() - cpu_started)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: HTTP {response.status_code}")
    with counting_statements(scene.engine) as counter:
        client.get(urls[0], headers=headers)
    summary = latency_summary(seconds)
    cpu = latency_summary(cpu_seconds)
    summary["cpu_p50_ms"], summary["cpu_p95_ms"] = cpu["p50_ms"], cpu["p95_ms"]
    return summary, counter.statements


def raw_list_timings(scene: Scene, count: int) -> dict[str, dict[str, float]]:
    """The same pages as one plain SELECT each (what the list costs without the app)."""
    merchant_id = scene.merchant_id
    suppliers = [scene.accounts.supplier_ids[i] for i in scene.list_suppliers]
    big = scene.accounts.supplier_ids[scene.big_supplier_index]
    tabs = ("assigned", "returned", "dispatched")
    out: dict[str, dict[str, float]] = {}

    def timed(queries: list[tuple[str, list[Any]]]) -> dict[str, float]:
        seconds = []
        with db.engine.connect() as conn:
            raw = Raw(conn)
            for sql, params in queries[:10]:
                raw.run(sql, params).all()
            for sql, params in queries:
                started = time.perf_counter()
                rows = raw.run(sql, params).all()
                seconds.append(time.perf_counter() - started)
                assert rows is not None
        return latency_summary(seconds)

    merchant_queries = []
    for i in range(count):
        page = (i // 9) % 3
        merchant_queries.append(
            (
                "SELECT * FROM orders WHERE merchant_id = ? AND supplier_id = ? AND stage = ? "
                "ORDER BY id DESC LIMIT 50 OFFSET ?",
                [merchant_id, suppliers[(i // 3) % len(suppliers)], tabs[i % 3], 50 * page],
            )
        )
    out["merchant_list"] = timed(merchant_queries)
    supplier_queries = []
    stage_of = {"to_print": "assigned", "printed": "assigned"}
    for i in range(count):
        tab = SUPPLIER_TABS[i % 4]
        printed = ""
        if tab == "to_print":
            printed = "AND o.print_count = 0 "
        elif tab == "printed":
            printed = "AND o.print_count > 0 "
        supplier_queries.append(
            (
                "SELECT o.id, o.order_no, o.stage, o.goods_name, o.spec, o.quantity, o.name_mask, "  # noqa: S608
                "o.phone_mask, o.province, o.city, o.district, o.promise_ship_at, m.shop_name "
                "FROM orders o JOIN merchants m ON m.id = o.merchant_id "
                f"WHERE o.supplier_id = ? AND o.stage = ? {printed}"
                "ORDER BY o.promise_ship_at, o.id LIMIT 50 OFFSET ?",
                [big, stage_of.get(tab, tab), 50 * ((i // 4) % 3)],
            )
        )
    out["supplier_list"] = timed(supplier_queries)
    return out


def run_lists(scene: Scene, requests: int) -> list[dict[str, Any]]:
    accounts = scene.accounts
    with scene.app.app_context():
        raw = raw_list_timings(scene, requests)
        db.session.remove()
    client = scene.app.test_client()
    login(client, accounts.merchant_usernames[scene.merchant_index], PASSWORD)
    with scene.profiler("list_merchant"):
        merchant = time_requests(scene, client, merchant_list_urls(scene, requests))
    with scene.profiler("list_merchant_unassigned"):
        unassigned = time_requests(scene, client, merchant_unassigned_urls(requests))
    supplier_client = scene.app.test_client()
    login(supplier_client, accounts.supplier_usernames[scene.big_supplier_index], PASSWORD)
    with scene.profiler("list_supplier"):
        supplier = time_requests(scene, supplier_client, supplier_list_urls(requests))
    bearer = {"Authorization": f"Bearer {api_token(scene)}"}
    api_client = scene.app.test_client()
    with scene.profiler("list_api_orders"):
        api_orders = time_requests(
            scene, api_client, api_order_urls(scene, requests), headers=bearer
        )
    with scene.profiler("api_me"):
        me = time_requests(scene, api_client, ["/api/v1/me"] * requests, headers=bearer)
    return [
        _latency_row(
            "merchant_list",
            *merchant,
            raw["merchant_list"],
            "tab∈{assigned,returned,dispatched} × top-3 suppliers of merchant 1, pages 1–3",
        ),
        _latency_row(
            "merchant_list_unassigned",
            *unassigned,
            None,
            "the landing tab 待分配 of merchant 1, pages 1–3 (extra)",
        ),
        _latency_row(
            "supplier_list",
            *supplier,
            raw["supplier_list"],
            f"busiest supplier (bench_s{scene.big_supplier_index + 1}), 4 tabs, pages 1–3",
        ),
        _latency_row(
            "api_orders",
            *api_orders,
            None,
            "GET /api/v1/orders?per_page=50 by stage × top-3 suppliers, pages 1–3 (bearer token)",
        ),
        _latency_row("api_me", *me, None, "GET /api/v1/me (bearer token)"),
    ]


def _latency_row(
    name: str,
    app: dict[str, float],
    statements_per_request: int,
    raw: dict[str, float] | None,
    note: str,
) -> dict[str, Any]:
    return {
        "section": "lists",
        "name": name,
        "unit": "ms",
        "app": app,
        "raw": raw,
        "value": app["p95_ms"],
        "raw_value": raw["p95_ms"] if raw else None,
        "ratio": round(app["p50_ms"] / raw["p50_ms"], 1) if raw and raw["p50_ms"] else None,
        "ratio_basis": "p50",
        "sql_statements": statements_per_request,
        "note": note,
    }


# --- import ----------------------------------------------------------------------------------


def export_file(rows: int, seed: int) -> bytes:
    out = io.BytesIO()
    write_platform_export(
        generate_orders(rows, seed=seed, now=datetime.now(UTC)), out, fmt="csv", encoding="gbk"
    )
    return out.getvalue()


def douyin_export_file(rows: int, seed: int) -> bytes:
    """A Douyin export of about `rows` sub-order rows: every third order has three lines (the
    next orders' goods), so 60 % of the rows are sub-orders of multi-item orders."""
    orders = list(generate_orders(rows, seed=seed, now=datetime.now(UTC)))
    grouped, written, index = [], 0, 0
    while written < rows and index < len(orders):
        order = orders[index]
        if len(grouped) % 3 == 0 and index + 2 < len(orders) and written + 3 <= rows:
            order = {
                **order,
                "lines": [order["lines"][0]]
                + [o["lines"][0] for o in orders[index + 1 : index + 3]],
            }
        grouped.append(order)
        written += len(order["lines"])
        index += 1
    out = io.BytesIO()
    write_douyin_export(grouped, out)
    return out.getvalue()


def _import_once(
    scene: Scene, merchant: Merchant, user: User, label: str, filename: str, content: bytes
) -> tuple[Any, dict[str, float], int]:
    with counting_statements(db.engine) as counter, stopwatch() as clock, scene.profiler(label):
        job = import_jobs.start_import(merchant, user, filename, content)
        db.session.commit()
        job_id = job.id
        import_jobs.run_import(job_id)
    job = db.session.get(import_jobs.ImportJob, job_id)
    if job.status != "done" or job.rejected:
        raise SystemExit(f"{label}: job {job.status}, {job.rejected} rejected ({job.error})")
    return job, clock, counter.statements


@in_app_context
def run_import(scene: Scene, rows: int) -> list[dict[str, Any]]:
    """A platform export through the import job (upload check, then the worker's run)."""
    content = export_file(rows, seed=4242)
    merchant_index = 1 if len(scene.accounts.merchant_ids) > 1 else 0
    merchant = db.session.get(Merchant, scene.accounts.merchant_ids[merchant_index])
    user = db.session.get(User, scene.accounts.merchant_user_ids[merchant_index])
    results = []
    for label in ("import_new", "import_unchanged"):
        job, clock, statements = _import_once(
            scene, merchant, user, label, "bench-export.csv", content
        )
        results.append(
            {
                "section": "import",
                "name": label,
                "unit": "rows/s",
                "value": round(rows / clock["seconds"]),
                "seconds": round(clock["seconds"], 3),
                "created": job.created,
                "updated": job.updated,
                "unchanged": job.unchanged,
                "sql_statements": statements,
                "note": f"{rows:,}-row GBK CSV, start_import + run_import"
                + (" (same file again)" if label == "import_unchanged" else ""),
            }
        )
        merchant = db.session.get(Merchant, merchant.id)
        user = db.session.get(User, user.id)
    results.append(_import_with_rules(scene, merchant.id, user.id, rows, results[0]["seconds"]))
    results.append(_import_douyin(scene, merchant.id, user.id, rows, results[0]["value"]))
    raw_merchant = scene.accounts.merchant_ids[-1]
    with stopwatch() as clock:
        inserted = raw_transaction(lambda raw: _raw_import(raw, raw_merchant, content))
    results[0]["raw_value"] = round(inserted / clock["seconds"])
    results[0]["raw_seconds"] = round(clock["seconds"], 3)
    results[0]["ratio"] = round(results[0]["seconds"] / clock["seconds"], 1)
    results[0]["ratio_basis"] = "seconds"
    db.session.remove()
    return results


def _import_douyin(
    scene: Scene, merchant_id: int, user_id: int, rows: int, pdd_rate: float
) -> dict[str, Any]:
    """A Douyin export of as many rows, 60 % of them sub-orders of three-item orders (issue 17:
    within 20 % of the Pinduoduo import's rows/s)."""
    merchant, user = db.session.get(Merchant, merchant_id), db.session.get(User, user_id)
    content = douyin_export_file(rows, seed=4545)
    job, clock, statements = _import_once(
        scene, merchant, user, "import_douyin", "bench-douyin.csv", content
    )
    rate = rows / clock["seconds"]
    return {
        "section": "import",
        "name": "import_douyin",
        "unit": "rows/s",
        "value": round(rate),
        "seconds": round(clock["seconds"], 3),
        "created": job.created,
        "sql_statements": statements,
        "ratio": round(pdd_rate / rate, 2),
        "ratio_basis": "import_new rows/s ÷ this",
        "note": f"{rows:,}-row Douyin CSV (UTF-8 BOM, one row per sub-order), "
        f"{job.created:,} orders",
    }


def _import_with_rules(
    scene: Scene, merchant_id: int, user_id: int, rows: int, without_rules: float
) -> dict[str, Any]:
    """Another file of new orders with a 整店分配 rule on: every order is assigned as it arrives
    (DESIGN §10.3 asks for at most 20 % more time than the same import without rules)."""
    merchant, user = db.session.get(Merchant, merchant_id), db.session.get(User, user_id)
    supplier = db.session.scalar(
        select(Supplier)
        .join(Binding, Binding.supplier_id == Supplier.id)
        .where(Binding.merchant_id == merchant_id, Binding.status == BINDING_ACTIVE)
        .limit(1)
    )
    allocation_rules.save_rules(merchant, RulesInput(RULE_SHOP, supplier.shop_id), user)
    db.session.commit()
    content = export_file(rows, seed=4343)
    with counting_statements(db.engine) as counter, stopwatch() as clock, scene.profiler("rules"):
        job = import_jobs.start_import(merchant, user, "bench-export-rules.csv", content)
        db.session.commit()
        job_id = job.id
        import_jobs.run_import(job_id)
    job = db.session.get(import_jobs.ImportJob, job_id)
    if job.status != "done" or job.rejected or job.created != rows:
        raise SystemExit(
            f"import_with_rules: job {job.status}, {job.created} created ({job.error})"
        )
    merchant = db.session.get(Merchant, merchant_id)
    assigned = db.session.scalar(
        select(func.count()).where(
            OrderEvent.merchant_id == merchant_id, OrderEvent.kind == EVENT_AUTO_ASSIGNED
        )
    )
    allocation_rules.save_rules(merchant, RulesInput(RULE_MANUAL), None)
    db.session.commit()
    return {
        "section": "import",
        "name": "import_with_rules",
        "unit": "rows/s",
        "value": round(rows / clock["seconds"]),
        "seconds": round(clock["seconds"], 3),
        "created": job.created,
        "auto_assigned": assigned,
        "sql_statements": counter.statements,
        "ratio": round(clock["seconds"] / without_rules, 2),
        "ratio_basis": "seconds against import_new (target ≤ 1.2)",
        "note": f"{rows:,} new rows with a 整店分配 rule: each order assigned as it arrives",
    }


def _raw_import(raw: Raw, merchant_id: int, content: bytes) -> int:
    """Parse the CSV and INSERT the rows as they are: no validation, masks or encryption."""
    reader = csv.reader(io.StringIO(content.decode("gbk")))
    header = next(reader)
    at = {name: header.index(name) for name in PDD_EXPORT_HEADER}
    now = naive(datetime.now(UTC))

    def when(cell: str) -> datetime | None:
        return datetime.strptime(cell, "%Y-%m-%d %H:%M:%S") - timedelta(hours=8) if cell else None

    def fen(cell: str) -> int:
        return int(Decimal(cell) * 100)

    rows = []
    for cells in reader:
        values = {
            "merchant_id": merchant_id,
            "order_no": cells[at["订单号"]].strip(),
            "platform_status": "awaiting_shipment",
            "platform_status_text": cells[at["订单状态"]],
            "after_sale_status": cells[at["售后状态"]],
            "after_sale_active": False,
            "audit_hold": cells[at["是否审核中"]] == "是",
            "paid_at": when(cells[at["支付时间"]]),
            "promise_ship_at": when(cells[at["承诺发货时间"]]),
            "buyer_note": cells[at["买家留言"]],
            "merchant_note": cells[at["商家备注"]],
            "name_enc": cells[at["收货人"]],
            "phone_enc": cells[at["手机"]],
            "detail_enc": cells[at["街道"]],
            "name_mask": "",
            "phone_mask": "",
            "detail_mask": "",
            "province": cells[at["省"]],
            "city": cells[at["市"]],
            "district": cells[at["区"]],
            "phone_index": "",
            "name_index": "",
            "tracking_corrections": 0,
            "receiver_key": "",
            "address_complete": True,
            "region_unverified": False,
            "line_count": 1,
            "goods_id": cells[at["商品id"]],
            "goods_name": cells[at["商品"]],
            "spec": cells[at["商品规格"]],
            "style_id": cells[at["样式ID"]],
            "sku_code": cells[at["商家编码-SKU维度"]],
            "goods_code": cells[at["商家编码-商品维度"]],
            "quantity": int(cells[at["商品数量(件)"]]),
            "sku_key": cells[at["商家编码-SKU维度"]],
            "goods_total_fen": fen(cells[at["商品总价(元)"]]),
            "paid_fen": fen(cells[at["用户实付金额(元)"]]),
            "merchant_received_fen": fen(cells[at["商家实收金额(元)"]]),
            "platform_tracking_no": cells[at["快递单号"]],
            "platform_courier": cells[at["快递公司"]],
            "content_hash": "",
            "stage": "unassigned",
            "print_count": 0,
            "courier": "",
            "tracking_no": "",
            "address_change_pending": False,
            "created_at": now,
            "updated_at": now,
        }
        rows.append(tuple(values.get(c, ORDER_DEFAULTS[c]) for c in ORDER_COLUMNS if c != "id"))
    columns = [c for c in ORDER_COLUMNS if c != "id"]
    marks = ", ".join("?" * len(columns))
    raw.many(f"INSERT INTO orders ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608
    return len(rows)


# --- batch assign, tracking return, dispatch -------------------------------------------------

STEPS = ("assign", "tracking", "dispatch")
STAGE_AFTER = {"assign": "assigned", "tracking": "returned", "dispatch": "dispatched"}
STAGE_BEFORE = {"assign": "unassigned", "tracking": "assigned", "dispatch": "returned"}


def tracking_csv(order_nos: Sequence[str], offset: int) -> bytes:
    """订单号, 快递公司, 快递单号 — SF numbers of the right shape, unique to this run."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["订单号", "快递公司", "快递单号"])
    for n, order_no in enumerate(order_nos):
        writer.writerow([order_no, "顺丰速运", f"SF{5 * 10**12 + offset + n:013d}"])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def app_step(scene: Scene, step: str) -> dict[str, Any]:
    """One batch operation of `batch` orders through its service, committed."""
    merchant = scene.merchant()
    actor = scene.merchant_user()
    supplier = scene.supplier(scene.batch_supplier_index)
    order_nos = scene.app_pool
    with counting_statements(db.engine) as counter, sampling_rss() as rss:
        if step == "assign":
            with stopwatch() as clock, scene.profiler("assign"):
                result = allocation.assign_orders(merchant, order_nos, supplier, actor)
                db.session.commit()
            done = len(result.done)
        elif step == "tracking":
            content = tracking_csv(order_nos, 0)
            supplier_actor = scene.supplier_user(scene.batch_supplier_index)
            with stopwatch() as clock, scene.profiler("tracking"):
                rows = open_tracking_file(io.BytesIO(content), "tracking.csv")
                result = tracking.return_tracking_file(supplier, rows, supplier_actor)
                db.session.commit()
            done = len(result.returned)
        else:
            with stopwatch() as clock, scene.profiler("dispatch"):
                result = dispatch.dispatch_orders(merchant, order_nos, actor)
                db.session.commit()
            done = len(result.dispatched)
    db.session.remove()
    if done != len(order_nos):
        raise SystemExit(f"{step}: only {done} of {len(order_nos)} orders went through")
    return {
        "seconds": clock["seconds"],
        "sql_statements": counter.statements,
        "rss_mb": rss.delta_mb,
    }


def raw_step(scene: Scene, step: str) -> dict[str, Any]:
    merchant_id = scene.merchant_id
    supplier_id = scene.accounts.supplier_ids[scene.batch_supplier_index]
    actor = scene.accounts.merchant_user_ids[scene.merchant_index]
    address = scene.accounts.return_address_ids[scene.merchant_index]
    order_nos = scene.raw_pool
    now = naive(datetime.now(UTC))

    def assign(raw: Raw) -> int:
        ids = sorted(raw.ids_by_order_no("merchant_id", merchant_id, order_nos).values())
        won: list[int] = []
        for marks, chunk in _in_chunks(ids):
            rows = raw.run(
                "UPDATE orders SET stage = 'assigned', supplier_id = ?, assigned_at = ?, "  # noqa: S608
                "address_change_pending = ?, updated_at = ? WHERE merchant_id = ? "
                f"AND {ELIGIBLE} AND id IN ({marks}) RETURNING id",
                [supplier_id, now, False, now, merchant_id, False, False, True, *chunk],
            )
            won += [r[0] for r in rows]
        raw.many(
            "INSERT INTO assignments (order_id, merchant_id, supplier_id, status, assigned_at, "
            "assigned_by) VALUES (?, ?, ?, 'active', ?, ?)",
            [(i, merchant_id, supplier_id, now, actor) for i in won],
        )
        raw.many(
            "INSERT INTO order_events (order_id, merchant_id, kind, actor_id, supplier_id, "
            "reason, note, created_at) VALUES (?, ?, 'assigned', ?, ?, '', '', ?)",
            [(i, merchant_id, actor, supplier_id, now) for i in won],
        )
        return len(won)

    def track(raw: Raw) -> int:
        content = tracking_csv(order_nos, len(order_nos))
        reader = csv.reader(io.StringIO(content.decode("utf-8-sig")))
        next(reader)
        numbers = {row[0]: row[2] for row in reader}
        ids = raw.ids_by_order_no("supplier_id", supplier_id, list(numbers))
        receivers = {}
        for marks, chunk in _in_chunks(sorted(ids.values())):
            receivers.update(
                raw.run(
                    f"SELECT id, receiver_key FROM orders WHERE id IN ({marks})",  # noqa: S608
                    chunk,
                ).all()
            )
        raw.many(
            "INSERT INTO parcels (tracking_no, courier, merchant_id, supplier_id, receiver_key, "
            "created_at) VALUES (?, 'SF', ?, ?, ?, ?)",
            [(numbers[no], merchant_id, supplier_id, receivers[i], now) for no, i in ids.items()],
        )
        parcel_ids: dict[str, int] = {}
        tracking_nos = [numbers[no] for no in ids]
        for start in range(0, len(tracking_nos), CHUNK):
            chunk = tracking_nos[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            parcel_ids.update(
                raw.run(
                    f"SELECT tracking_no, id FROM parcels WHERE tracking_no IN ({marks})",  # noqa: S608
                    chunk,
                ).all()
            )
        raw.many(
            "INSERT INTO order_parcels (order_id, parcel_id, is_primary) VALUES (?, ?, ?)",
            [(i, parcel_ids[numbers[no]], True) for no, i in ids.items()],
        )
        raw.many(
            "UPDATE orders SET stage = 'returned', courier = 'SF', tracking_no = ?, "
            "returned_at = ?, updated_at = ? "
            "WHERE id = ? AND supplier_id = ? AND stage = 'assigned'",
            [
                (numbers[no], now, now, i, supplier_id)
                for no, i in sorted(ids.items(), key=lambda x: x[1])
            ],
        )
        return len(ids)

    def ship(raw: Raw) -> int:
        ids = sorted(raw.ids_by_order_no("merchant_id", merchant_id, order_nos).values())
        won: list[int] = []
        for marks, chunk in _in_chunks(ids):
            rows = raw.run(
                "UPDATE orders SET stage = 'dispatched', dispatched_at = ?, dispatched_by = ?, "  # noqa: S608
                "return_address_id = ?, updated_at = ? WHERE merchant_id = ? "
                "AND stage = 'returned' AND platform_status <> 'cancelled' "
                "AND after_sale_active = ? AND audit_hold = ? "
                f"AND id IN ({marks}) RETURNING id",
                [now, actor, address, now, merchant_id, False, False, *chunk],
            )
            won += [r[0] for r in rows]
        raw.many(
            "INSERT INTO order_events (order_id, merchant_id, kind, actor_id, supplier_id, "
            "reason, note, created_at) VALUES (?, ?, 'dispatched', ?, ?, '', '', ?)",
            [(i, merchant_id, actor, supplier_id, now) for i in won],
        )
        return len(won)

    body = {"assign": assign, "tracking": track, "dispatch": ship}[step]
    with stopwatch() as clock:
        done = raw_transaction(body)
    if done != len(order_nos):
        raise SystemExit(f"raw {step}: only {done} of {len(order_nos)} orders went through")
    return {"seconds": clock["seconds"]}


@in_app_context
def run_batch(scene: Scene, wanted: Sequence[str]) -> list[dict[str, Any]]:
    """The wanted steps, in pipeline order; a step whose orders are not ready yet gets its
    earlier steps run first, untimed."""
    results = []
    last = max(STEPS.index(s) for s in wanted)
    for step in STEPS[: last + 1]:
        timed = step in wanted
        app = app_step(scene, step)
        raw = raw_step(scene, step)
        scene.stage = {"app": STAGE_AFTER[step], "raw": STAGE_AFTER[step]}
        if not timed:
            continue
        results.append(
            {
                "section": "batch",
                "name": f"{step}_{scene.batch}",
                "unit": "s",
                "value": round(app["seconds"], 3),
                "raw_value": round(raw["seconds"], 3),
                "ratio": round(app["seconds"] / raw["seconds"], 1),
                "ratio_basis": "seconds",
                "sql_statements": app["sql_statements"],
                "rss_mb": app["rss_mb"],
                "note": {
                    "assign": "allocation.assign_orders + commit",
                    "tracking": "CSV → open_tracking_file → return_tracking_file + commit",
                    "dispatch": "dispatch.dispatch_orders (default return address) + commit",
                }[step],
            }
        )
    return results


# --- statements ------------------------------------------------------------------------------


def statement_period(scene: Scene, lines: int) -> tuple[Any, Any, int]:
    """A period ending today whose first day makes the statement at least `lines` long."""
    merchant_id = scene.merchant_id
    supplier_id = scene.accounts.supplier_ids[scene.statement_supplier_index]
    condition = (
        Order.merchant_id == merchant_id,
        Order.supplier_id == supplier_id,
        Order.stage.in_(("returned", "dispatched")),
    )
    available = db.session.scalar(select(func.count()).where(*condition))
    wanted = min(lines, available)
    cut = db.session.scalar(
        select(Order.returned_at)
        .where(*condition)
        .order_by(Order.returned_at.desc())
        .offset(max(wanted - 1, 0))
        .limit(1)
    )
    start = statement_clock.shanghai_day(cut)
    return start, shanghai_today(), wanted


def _request(scene: Scene, start: Any, end: Any) -> int:
    scene.statements_made += 1
    now = datetime.now(UTC) + timedelta(days=scene.statements_made)
    statement = statement_requesting.request_statement(
        scene.merchant(),
        scene.accounts.supplier_ids[scene.statement_supplier_index],
        start,
        end,
        scene.merchant_user(),
        now=now,
    )
    db.session.commit()
    return statement.id


def _build(statement_id: int) -> Statement:
    statement_build.build_statement(statement_id)
    db.session.remove()
    statement = db.session.get(Statement, statement_id)
    if statement.status != STATEMENT_READY:
        raise SystemExit(f"statement {statement_id}: {statement.status} {statement.error}")
    return statement


def _write_csv(statement: Statement, path: Path) -> int:
    size = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        for chunk in statement_files.statement_csv(statement):
            size += len(chunk)
            handle.write(chunk)
    return size


def _write_xlsx(statement: Statement, path: Path) -> None:
    with path.open("wb") as handle:
        statement_files.statement_xlsx(statement, handle)


@in_app_context
def run_statement(scene: Scene, lines: int, memory: bool) -> list[dict[str, Any]]:
    start, end, wanted = statement_period(scene, lines)
    statement_id = _request(scene, start, end)
    out = scene.work_dir
    with (
        counting_statements(db.engine) as counter,
        sampling_rss() as rss_build,
        stopwatch() as build,
        scene.profiler("statement_build"),
    ):
        statement = _build(statement_id)
    line_count = statement.line_count
    with sampling_rss() as rss_csv, stopwatch() as csv_clock, scene.profiler("statement_csv"):
        _write_csv(statement, out / "statement.csv")
    db.session.remove()
    # The worker's next job after the build: write the XLSX once and store it.
    with sampling_rss() as rss_xlsx, stopwatch() as xlsx_clock, scene.profiler("statement_xlsx"):
        statement_build.store_xlsx(statement_id)
    db.session.remove()
    statement = db.session.get(Statement, statement_id)
    # What a download does now: the XLSX the worker stored, read back and sent as it is.
    with stopwatch() as stored_clock:
        stored = statement_files.stored_file(statement, "xlsx")
    if stored is None:
        raise SystemExit(f"statement {statement_id}: no stored XLSX")
    db.session.remove()
    raw = raw_statement(scene, start, end)
    results = [
        {
            "section": "statement",
            "name": "statement_build",
            "unit": "s",
            "value": round(build["seconds"], 3),
            "raw_value": round(raw["build"], 3),
            "ratio": round(build["seconds"] / raw["build"], 1),
            "ratio_basis": "seconds",
            "lines": line_count,
            "rss_mb": rss_build.delta_mb,
            "sql_statements": counter.statements,
            "note": f"{line_count:,} lines, {start}…{end}, build_statement (the worker's task)",
        },
        {
            "section": "statement",
            "name": "statement_csv",
            "unit": "s",
            "value": round(csv_clock["seconds"], 3),
            "raw_value": round(raw["csv"], 3),
            "ratio": round(csv_clock["seconds"] / raw["csv"], 1),
            "ratio_basis": "seconds",
            "lines": line_count,
            "rss_mb": rss_csv.delta_mb,
            "note": "statement_csv streamed to a file",
        },
        {
            "section": "statement",
            "name": "statement_xlsx",
            "unit": "s",
            "value": round(xlsx_clock["seconds"], 3),
            "raw_value": round(raw["xlsx"], 3),
            "ratio": round(xlsx_clock["seconds"] / raw["xlsx"], 1),
            "ratio_basis": "seconds",
            "lines": line_count,
            "rss_mb": rss_xlsx.delta_mb,
            "note": "store_xlsx, the worker's job after the build: statement_xlsx (XlsxWriter, "
            "constant memory) written once and stored",
        },
        {
            "section": "statement",
            "name": "statement_xlsx_download",
            "unit": "s",
            "value": round(stored_clock["seconds"], 3),
            "lines": line_count,
            "stored_bytes": len(stored),
            "note": f"the stored XLSX read for a download: {len(stored):,} bytes stored, "
            f"{len(stored) / max(line_count, 1):.0f} bytes per line",
        },
    ]
    if memory:
        results.append(statement_memory(scene, statement_id, line_count, wanted))
    return results


def statement_memory(
    scene: Scene, statement_id: int, line_count: int, wanted: int
) -> dict[str, Any]:
    """Peak Python heap (tracemalloc) of build, CSV and XLSX at 1/5 and at full size."""
    small_start, small_end, _small = statement_period(scene, max(1, wanted // 5))
    small_id = _request(scene, small_start, small_end)
    peaks: dict[str, dict[str, float]] = {}
    for label, sid in (("small", small_id), ("full", statement_id)):
        db.session.execute(
            update(Statement)
            .where(Statement.id == sid)
            .values(status=STATEMENT_QUEUED)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        with traced_peak() as build_peak:
            statement = _build(sid)
        with traced_peak() as csv_peak:
            _write_csv(statement, scene.work_dir / "statement-mem.csv")
        statement = db.session.get(Statement, sid)
        with traced_peak() as xlsx_peak:
            _write_xlsx(statement, scene.work_dir / "statement-mem.xlsx")
        peaks[label] = {
            "lines": statement.line_count,
            "build_mb": build_peak["peak_mb"],
            "csv_mb": csv_peak["peak_mb"],
            "xlsx_mb": xlsx_peak["peak_mb"],
        }
        db.session.remove()
    growth = max(
        peaks["full"][k] / max(peaks["small"][k], 0.01) for k in ("build_mb", "csv_mb", "xlsx_mb")
    )
    return {
        "section": "statement",
        "name": "statement_peak_memory",
        "unit": "MB",
        "value": max(peaks["full"][k] for k in ("build_mb", "csv_mb", "xlsx_mb")),
        "growth": round(growth, 2),
        "peaks": peaks,
        "note": (
            f"tracemalloc peak, {peaks['small']['lines']:,} vs {peaks['full']['lines']:,} lines; "
            f"growth = worst full÷small = {growth:.2f}"
        ),
    }


def raw_statement(scene: Scene, start: Any, end: Any) -> dict[str, float]:
    """The statement as one INSERT … SELECT, then the lines as plain CSV and XLSX."""
    merchant_id = scene.merchant_id
    supplier_id = scene.accounts.supplier_ids[scene.statement_supplier_index]
    statement = Statement(
        merchant_id=merchant_id,
        supplier_id=supplier_id,
        period_start=start,
        period_end=end,
        day=end,
        slot=None,
        requested_at=datetime.now(UTC),
        status=STATEMENT_READY,
    )
    db.session.add(statement)
    db.session.commit()
    statement_id = statement.id
    db.session.remove()
    begin = naive(statement_clock.day_start(start))
    finish = naive(statement_clock.day_start(end + timedelta(days=1)))

    def insert_lines(raw: Raw) -> None:
        raw.run(
            "INSERT INTO statement_lines (statement_id, order_id, order_no, goods_name, spec, "
            "sku_key, quantity, unit_price_fen, amount_fen, courier, tracking_nos, returned_at) "
            "SELECT ?, s.id, s.order_no, s.goods_name, s.spec, s.sku_key, s.quantity, s.unit, "
            "s.unit * s.quantity, s.courier, s.tracking_no, s.returned_at FROM ("
            "SELECT o.*, (SELECT p.price_fen FROM prices p WHERE p.merchant_id = o.merchant_id "
            "AND p.supplier_id = o.supplier_id AND p.sku_key = o.sku_key "
            "AND p.effective_from <= o.returned_at ORDER BY p.effective_from DESC LIMIT 1) AS unit "
            "FROM orders o WHERE o.merchant_id = ? AND o.supplier_id = ? "
            "AND o.stage IN ('returned', 'dispatched') AND o.returned_at >= ? "
            "AND o.returned_at < ?) s",
            [statement_id, merchant_id, supplier_id, begin, finish],
        )

    with stopwatch() as build:
        raw_transaction(insert_lines)
    select_lines = (
        "SELECT order_no, goods_name, spec, sku_key, quantity, unit_price_fen, amount_fen, "
        "courier, tracking_nos, returned_at FROM statement_lines WHERE statement_id = ? "
        "ORDER BY id"
    )

    def yuan(fen: int | None) -> str:
        return "" if fen is None else f"{fen // 100}.{fen % 100:02d}"

    def rows(raw: Raw) -> Any:
        result = raw.run(select_lines, [statement_id])
        while batch := result.fetchmany(5000):
            for r in batch:
                yield [r[0], r[1], r[2], r[3], r[4], yuan(r[5]), yuan(r[6]), r[7], r[8], str(r[9])]

    target = scene.work_dir / "statement-raw.csv"
    with (
        stopwatch() as csv_clock,
        db.engine.connect() as conn,
        target.open("w", encoding="utf-8", newline="") as handle,
    ):
        csv.writer(handle, lineterminator="\r\n").writerows(rows(Raw(conn)))
    with stopwatch() as xlsx_clock, db.engine.connect() as conn:
        # The same library and cell calls as the app (XlsxWriter, constant memory, typed writes).
        workbook = xlsxwriter.Workbook(
            str(scene.work_dir / "statement-raw.xlsx"), {"constant_memory": True}
        )
        sheet = workbook.add_worksheet("lines")
        for y, row in enumerate(rows(Raw(conn))):
            for x, value in enumerate(row):
                if isinstance(value, int):
                    sheet.write_number(y, x, value)
                else:
                    sheet.write_string(y, x, "" if value is None else value)
        workbook.close()
    return {"build": build["seconds"], "csv": csv_clock["seconds"], "xlsx": xlsx_clock["seconds"]}

"""代发门户 benchmark: build a database of N orders, time the portal's hot paths, print a table.

    .venv/bin/python bench/run.py                          # 200 000 orders, SQLite, everything
    .venv/bin/python bench/run.py --orders 1000000         # the full run (BENCHMARKS.md)
    .venv/bin/python bench/run.py --orders 20000 --only lists batch --skip-http
    .venv/bin/python bench/run.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Sections (--only): lists, import, assign, tracking, dispatch (or: batch = all three),
statement, http. Each operation is measured through the app and, where it makes sense, done
again directly in SQL in the same run; the table shows both and app ÷ raw SQL. Results also go
to JSON (--json, default bench/results/<backend>-<orders>.json).

The database: SQLite by default, built once per (orders, batch, dataset version) as a template
under bench/.data/ and copied fresh for every run (the batch operations change it);
--rebuild forces a new template. A PostgreSQL URL is rebuilt on every run: its schema is
dropped and migrated again — only a database whose name contains "bench" is accepted.
See BENCHMARKS.md for what is measured and the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, make_url, text  # noqa: E402

from bench import analytics_section, dataset, sections, server  # noqa: E402
from bench.measure import Profiler  # noqa: E402
from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402

SECTIONS = ("lists", "import", "assign", "tracking", "dispatch", "statement", "analytics", "http")
ALIASES = {"batch": ("assign", "tracking", "dispatch")}
# BENCH_DATA_DIR: a data folder of its own for a run alongside another one
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR") or BENCH_DIR / ".data")
RESULTS_DIR = BENCH_DIR / "results"

# Targets (issue 6): 2-core machine, SQLite, 1 000 000 orders.
TARGETS: dict[str, tuple[str, float, str]] = {
    "merchant_list": ("≤", 20.0, "p95 ms"),
    "supplier_list": ("≤", 20.0, "p95 ms"),
    "api_orders": ("≤", 20.0, "p95 ms"),
    "api_me": ("≤", 1.0, "p95 ms"),
    "import_new": ("≥", 5000.0, "rows/s"),
    "assign": ("≤", 1.0, "s"),
    "tracking": ("≤", 1.0, "s"),
    "dispatch": ("≤", 1.0, "s"),
    "statement_build": ("≤", 10.0, "s"),
    "statement_csv": ("≤", 10.0, "s"),
    "statement_xlsx": ("≤", 10.0, "s"),
    "statement_xlsx_download": ("≤", 10.0, "s"),
    "statement_peak_memory": ("flat", 1.5, "growth"),
    # Issue 21: the 数据 pages and the analytics API.
    "analytics_merchant_page": ("≤", 300.0, "p95 ms"),
    "analytics_supplier_page": ("≤", 300.0, "p95 ms"),
    "analytics_api": ("≤", 300.0, "p95 ms"),
}
BATCH_RATIO_TARGET = 10.0
# A list over HTTP serves at least this share of the ping endpoint's req/s (same server, run).
HTTP_SHARE_TARGET = 0.25
# Requests a second per API token in the bench, and its burst (a second's worth): counted
# like the default 50, never reached.
BENCH_API_RATE = 1_000_000
# Flatness is judged only when the smaller statement spans a few build batches (5 000 lines).
FLAT_MIN_LINES = 10_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    first, _, rest = __doc__.partition("\n")
    parser = argparse.ArgumentParser(
        description=first, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=200_000, help="orders to load (200 000)")
    parser.add_argument(
        "--database-url",
        default="",
        help="SQLAlchemy URL (default: a fresh SQLite file under bench/.data/)",
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="SECTION", help=f"{', '.join(SECTIONS)}, batch"
    )
    parser.add_argument("--skip-http", action="store_true", help="leave out the gunicorn part")
    parser.add_argument("--requests", type=int, default=200, help="GETs per list scenario")
    parser.add_argument("--batch", type=int, default=5000, help="orders per batch operation")
    parser.add_argument("--import-rows", type=int, default=10_000)
    parser.add_argument("--statement-lines", type=int, default=100_000)
    parser.add_argument("--skip-memory", action="store_true", help="no tracemalloc pass")
    parser.add_argument("--http-concurrency", type=int, default=8)
    parser.add_argument("--http-duration", type=float, default=10.0)
    parser.add_argument("--http-warmup", type=float, default=2.0)
    parser.add_argument("--rebuild", action="store_true", help="ignore a cached SQLite template")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each app operation into bench/.data/"
    )
    args = parser.parse_args(argv)
    wanted: list[str] = []
    for name in args.only or SECTIONS:
        for section in ALIASES.get(name, (name,)):
            if section not in SECTIONS:
                parser.error(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}, batch")
            if section not in wanted:
                wanted.append(section)
    if args.skip_http and "http" in wanted:
        wanted.remove("http")
    args.sections = wanted
    return args


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the database ---------------------------------------------------------------------------


def app_config(url: str, keys: Path, secret: str) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "KEYS_FILE": str(keys),
        "SECRET_KEY": secret,
        "CREATE_KEYS": True,
        "QUEUE_FILE": str(DATA_DIR / "queue.db"),
        # The API rate limit stays on (every API request is counted, as in production) at a
        # rate the bench never reaches: its clients send hundreds of requests a second.
        "API_RATE_LIMIT": BENCH_API_RATE,
        "API_RATE_BURST": BENCH_API_RATE,
        # No job worker in the measured processes: its first pass over a million orders
        # (analytics roll-ups, planner statistics) would hold the write lock and the CPU.
        "EMBEDDED_WORKER": False,
    }


def reset_postgres(url: str) -> None:
    name = make_url(url).database or ""
    if "bench" not in name:
        raise SystemExit(
            f"refusing to drop the schema of database {name!r}: use a database named *bench*"
        )
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def build_database(app: Flask, args: argparse.Namespace) -> tuple[dataset.Accounts, dict]:
    with app.app_context():
        upgrade()
        dataset.check_schema_matches(db.engine)
        found, report = dataset.build(args.orders, reserve=2 * args.batch, progress=say)
        db.session.remove()
        db.engine.dispose()
    return found, dataset.summarize(report)


def prepare(args: argparse.Namespace, secret: str) -> tuple[str, Path, dict]:
    """The database URL to benchmark, its keys file and what the build reported."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if args.database_url:
        keys = DATA_DIR / "keys-postgres.json"
        keys.unlink(missing_ok=True)
        reset_postgres(args.database_url)
        app = create_app(app_config(args.database_url, keys, secret))
        say(f"building {args.orders:,} orders in {make_url(args.database_url).database} …")
        _found, report = build_database(app, args)
        return args.database_url, keys, report
    for stale in DATA_DIR.glob("template-*"):
        made_by = re.search(r"-v([0-9]+)[.-]", stale.name)
        if made_by and int(made_by.group(1)) != dataset.DATASET_VERSION:
            stale.unlink()  # made by an older dataset generator
    stem = f"template-{args.orders}-b{args.batch}-v{dataset.DATASET_VERSION}"
    template, keys = DATA_DIR / f"{stem}.db", DATA_DIR / f"{stem}-keys.json"
    meta = DATA_DIR / f"{stem}.json"
    if args.rebuild or not (template.exists() and keys.exists() and meta.exists()):
        for path in (template, keys, meta):
            path.unlink(missing_ok=True)
        building = DATA_DIR / f"{stem}.building.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)
        app = create_app(app_config(f"sqlite:///{building}", keys, secret))
        say(f"building {args.orders:,} orders into {template.name} …")
        _found, report = build_database(app, args)
        building.rename(template)
        for suffix in ("-wal", "-shm"):
            Path(f"{building}{suffix}").unlink(missing_ok=True)
        meta.write_text(json.dumps(report))
    else:
        say(f"using the cached template {template.name} (--rebuild to make it again)")
    work = DATA_DIR / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, work)
    # A template made before the newest migrations (an index added since) is brought up to date.
    app = create_app(app_config(f"sqlite:///{work}", keys, secret))
    with app.app_context():
        upgrade()
        dataset.check_schema_matches(db.engine)
        db.engine.dispose()
    return f"sqlite:///{work}", keys, json.loads(meta.read_text())


# --- the report -------------------------------------------------------------------------------


def target_for(result: dict[str, Any]) -> tuple[str, str]:
    """(target text, verdict) of one result."""
    name = result["name"]
    key = name.rsplit("_", 1)[0] if result["section"] == "batch" else name
    target = TARGETS.get(key)
    verdicts = []
    texts = []
    if target:
        op, bound, unit = target
        if op == "flat":
            texts.append(f"growth ≤ {bound:g}×")
            if result["peaks"]["small"]["lines"] < FLAT_MIN_LINES:
                # Below a few build batches memory grows with the lines by design.
                return ", ".join(texts), "n/a (small)"
            verdicts.append(result["growth"] <= bound)
        else:
            value = result["value"]
            texts.append(f"{op} {bound:g} {unit}")
            verdicts.append(value <= bound if op == "≤" else value >= bound)
    if (
        result["section"] == "http"
        and result.get("share_of_ping") is not None
        and not result.get("reference")
    ):
        texts.append(f"≥ {HTTP_SHARE_TARGET:.0%} of ping")
        verdicts.append(result["share_of_ping"] >= HTTP_SHARE_TARGET)
    if result["section"] == "batch" and result.get("ratio") is not None:
        texts.append(f"≤ {BATCH_RATIO_TARGET:g}× SQL")
        verdicts.append(result["ratio"] <= BATCH_RATIO_TARGET)
    if not verdicts:
        return "", ""
    return ", ".join(texts), "ok" if all(verdicts) else "MISS"


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(results: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    header = ("operation", "app", "raw SQL", "app÷raw", "unit", "target", "verdict", "SQL stmts")
    # (For http_order_list "raw SQL" is the minimal endpoint on the same server.)
    rows = []
    for r in results:
        target, verdict = target_for(r)
        r["target"], r["verdict"] = target, verdict
        rows.append(
            (
                r["name"],
                fmt(r.get("value")),
                fmt(r.get("raw_value")),
                fmt(r.get("ratio")),
                r["unit"] if r["unit"] != "ms" else "p95 ms",
                target,
                verdict,
                fmt(r.get("sql_statements")),
            )
        )
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=False)]
    line = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    print()
    print(
        f"代发门户 benchmark — {meta['backend']} {meta['backend_version']}, "
        f"{meta['dataset']['orders']:,} orders, {meta['cpus']} CPUs, "
        f"load {meta['load_before']} → {meta['load_after']}"
    )
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    print()
    for r in results:
        extra = ""
        if r["unit"] == "ms":
            app, raw = r["app"], r.get("raw")
            extra = f"p50 {app['p50_ms']} ms, p95 {app['p95_ms']} ms, max {app['max_ms']} ms"
            if "cpu_p50_ms" in app:
                extra += f" (CPU p50 {app['cpu_p50_ms']} ms, p95 {app['cpu_p95_ms']} ms)"
            if raw:
                extra += f"; raw SQL p50 {raw['p50_ms']} ms, p95 {raw['p95_ms']} ms"
            extra += ". "
        print(f"- {r['name']}: {extra}{r.get('note', '')}")


def run_http_section(
    scene: sections.Scene, args: argparse.Namespace, url: str, keys: Path, secret: str
) -> list[dict[str, Any]]:
    env = {
        "PORTAL_DATABASE_URL": url,
        "PORTAL_KEYS_FILE": str(keys),
        "PORTAL_SECRET_KEY": secret,
        "PORTAL_QUEUE_FILE": str(DATA_DIR / "queue.db"),
        "PORTAL_INSTANCE_PATH": str(DATA_DIR / "instance"),
        "PORTAL_API_RATE_LIMIT": str(BENCH_API_RATE),
        "PORTAL_API_RATE_BURST": str(BENCH_API_RATE),
        "PORTAL_EMBEDDED_WORKER": "0",
    }
    count = 27
    return server.run_http(
        env,
        DATA_DIR,
        [
            server.Client(
                "http_order_list",
                sections.merchant_list_urls(scene, count),
                username=scene.accounts.merchant_usernames[scene.merchant_index],
                password=dataset.PASSWORD,
            ),
            server.Client(
                "http_order_list_sql",
                [
                    path.replace("/merchant/orders?", "/__bench/merchant-orders-sql?")
                    for path in sections.merchant_list_urls(scene, count)
                ],
                username=scene.accounts.merchant_usernames[scene.merchant_index],
                password=dataset.PASSWORD,
                what="the order list's SQL alone, no HTML (bench/wsgi_bench.py)",
                reference=True,
            ),
            server.Client(
                "http_supplier_list",
                sections.supplier_list_urls(count),
                username=scene.accounts.supplier_usernames[scene.big_supplier_index],
                password=dataset.PASSWORD,
            ),
            server.Client(
                "http_api_orders",
                sections.api_order_urls(scene, count),
                token=sections.api_token(scene),
            ),
        ],
        args.http_concurrency,
        args.http_duration,
        args.http_warmup,
    )


def interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, through every `finally` (the gunicorn group is stopped there).
    signal.signal(signal.SIGTERM, interrupt)
    dataset.encode_datetime_for_sqlite()
    secret = secrets.token_urlsafe(32)
    load_before = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    url, keys, build_report = prepare(args, secret)
    app = create_app(app_config(url, keys, secret))
    profiler = Profiler(DATA_DIR / "profiles" if args.profile else None)
    results: list[dict[str, Any]] = []
    with app.app_context():
        backend = db.engine.dialect.name
        backend_version = ".".join(map(str, db.engine.dialect.server_version_info or ()))
        scene = sections.Scene(
            app=app,
            engine=db.engine,
            accounts=dataset.load_accounts(),
            work_dir=DATA_DIR,
            profiler=profiler,
            batch=args.batch,
        )
        sections.prepare_scene(scene)
        db.session.remove()
    for section in args.sections:
        say(f"— {section}")
        if section == "lists":
            results += sections.run_lists(scene, args.requests)
        elif section == "import":
            results += sections.run_import(scene, args.import_rows)
        elif section in sections.STEPS:
            steps = [s for s in sections.STEPS if s in args.sections]
            if section == steps[0]:
                results += sections.run_batch(scene, steps)
        elif section == "statement":
            results += sections.run_statement(
                scene, args.statement_lines, memory=not args.skip_memory
            )
        elif section == "analytics":
            results += analytics_section.run_analytics(scene, args.requests)
        elif section == "http":
            results += run_http_section(scene, args, url, keys, secret)
    scene.engine.dispose()
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "bench/run.py", *(argv or sys.argv[1:])]),
        "backend": backend,
        "backend_version": backend_version,
        "database": make_url(url).render_as_string(hide_password=True),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.platform(),
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
        "batch": args.batch,
        "requests": args.requests,
        "dataset": build_report,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    print_table(results, meta)
    suffix = f"-only-{'-'.join(args.sections)}" if args.only else ""
    target = args.json or RESULTS_DIR / f"{backend}-{args.orders}{suffix}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"meta": meta, "results": results}, ensure_ascii=False, indent=2))
    print(f"\nJSON: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `flask --app wsgi portal …` command group."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import and_, bindparam, func, or_, select, update

from portal import checks
from portal.domain import accounts, allocation, bindings, dispatch, prices, staff, tracking
from portal.domain.demo_data import STATUS_TEXTS, generate_orders
from portal.domain.errors import DomainError
from portal.domain.imports.platform_export import ImportedOrder
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.permissions import STAFF_ROLES
from portal.domain.printing import jobs as printing
from portal.domain.printing.labels import DEFAULT_LABEL_SIZE
from portal.domain.privacy.crypto import decrypt, order_aad, reencrypt
from portal.domain.privacy.keys import DecryptionError, KeyRing
from portal.domain.privacy.lookups import name_index
from portal.domain.statements import build as statement_build
from portal.domain.statements import clock as statement_clock
from portal.domain.statements import requesting as statement_requesting
from portal.domain.statements import review as statement_review
from portal.extensions import db
from portal.jobs import is_embedded, queue
from portal.models import Binding, Merchant, Order, Supplier, User
from portal.models.orders import ASSIGNABLE

portal_cli = AppGroup("portal", help="代发门户 administration.")

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105  (printed for the local demo only)
DEMO_MERCHANT = accounts.MerchantProfileInput(
    shop_name="暖居家纺旗舰店",
    sender_name="王小明",
    sender_phone="13800138000",
    province="浙江省",
    city="杭州市",
    district="余杭区",
    detail="仓前街道文一西路 1001 号 3 号楼",
)


def _fail(error: DomainError) -> None:
    raise click.ClickException(f"{error.code}: {error.message}")


@portal_cli.command("init")
def init_command() -> None:
    """Create the instance secrets (embedded setup) and bring the schema up to date."""
    upgrade()
    click.echo(f"instance: {current_app.instance_path}")
    click.echo("database schema is up to date")


@portal_cli.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["merchant", "supplier", *STAFF_ROLES]),
    required=True,
    help="merchant or supplier for a new shop; with --shop a member's role",
)
@click.option("--shop", "shop_owner", default=None, help="the owner's username: add a member")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--shop-name", default=None, help="店铺名称 / 厂家名称")
def create_user_command(
    username: str, role: str, shop_owner: str | None, password: str, shop_name: str | None
) -> None:
    """Create an account with its role (prints the shop ID), or a member of OWNER's shop."""
    if shop_owner is not None:
        _create_member(username, role, shop_owner, password)
        return
    if role not in ("merchant", "supplier"):
        raise click.ClickException(f"--role {role} needs --shop OWNER")
    try:
        user = accounts.create_user(username, password)
        if role == "merchant":
            profile = DEMO_MERCHANT
            if shop_name:
                profile = accounts.MerchantProfileInput(**{**vars(profile), "shop_name": shop_name})
            accounts.become_merchant(user, profile)
        else:
            accounts.become_supplier(user, shop_name or f"{username} 工厂", "", "")
    except DomainError as error:
        db.session.rollback()
        _fail(error)
    db.session.commit()
    click.echo(f"created {role} {user.username}; shop ID {user.shop_id}")


def _create_member(username: str, role: str, owner_name: str, password: str) -> None:
    owner = _user_named(owner_name)
    if owner.owner_id is not None:
        raise click.ClickException(f"{owner_name} is a member, not a shop owner")
    try:
        member = staff.add_member(owner, username, password, role)
    except DomainError as error:
        db.session.rollback()
        _fail(error)
    db.session.commit()
    click.echo(f"created {role} {member.username} in shop {owner.shop_id} ({owner.username})")


def _user_named(username: str) -> User:
    user = db.session.scalar(
        select(User).where(User.username == accounts.normalize_username(username))
    )
    if user is None:
        raise click.ClickException(f"no such user: {username}")
    return user


@portal_cli.command("create-token")
@click.argument("username")
@click.option("--name", default="cli", help="a label to recognise the token by")
def create_token_command(username: str, name: str) -> None:
    """Create an API token for USERNAME and print it once (a member's token acts in its role)."""
    user = _user_named(username)
    if not user.active:
        raise click.ClickException("the user is deactivated")
    if user.role is None:
        raise click.ClickException("the user has not chosen a role yet")
    _record, token = accounts.create_api_token(user, name)
    db.session.commit()
    click.echo(token)


def _demo_user(username: str, make_profile: object) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        user = accounts.create_user(username, DEMO_PASSWORD)
        make_profile(user)  # type: ignore[operator]
    return user


DEMO_ORDERS = 300
DEMO_ASSIGNED = 12
DEMO_SEED = 2026
# Orders generated per upsert call by `demo --orders N`; upsert commits every 1000 of them.
BENCH_CHUNK = 10_000


@portal_cli.command("demo")
@click.option(
    "--orders",
    "order_count",
    type=click.IntRange(min=1),
    default=None,
    help="Benchmark data: generate N more orders across the demo merchants.",
)
@click.option("--merchants", type=click.IntRange(min=1), default=1, help="with --orders")
@click.option("--suppliers", type=click.IntRange(min=1), default=1, help="with --orders")
def demo_command(order_count: int | None, merchants: int, suppliers: int) -> None:
    """Demo accounts, bindings, a return address and orders for a walk-through (idempotent).

    With --orders N, also generate N new orders (benchmarks) spread over demo_shop,
    demo_shop2 … demo_shopM, each bound to demo_factory, demo_supplier2 … demo_supplierS.
    """
    merchant_user = _demo_user("demo_shop", lambda u: accounts.become_merchant(u, DEMO_MERCHANT))
    factory_user = _demo_user(
        "demo_factory",
        lambda u: accounts.become_supplier(u, "义乌暖暖家纺厂", "李厂长", "13900139000"),
    )
    other_factory = _demo_user(
        "demo_factory2",
        lambda u: accounts.become_supplier(u, "金华杯具制造有限公司", "陈经理", "0579-85551234"),
    )
    merchant = merchant_user.merchant
    if not accounts.list_return_addresses(merchant):
        accounts.add_return_address(
            merchant,
            accounts.AddressInput(
                "王小明", "13800138000", "浙江省", "杭州市", "余杭区", "仓前街道良睦路 88 号退货仓"
            ),
            make_default=True,
        )
    _ensure_active_binding(merchant, factory_user, "长期合作，毛毯类目")
    open_second = db.session.scalar(
        select(Binding).where(
            Binding.merchant_id == merchant.id, Binding.supplier_id == other_factory.supplier.id
        )
    )
    if open_second is None:
        bindings.apply_for_binding(merchant, other_factory.shop_id, "想合作保温杯")
    db.session.commit()
    orders_note = _demo_orders(merchant_user, factory_user.supplier)
    click.echo(f"demo accounts (password for all: {DEMO_PASSWORD}):")
    click.echo(f"  商家 merchant   demo_shop       shop ID {merchant_user.shop_id} ({orders_note})")
    click.echo(f"  厂家 supplier   demo_factory    shop ID {factory_user.shop_id} (bound)")
    click.echo(f"  厂家 supplier   demo_factory2   shop ID {other_factory.shop_id} (pending)")
    if order_count:
        _benchmark_orders(order_count, merchants, suppliers)


def _ensure_active_binding(merchant: Merchant, supplier_user: User, message: str) -> None:
    existing = db.session.scalar(
        select(Binding).where(
            Binding.merchant_id == merchant.id, Binding.supplier_id == supplier_user.supplier.id
        )
    )
    if existing is None:
        binding = bindings.apply_for_binding(merchant, supplier_user.shop_id, message)
        bindings.accept_binding(supplier_user.supplier, binding.id)


def _demo_orders(merchant_user: User, supplier: Supplier) -> str:
    """~300 realistic orders for demo_shop, a few assigned to demo_factory; once only."""
    merchant = merchant_user.merchant
    existing = db.session.scalar(
        select(func.count()).select_from(Order).where(Order.merchant_id == merchant.id)
    )
    if existing:
        return f"{existing} orders already"
    result = upsert_orders(
        current_keyring(),
        merchant,
        demo_rows(generate_orders(DEMO_ORDERS, seed=DEMO_SEED)),
        after_batch=lambda _result, _seen: db.session.commit(),
    )
    assignable = db.session.scalars(
        select(Order.order_no)
        .where(
            Order.merchant_id == merchant.id,
            ASSIGNABLE,
        )
        .order_by(Order.id)
        .limit(DEMO_ASSIGNED)
    ).all()
    assigned = allocation.assign_orders(merchant, assignable, supplier, merchant_user)
    db.session.commit()
    story = _demo_story(merchant_user, supplier, list(assigned.done))
    return f"{result.created} orders, {len(assigned.done)} assigned to demo_factory ({story})"


DEMO_PRINTED = 8  # of the assigned orders: labels printed (the first ones) …
DEMO_RETURNED = 6  # … tracking numbers returned …
DEMO_DISPATCHED = 3  # … and dispatched


def _demo_story(merchant_user: User, supplier: Supplier, order_nos: list[str]) -> str:
    """The rest of the story through the services a user's clicks call, so every tab and page
    has something: labels printed, tracking returned, orders dispatched, every SKU priced, and
    today's statement built and confirmed by the factory."""
    merchant, factory_user = merchant_user.merchant, supplier.user
    keys = sorted(
        set(
            db.session.scalars(
                select(Order.sku_key).where(
                    Order.merchant_id == merchant.id, Order.order_no.in_(order_nos)
                )
            )
        )
    )
    for index, key in enumerate(keys):  # priced before the returns, so the lines have a price
        prices.set_price(supplier, merchant.id, key, f"{28 + 3 * index}.50", factory_user)
    job = printing.create_print_job(
        supplier, order_nos[:DEMO_PRINTED], "ZTO", DEFAULT_LABEL_SIZE, "", factory_user
    ).job
    if job is not None:
        printing.render_print_job(current_keyring(), supplier, job, factory_user)
    items = [
        tracking.TrackingItem(number, "ZTO", f"7731{index:08d}")
        for index, number in enumerate(order_nos[:DEMO_RETURNED], start=1)
    ]
    returned = tracking.return_tracking(supplier, items, factory_user).returned
    db.session.commit()
    dispatched = dispatch.dispatch_orders(
        merchant, list(returned[:DEMO_DISPATCHED]), merchant_user
    ).dispatched
    db.session.commit()
    today = statement_clock.shanghai_day(statement_clock.now_utc())
    statement = statement_requesting.request_statement(
        merchant, supplier.id, today, today, merchant_user
    )
    db.session.commit()
    statement_build.build_statement(statement.id)  # the worker's job, done here and now
    db.session.refresh(statement)
    statement_review.confirm_statement(supplier, statement, factory_user)
    db.session.commit()
    return (
        f"{len(keys)} SKUs priced, {DEMO_PRINTED} printed, {len(returned)} returned, "
        f"{len(dispatched)} dispatched, statement #{statement.id} confirmed"
    )


def demo_rows(orders: Iterator[Mapping[str, Any]], first_row: int = 2) -> Iterator[ImportedOrder]:
    """Generated orders (the API input shape) as the rows an import of their export would give.

    Direct, not through a CSV round trip: the reader would cost a third of a benchmark's time.
    """
    for row, order in enumerate(orders, start=first_row):
        receiver = order["receiver"]
        lines = order["lines"]
        street = receiver.get("street") or ""
        detail = receiver.get("detail") or ""
        yield ImportedOrder(
            row=row,
            order_no=order["order_no"],
            platform_status=order["platform_status"],
            platform_status_text=order.get("platform_status_text")
            or STATUS_TEXTS[order["platform_status"]],
            after_sale_status=order.get("after_sale_status") or "",
            after_sale_active=bool(order.get("after_sale_status")),
            audit_hold=bool(order.get("audit_hold")),
            paid_at=order.get("paid_at"),
            promise_ship_at=order.get("promise_ship_at"),
            receiver_name=receiver["name"],
            receiver_phone=receiver["phone"],
            province=receiver["province"],
            city=receiver["city"],
            district=receiver.get("district") or "",
            # The export's 街道 carries the whole line after the district.
            detail=detail if detail.startswith(street) else street + detail,
            goods_id=lines[0]["goods_id"],
            goods_name=lines[0]["goods_name"],
            spec=lines[0]["spec"],
            style_id="",
            sku_code=lines[0].get("sku_code") or "",
            goods_code="",
            quantity=sum(line["quantity"] for line in lines),
            tracking_no="",
            courier_name="",
            merchant_note=order.get("merchant_note") or "",
            buyer_note=order.get("buyer_note") or "",
            goods_total_fen=order.get("goods_total_fen"),
            paid_fen=order.get("paid_fen"),
            merchant_received_fen=None,
        )


def _benchmark_orders(total: int, merchant_count: int, supplier_count: int) -> None:
    merchant_users = [
        _demo_user(
            name,
            lambda u, n=n: accounts.become_merchant(
                u,
                accounts.MerchantProfileInput(
                    **{**vars(DEMO_MERCHANT), "shop_name": f"演示店铺{n}"}
                ),
            ),
        )
        for n, name in _numbered("demo_shop", merchant_count)
    ]
    supplier_users = [
        _demo_user(
            name,
            lambda u, n=n: accounts.become_supplier(u, f"演示工厂{n}", "李厂长", "13900139000"),
        )
        for n, name in _numbered("demo_supplier", supplier_count, first="demo_factory")
    ]
    for merchant_user in merchant_users:
        for supplier_user in supplier_users:
            _ensure_active_binding(merchant_user.merchant, supplier_user, "")
    db.session.commit()
    merchant_ids = [u.merchant.id for u in merchant_users]
    keyring = current_keyring()
    seed = time.time_ns() % 2**32  # new order numbers on every run
    share, extra = divmod(total, merchant_count)
    started = time.perf_counter()
    done = 0
    for index, merchant_id in enumerate(merchant_ids):
        count = share + (1 if index < extra else 0)
        orders = generate_orders(count, seed=seed + index)
        while chunk := list(islice(orders, BENCH_CHUNK)):
            merchant = db.session.get(Merchant, merchant_id)
            upsert_orders(
                keyring,
                merchant,
                demo_rows(iter(chunk)),
                after_batch=lambda _result, _seen: db.session.commit(),
            )
            done += len(chunk)
            elapsed = time.perf_counter() - started
            click.echo(f"  {done}/{total} orders, {done / elapsed:,.0f} rows/s")
    elapsed = time.perf_counter() - started
    click.echo(
        f"generated {done} orders for {merchant_count} merchant(s) and "
        f"{supplier_count} supplier(s) in {elapsed:.1f} s ({done / max(elapsed, 1e-9):,.0f} rows/s)"
    )


def _numbered(prefix: str, count: int, first: str | None = None) -> Iterator[tuple[int, str]]:
    """(1, first or prefix), (2, prefix2), … (count, prefix<count>)."""
    for n in range(1, count + 1):
        yield n, (first or prefix) if n == 1 else f"{prefix}{n}"


# --- key rotation ----------------------------------------------------------------------------

REENCRYPT_BATCH = 1000
_ORDER_FIELDS = ("name", "phone", "detail")


def keys_file_path(app: Flask) -> Path:
    """Where the factory loaded the data keys from (KEYS_FILE, else the instance folder)."""
    return Path(app.config.get("KEYS_FILE") or Path(app.instance_path) / "data-keys.json")


@portal_cli.command("rotate-keys")
@click.option(
    "--new-key/--no-new-key",
    default=True,
    help="Add a new key version first. --no-new-key only finishes an interrupted re-encryption.",
)
@click.option(
    "--reencrypt/--no-reencrypt",
    "do_reencrypt",
    default=True,
    help="Re-encrypt the orders now. --no-reencrypt only adds the key (to distribute it first).",
)
def rotate_keys_command(new_key: bool, do_reencrypt: bool) -> None:
    """Add a data-key version and re-encrypt every order's receiver under it (restartable)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    ring = current_keyring()
    if new_key:
        ring = ring.with_new_version()
        path = keys_file_path(app)
        # Saved (atomically) before any row uses the key: a crash can never leave ciphertext
        # that no key on disk opens.
        ring.save(path)
        app.extensions["portal.domain.keyring"] = ring
        click.echo(f"added data key v{ring.current_version} to {path}")
        click.echo(
            "  other portal processes must load the new key file (copy it to every host, "
            "restart web and worker processes): until then they cannot read re-encrypted orders"
        )
    if not do_reencrypt:
        return
    click.echo(f"re-encrypting receiver data under key v{ring.current_version} …")
    changed, failed, remaining = reencrypt_orders(ring)
    click.echo(f"re-encrypted {changed} orders; {failed} could not be decrypted")
    if remaining:
        click.echo(
            f"{remaining} orders are not yet under v{ring.current_version} (written meanwhile by "
            "a process with the old key file): run `portal rotate-keys --no-new-key` again"
        )
    else:
        click.echo(f"every order is encrypted under v{ring.current_version}")


def _not_current(column: Any, prefix: str) -> Any:
    return and_(column != "", ~column.startswith(prefix, autoescape=True))


def reencrypt_orders(ring: KeyRing, batch_size: int = REENCRYPT_BATCH) -> tuple[int, int, int]:
    """Re-encrypt, in id order and committed per batch, orders not yet under the current key.

    Returns (orders re-encrypted, orders that failed to decrypt, orders still not current).
    Each row is written with a compare-and-set on its old ciphertexts, so an order changed by
    an import meanwhile keeps the newer data (a later run picks it up if needed).
    """
    prefix = f"v{ring.current_version}:"
    columns = [getattr(Order, f"{name}_enc") for name in _ORDER_FIELDS]
    pending = or_(*(_not_current(column, prefix) for column in columns))
    table = Order.__table__
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            *(table.c[f"{name}_enc"] == bindparam(f"old_{name}") for name in _ORDER_FIELDS),
        )
        .values({f"{name}_enc": bindparam(f"new_{name}") for name in _ORDER_FIELDS})
    )
    changed = failed = 0
    last_id = 0
    while True:
        rows = db.session.execute(
            select(Order.id, Order.merchant_id, Order.order_no, *columns)
            .where(Order.id > last_id, pending)
            .order_by(Order.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        params = []
        for row in rows:
            values: dict[str, Any] = {"b_id": row.id}
            try:
                for name in _ORDER_FIELDS:
                    old = getattr(row, f"{name}_enc")
                    aad = order_aad(row.merchant_id, row.order_no, name)
                    values[f"old_{name}"] = old
                    values[f"new_{name}"] = reencrypt(ring, old, aad)
            except DecryptionError:
                failed += 1
                continue
            params.append(values)
        if params:
            db.session.execute(statement, params)
        db.session.commit()
        changed += len(params)
        click.echo(f"  … {changed} orders", err=True)
    remaining = db.session.scalar(select(func.count()).select_from(Order).where(pending)) or 0
    db.session.commit()
    return changed, failed, remaining - failed


@portal_cli.command("index-names")
def index_names_command() -> None:
    """Give orders written before the name index existed their blind name index (restartable)."""
    indexed = index_receiver_names(current_keyring())
    click.echo(f"indexed the receiver name of {indexed} orders")


def index_receiver_names(ring: KeyRing, batch_size: int = REENCRYPT_BATCH) -> int:
    """Fill Order.name_index where it is empty and a name is stored, committed per batch.

    A one-off for orders imported before the index existed: new and re-imported orders get it
    as they are written. Rows that fail to decrypt are left as they are (and counted out)."""
    table = Order.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.name_enc == bindparam("old_name"))
        .values(name_index=bindparam("new_index"))
    )
    missing = and_(Order.name_index == "", Order.name_enc != "")
    indexed = 0
    last_id = 0
    while True:
        rows = db.session.execute(
            select(Order.id, Order.merchant_id, Order.order_no, Order.name_enc)
            .where(Order.id > last_id, missing)
            .order_by(Order.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        params = []
        for row in rows:
            try:
                name = decrypt(ring, row.name_enc, order_aad(row.merchant_id, row.order_no, "name"))
            except DecryptionError:
                continue
            params.append(
                {
                    "b_id": row.id,
                    "old_name": row.name_enc,
                    "new_index": name_index(ring, row.merchant_id, name),
                }
            )
        if params:
            db.session.execute(statement, params)
        db.session.commit()
        indexed += len(params)
    return indexed


# --- the job worker --------------------------------------------------------------------------


@portal_cli.command("worker")
@click.option("--threads", type=click.IntRange(min=1), default=2, help="jobs run at once")
@click.option("--burst", is_flag=True, help="Run the jobs queued now, then exit.")
def worker_command(threads: int, burst: bool) -> None:
    """Run the background job worker (imports, statements) in the foreground."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    where = "embedded SQLite queue" if is_embedded(app) else "Redis queue"
    if burst:
        queue.sweep(app)
        ran = queue.run_pending(app)
        click.echo(f"ran {ran} job(s) from the {where}")
        return
    click.echo(f"worker: {threads} thread(s) consuming the {where}; Ctrl-C to stop")
    queue.run_consumer(app, workers=threads)


@portal_cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--workers", default=2, type=int)
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the portal with gunicorn (POSIX) or the built-in server elsewhere."""
    click.echo(f"代发门户 running at http://{host}:{port}/")
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    # With the embedded queue each web process runs one in-process job worker (EMBEDDED_WORKER,
    # started by its first request), as under any other server.
    if not is_embedded(app):
        click.echo("jobs go to the Redis queue: run `flask --app wsgi portal worker` as well")
    if os.name == "posix":
        os.execvp(
            sys.executable,
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--threads",
                "4",
                "--bind",
                f"{host}:{port}",
                "--access-logfile",
                "-",
                # Path only: query strings may carry a searched phone number.
                "--access-logformat",
                '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
                # gunicorn's control socket defaults to one path per user: two portals on one
                # machine (or a benchmark next to the app) would fight over it.
                "--no-control-socket",
                "wsgi:app",
            ],
        )
    app.run(host=host, port=port, threaded=True)


# --- pre-start checks ------------------------------------------------------------------------

CHECK_MARKS = {
    checks.OK: ("✓", "green"),
    checks.WARN: ("!", "yellow"),
    checks.FAIL: ("✗", "red"),
    checks.SKIP: ("-", None),
}


@portal_cli.command("check")
def check_command() -> None:
    """Check configuration, keys, database and queue before starting; exit 1 on any failure."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    results = checks.run_checks(app, keys_file_path(app))
    for result in results:
        mark, colour = CHECK_MARKS[result.status]
        line = f"{click.style(mark, fg=colour, bold=True)} {result.name}: {result.message}"
        click.echo(f"{line} → {result.fix}" if result.fix else line)
    failed = sum(result.failed for result in results)
    warned = sum(result.status == checks.WARN for result in results)
    warnings = f"{warned} warning(s)"
    if failed:
        click.echo(f"{failed} check(s) failed, {warnings}: fix them before starting the portal")
        sys.exit(1)
    click.echo(f"all checks passed, {warnings}")

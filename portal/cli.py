"""The `flask --app wsgi portal …` command group."""

from __future__ import annotations

import os
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import select

from portal import accounts, bindings
from portal.errors import DomainError
from portal.extensions import db
from portal.models import Binding, User

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
@click.option("--role", type=click.Choice(["merchant", "supplier"]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--shop-name", default=None, help="店铺名称 / 厂家名称")
def create_user_command(username: str, role: str, password: str, shop_name: str | None) -> None:
    """Create an account with its role; prints the shop ID."""
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


@portal_cli.command("create-token")
@click.argument("username")
@click.option("--name", default="cli", help="a label to recognise the token by")
def create_token_command(username: str, name: str) -> None:
    """Create an API token for USERNAME and print it once."""
    user = db.session.scalar(
        select(User).where(User.username == accounts.normalize_username(username))
    )
    if user is None:
        raise click.ClickException(f"no such user: {username}")
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


@portal_cli.command("demo")
def demo_command() -> None:
    """Demo accounts, bindings and a return address for a walk-through (idempotent)."""
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
    existing = db.session.scalar(
        select(Binding).where(
            Binding.merchant_id == merchant.id, Binding.supplier_id == factory_user.supplier.id
        )
    )
    if existing is None:
        binding = bindings.apply_for_binding(merchant, factory_user.shop_id, "长期合作，毛毯类目")
        bindings.accept_binding(factory_user.supplier, binding.id)
    open_second = db.session.scalar(
        select(Binding).where(
            Binding.merchant_id == merchant.id, Binding.supplier_id == other_factory.supplier.id
        )
    )
    if open_second is None:
        bindings.apply_for_binding(merchant, other_factory.shop_id, "想合作保温杯")
    db.session.commit()
    click.echo(f"demo accounts (password for all: {DEMO_PASSWORD}):")
    click.echo(f"  商家 merchant   demo_shop       shop ID {merchant_user.shop_id}")
    click.echo(f"  厂家 supplier   demo_factory    shop ID {factory_user.shop_id} (bound)")
    click.echo(f"  厂家 supplier   demo_factory2   shop ID {other_factory.shop_id} (pending)")


@portal_cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--workers", default=2, type=int)
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the portal with gunicorn (POSIX) or the built-in server elsewhere."""
    click.echo(f"代发门户 running at http://{host}:{port}/")
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
                "wsgi:app",
            ],
        )
    current_app.run(host=host, port=port, threaded=True)

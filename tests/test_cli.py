"""The `flask --app wsgi portal …` commands: accounts, tokens, demo data, key rotation, worker."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.domain.demo_data import generate_orders, write_platform_export
from portal.domain.keyring import current_keyring
from portal.domain.privacy.crypto import token_version
from portal.domain.privacy.receiver import reveal_receiver
from portal.extensions import db
from portal.models import Binding, ImportJob, Merchant, Order, Price, Statement, User
from tests.conftest import PASSWORD, another_app


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def invoke(runner, *args: str):
    result = runner.invoke(args=["portal", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_create_user_prints_the_shop_id(app, runner):
    result = invoke(runner, "create-user", "alice", "--role", "merchant", "--password", PASSWORD)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "alice"))
        assert user.role == "merchant" and user.merchant is not None
        assert f"shop ID {user.shop_id}" in result.output
    result = invoke(runner, "create-user", "bob", "--role", "supplier", "--password", PASSWORD)
    assert "created supplier bob" in result.output


def test_create_user_refuses_a_taken_name(runner):
    invoke(runner, "create-user", "alice", "--role", "merchant", "--password", PASSWORD)
    result = runner.invoke(
        args=["portal", "create-user", "alice", "--role", "supplier", "--password", PASSWORD]
    )
    assert result.exit_code != 0 and "username_taken" in result.output


def test_create_token_prints_a_working_token(app, runner, factory):
    user = factory.merchant("tokenshop")
    token = invoke(runner, "create-token", "tokenshop").output.strip()
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json["username"] == user.username
    assert runner.invoke(args=["portal", "create-token", "nobody"]).exit_code != 0


def test_demo_is_idempotent_and_brings_orders(app, runner):
    first = invoke(runner, "demo").output
    assert "demo_shop" in first and "300 orders" in first
    assert "3 dispatched, statement #1 confirmed" in first
    with app.app_context():
        snapshot = (count(User), count(Binding), count(Order))
    second = invoke(runner, "demo").output
    assert "300 orders already" in second
    with app.app_context():
        assert (count(User), count(Binding), count(Order)) == snapshot
        shop = db.session.scalar(select(User).where(User.username == "demo_shop")).merchant
        factory_user = db.session.scalar(select(User).where(User.username == "demo_factory"))
        assert count(Order, Order.merchant_id == shop.id) == 300
        assigned = count(Order, Order.supplier_id == factory_user.supplier.id)
        assert 0 < assigned <= 20
        # Realistic: after-sale, audit-hold and not-awaiting orders are among them.
        assert count(Order, Order.after_sale_active.is_(True)) > 0
        assert count(Order, Order.platform_status != "awaiting_shipment") > 0
        assert count(Order, Order.address_complete.is_(True)) > 250
        # The whole story, so a new user sees every tab and page filled (issue 16).
        mine = Order.supplier_id == factory_user.supplier.id
        assert count(Order, mine, Order.stage == "assigned", Order.print_count > 0) == 2
        assert count(Order, mine, Order.stage == "assigned", Order.print_count == 0) > 0
        assert count(Order, mine, Order.stage == "returned") == 3
        assert count(Order, mine, Order.stage == "dispatched") == 3
        assert count(Price, Price.supplier_id == factory_user.supplier.id) > 0
        [statement] = db.session.scalars(select(Statement)).all()
        assert (statement.status, statement.review_status) == ("ready", "confirmed")
        assert (statement.line_count, statement.missing_price_count) == (6, 0)
        assert statement.total_fen > 0


def test_demo_orders_benchmark_spreads_orders_over_merchants(app, runner):
    output = invoke(
        runner, "demo", "--orders", "120", "--merchants", "2", "--suppliers", "2"
    ).output
    assert "rows/s" in output and "generated 120 orders" in output
    with app.app_context():
        shops = {
            u.username: u.merchant
            for u in db.session.scalars(select(User).where(User.username.like("demo_shop%")))
        }
        assert set(shops) == {"demo_shop", "demo_shop2"}
        assert count(Order, Order.merchant_id == shops["demo_shop2"].id) == 60
        assert count(Order, Order.merchant_id == shops["demo_shop"].id) == 300 + 60
        # Every benchmark merchant is actively bound to every benchmark supplier.
        assert count(Binding, Binding.merchant_id == shops["demo_shop2"].id) == 2
        assert count(Binding, Binding.status == "active") >= 4


def _seed_orders(app, factory, count_: int = 30) -> dict[str, tuple[str, str, str]]:
    """Import some orders; return order_no → plain (name, phone, detail)."""
    from portal.domain.import_jobs import run_import, start_import

    user = factory.merchant()
    buffer = io.BytesIO()
    write_platform_export(generate_orders(count_, seed=4), buffer)
    with app.app_context():
        merchant = db.session.get(Merchant, user.merchant.id)
        job = start_import(merchant, None, "seed.csv", buffer.getvalue())
        job_id = job.id
        db.session.commit()
        run_import(job_id)
        return _plaintexts()


def _plaintexts() -> dict[str, tuple[str, str, str]]:
    ring = current_keyring()
    return {
        o.order_no: reveal_receiver(
            ring, o.merchant_id, o.order_no, o.name_enc, o.phone_enc, o.detail_enc
        )
        for o in db.session.scalars(select(Order))
    }


def _versions() -> set[int | None]:
    versions = set()
    for row in db.session.execute(select(Order.name_enc, Order.phone_enc, Order.detail_enc)):
        versions |= {token_version(token) for token in row if token}
    return versions


def test_rotate_keys_reencrypts_every_order_and_keeps_it_readable(app, runner, factory):
    before = _seed_orders(app, factory)
    assert len(before) == 30
    keys_file = Path(app.config["KEYS_FILE"])
    with app.app_context():
        assert _versions() == {1}

    output = invoke(runner, "rotate-keys").output
    assert "added data key v2" in output and "re-encrypted 30 orders" in output
    assert "every order is encrypted under v2" in output
    assert json.loads(keys_file.read_text())["current_version"] == 2
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
    with app.app_context():
        assert current_keyring().current_version == 2
        assert _versions() == {2}
        assert _plaintexts() == before

    # Twice is fine: another version, everything still readable.
    invoke(runner, "rotate-keys")
    # Finishing an (already finished) re-encryption changes nothing.
    assert "re-encrypted 0 orders" in invoke(runner, "rotate-keys", "--no-new-key").output
    with app.app_context():
        assert _versions() == {3}
        assert _plaintexts() == before


def test_a_process_started_before_rotate_keys_still_reads_every_order(app, runner, factory):
    """rotate-keys in one process; a web process started before it (its ring has v1 only)
    reads the orders re-encrypted under v2: it loads the key file again for the new version."""
    before = _seed_orders(app, factory, 5)
    with app.app_context():
        username = db.session.scalar(select(User.username).where(User.role == "merchant"))
    token = invoke(runner, "create-token", username).output.strip()
    running = another_app(app)
    try:
        assert "every order is encrypted under v2" in invoke(runner, "rotate-keys").output
        client = running.test_client()
        for order_no, (name, phone, _detail) in before.items():
            response = client.get(
                f"/api/v1/orders/{order_no}", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.get_data(as_text=True)
            assert (response.json["receiver"]["name"], response.json["receiver"]["phone"]) == (
                name,
                phone,
            )
    finally:
        with running.app_context():
            db.engine.dispose()


def test_rotate_keys_resumes_an_interrupted_reencryption(app, runner, factory):
    before = _seed_orders(app, factory, 12)
    # Only the key is added (as when the run died before re-encrypting anything).
    assert "re-encrypting" not in invoke(runner, "rotate-keys", "--no-reencrypt").output
    with app.app_context():
        assert _versions() == {1}
        assert _plaintexts() == before
    output = invoke(runner, "rotate-keys", "--no-new-key").output
    assert "re-encrypted 12 orders" in output
    with app.app_context():
        assert _versions() == {2}
        assert _plaintexts() == before


def test_worker_burst_runs_queued_jobs(app, runner, factory, tmp_path):
    from portal.domain.import_jobs import queue_import, start_import

    app.config["QUEUE_FILE"] = str(tmp_path / "queue.db")
    user = factory.merchant()
    buffer = io.BytesIO()
    write_platform_export(generate_orders(5, seed=1), buffer)
    with app.app_context():
        job = start_import(
            db.session.get(Merchant, user.merchant.id), None, "a.csv", buffer.getvalue()
        )
        job_id = job.id
        db.session.commit()
        queue_import(job_id)
    assert "ran 1 job(s)" in invoke(runner, "worker", "--burst").output
    with app.app_context():
        assert db.session.get(ImportJob, job_id).status == "done"
        assert count(Order) == 5

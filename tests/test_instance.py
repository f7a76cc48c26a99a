"""The instance folder: secrets generated once with mode 0600; no keys, no start."""

from __future__ import annotations

import stat

import pytest

from portal import create_app
from portal.config import TestConfig
from portal.domain.privacy.keys import InsecureKeyFileError, MissingKeysError
from tests.conftest import config


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_embedded_first_run_generates_secrets_with_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    values = config()
    for key in ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "CREATE_KEYS"):
        values.pop(key)
    app = create_app(values)
    instance = tmp_path / "instance"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'portal.db'}"
    assert _mode(instance / "secret_key") == 0o600
    assert _mode(instance / "data-keys.json") == 0o600
    again = create_app(values)  # second start reads the same secrets
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_shared_database_refuses_to_start_without_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    values = config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'x.db'}")
    values.pop("CREATE_KEYS")
    with pytest.raises(MissingKeysError):
        create_app(values)
    assert not (tmp_path / "instance" / "data-keys.json").exists()


def test_loose_key_file_permissions_are_refused(tmp_path):
    keys = tmp_path / "keys.json"
    create_app(config(KEYS_FILE=str(keys)))
    keys.chmod(0o644)
    with pytest.raises(InsecureKeyFileError):
        create_app(config(KEYS_FILE=str(keys)))


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_PAGE_SIZE", "20")
    monkeypatch.setenv("PORTAL_SESSION_COOKIE_SECURE", "true")
    monkeypatch.setenv("PORTAL_KEYS_FILE", str(tmp_path / "k.json"))
    app = create_app(TestConfig)  # the environment wins over config classes
    assert app.config["PAGE_SIZE"] == 20
    assert app.config["SESSION_COOKIE_SECURE"] is True

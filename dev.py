#!/usr/bin/env python3
"""Set up and run the portal with nothing but Python: `python3 dev.py start` or `… test`.

Creates .venv, installs the project into it (again only when pyproject.toml changed), then:
  start  – migrates the SQLite database in ./instance, loads the demo data and serves on :5000
  test   – runs the test suite (extra arguments go to pytest)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_environment(extras: str) -> None:
    if not PYTHON.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{extras or 'base'}-{digest}"
    if stamp.exists():
        return
    print("installing dependencies …", flush=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            target,
        ],
        cwd=ROOT,
        check=True,
    )
    stamp.touch()


def flask(*args: str) -> None:
    subprocess.run([str(PYTHON), "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, check=True)


def start(args: list[str]) -> None:
    ensure_environment("")
    flask("portal", "init")
    flask("portal", "demo")
    port = args[0] if args else os.environ.get("PORT", "5000")
    os.chdir(ROOT)
    os.execv(
        str(PYTHON),
        [str(PYTHON), "-m", "flask", "--app", "wsgi", "portal", "serve", "--port", port],
    )


def test(args: list[str]) -> None:
    ensure_environment("dev")
    if not any(a.startswith("-n") or a == "no:xdist" for a in args):
        args = ["-n", "auto", *args]  # SQLite tests are independent: use every core
    result = subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT)
    sys.exit(result.returncode)


def main() -> None:
    command, *rest = sys.argv[1:] or ["start"]
    commands = {"start": start, "test": test}
    if command not in commands:
        sys.exit(__doc__)
    commands[command](rest)


if __name__ == "__main__":
    main()

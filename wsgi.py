"""WSGI entry point: the only module-level app."""

from portal import create_app
from portal.domain.privacy.keys import KeyRingError

try:
    app = create_app()
except KeyRingError as error:
    # A missing or unsafe secret or key file is the operator's to fix: what to do, not a
    # traceback (the flask CLI, gunicorn and `portal serve` all load the app from here).
    raise SystemExit(f"代发门户 cannot start: {error}") from None

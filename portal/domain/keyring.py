"""The app's data-key ring (loaded by the factory from the instance folder or PORTAL_KEYS_FILE)."""

from __future__ import annotations

from flask import current_app

from portal.domain.privacy.keys import KeyRing


def current_keyring() -> KeyRing:
    return current_app.extensions["portal.domain.keyring"]

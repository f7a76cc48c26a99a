"""Buyer data: encryption at rest (AES-GCM, the row identity as associated data)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.domain.privacy.keys import DecryptionError, KeyRing, is_int

# --------------------------------------------------------------------------- AEAD

_NONCE_BYTES = 12
_TAG_BYTES = 16
_TOKEN = re.compile(r"v([1-9][0-9]{0,8}):([A-Za-z0-9_-]+={0,2})")
ORDER_FIELDS = ("name", "phone", "detail")


def encrypt(keyring: KeyRing, plaintext: str, aad: bytes) -> str:
    """AES-256-GCM under the current key; "v<version>:" + urlsafe-base64(nonce + ciphertext)."""
    if not plaintext:
        return ""
    version = keyring.current_version
    return seal(cipher_for(keyring.keys[version]), version, plaintext, aad)


@lru_cache(maxsize=32)
def cipher_for(key: bytes) -> AESGCM:
    """The AES-GCM object of a key, made once: a desk page opens 100 tokens under one key."""
    return AESGCM(key)


def seal(cipher: AESGCM, version: int, plaintext: str, aad: bytes) -> str:
    # encrypt() with the cipher object already made: callers sealing many values reuse one.
    if not plaintext:
        return ""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = cipher.encrypt(nonce, plaintext.encode("utf-8"), aad)
    return f"v{version}:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def token_version(token: str | None) -> int | None:
    """Key version a token was sealed with, or None for an empty or malformed token."""
    match = _TOKEN.fullmatch(token or "")
    return int(match.group(1)) if match else None


def decrypt(keyring: KeyRing, token: str | None, aad: bytes) -> str:
    """Open a token from encrypt(); DecryptionError on tampering, wrong aad or unknown version."""
    if not token:
        return ""
    match = _TOKEN.fullmatch(token)
    if not match:
        raise DecryptionError("malformed ciphertext token")
    version = int(match.group(1))
    key = keyring.key_for(version)
    if key is None:
        raise DecryptionError(f"no key for version v{version} in the key ring")
    try:
        blob = base64.urlsafe_b64decode(match.group(2))
    except binascii.Error:
        raise DecryptionError("malformed ciphertext token") from None
    if len(blob) < _NONCE_BYTES + _TAG_BYTES:
        raise DecryptionError("malformed ciphertext token")
    try:
        data = cipher_for(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
        return data.decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        raise DecryptionError(
            "ciphertext failed authentication (tampered, wrong key or wrong associated data)"
        ) from None


def reencrypt(keyring: KeyRing, token: str | None, aad: bytes) -> str:
    """The token under the current key; unchanged (no decryption) when it already is."""
    if not token:
        return ""
    if token_version(token) == keyring.current_version:
        return token
    return encrypt(keyring, decrypt(keyring, token, aad), aad)


def order_aad(merchant_id: int, order_no: str, field: str) -> bytes:
    """Associated data binding a receiver ciphertext to its merchant, order and column.

    A ciphertext copied to another order, merchant or column then fails to decrypt. The
    consequence: merchant_id and order_no of a stored order must never change.
    """
    check_merchant_id(merchant_id)
    check_order_no(order_no)
    if field not in ORDER_FIELDS:
        raise ValueError(f"field must be one of {ORDER_FIELDS}")
    return order_aads(aad_prefix(merchant_id), order_no)[ORDER_FIELDS.index(field)]


def check_order_no(order_no: str) -> None:
    if not isinstance(order_no, str) or not order_no:
        raise ValueError("order_no must be a non-empty string")


def aad_prefix(merchant_id: int) -> str:
    # JSON keeps the parts unambiguous whatever characters an order number contains. The
    # associated data is json.dumps(["order-receiver", 1, merchant_id, order_no, field]); the
    # merchant's part is the same for all its orders, so it is encoded once.
    return json.dumps(["order-receiver", 1, merchant_id])[:-1] + ", "


_FIELDS_JSON = tuple(json.dumps(field) for field in ORDER_FIELDS)


def order_aads(prefix: str, order_no: str) -> tuple[bytes, ...]:
    """The associated data of each of ORDER_FIELDS (in that order) for one order."""
    head = f"{prefix}{json.dumps(order_no)}, "
    return tuple(f"{head}{field}]".encode("ascii") for field in _FIELDS_JSON)


def check_merchant_id(merchant_id: int) -> None:
    # A str "7" and an int 7 would silently produce different indexes and AAD.
    if not is_int(merchant_id):
        raise TypeError("merchant_id must be an int")

"""Buyer data: the key ring (versioned data keys in a key file, created and rotated safely)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# --------------------------------------------------------------------------- keys

KEY_FILE_FORMAT = 1
_KEY_BYTES = 32
_KEY_FIELDS = frozenset(
    {"format", "current_version", "aead_keys", "index_key", "receiver_key_secret"}
)
_VERSION_TEXT = re.compile(r"[1-9][0-9]{0,8}")


class KeyRingError(RuntimeError):
    """The key file is missing, unsafe or unreadable; the portal must not start."""


class MissingKeysError(KeyRingError):
    pass


class InsecureKeyFileError(KeyRingError):
    pass


class InvalidKeyFileError(KeyRingError):
    pass


class DecryptionError(ValueError):
    """A token could not be opened. The message never contains key material or plaintext."""


def is_int(value: object) -> bool:
    # bool is an int subclass; True as a version or merchant id is always a bug.
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, repr=False)
class KeyRing:
    """AEAD keys by version plus the two HMAC keys. Immutable: rotation returns a new ring."""

    keys: Mapping[int, bytes]
    current_version: int
    index_key: bytes
    receiver_key_secret: bytes
    # The file it was loaded from, and keys of versions added there since (by rotate-keys in
    # another process): looked up again when a ciphertext names a version this ring lacks.
    source: Path | None = field(default=None, compare=False)
    _added: dict[int, bytes] = field(default_factory=dict, compare=False)

    def key_for(self, version: int) -> bytes | None:
        """The key of `version`; a version unknown here makes the ring read its file again
        (another process rotated the keys) and keep the versions added there."""
        key = self.keys.get(version) or self._added.get(version)
        if key is not None or self.source is None:
            return key
        try:
            newer = KeyRing.load(self.source)
        except KeyRingError:
            return None
        if newer.index_key != self.index_key:
            return None  # another ring altogether: never mix keys of two rings
        self._added.update({v: k for v, k in newer.keys.items() if v not in self.keys})
        return self._added.get(version)

    def __post_init__(self) -> None:
        keys = dict(self.keys)
        if not keys:
            raise InvalidKeyFileError("key ring has no encryption keys")
        for version, key in keys.items():
            if not is_int(version) or version < 1:
                raise InvalidKeyFileError("key versions must be positive integers")
            if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
                raise InvalidKeyFileError(f"encryption key v{version} must be {_KEY_BYTES} bytes")
        if not is_int(self.current_version) or self.current_version not in keys:
            raise InvalidKeyFileError("current_version does not name one of the encryption keys")
        for name in ("index_key", "receiver_key_secret"):
            secret = getattr(self, name)
            if not isinstance(secret, bytes) or len(secret) != _KEY_BYTES:
                raise InvalidKeyFileError(f"{name} must be {_KEY_BYTES} bytes")
        if hmac.compare_digest(self.index_key, self.receiver_key_secret):
            raise InvalidKeyFileError("index_key and receiver_key_secret must differ")
        # A read-only view so that nobody can slip a key into a shared ring at runtime.
        object.__setattr__(self, "keys", MappingProxyType(keys))

    def __repr__(self) -> str:
        return f"KeyRing(versions={sorted(self.keys)}, current_version={self.current_version})"

    @classmethod
    def generate(cls) -> KeyRing:
        index_key = secrets.token_bytes(_KEY_BYTES)
        receiver_secret = secrets.token_bytes(_KEY_BYTES)
        return cls(
            keys={1: AESGCM.generate_key(bit_length=256)},
            current_version=1,
            index_key=index_key,
            receiver_key_secret=receiver_secret,
        )

    def with_new_version(self) -> KeyRing:
        """A ring whose current key is fresh; old keys stay so that existing tokens decrypt.

        The HMAC keys are kept: changing them would orphan every stored index and receiver key.
        """
        version = max(self.keys) + 1
        return KeyRing(
            keys={**self.keys, version: AESGCM.generate_key(bit_length=256)},
            current_version=version,
            index_key=self.index_key,
            receiver_key_secret=self.receiver_key_secret,
            source=self.source,
        )

    def to_json(self) -> str:
        document = {
            "format": KEY_FILE_FORMAT,
            "current_version": self.current_version,
            "aead_keys": {str(v): _b64(k) for v, k in sorted(self.keys.items())},
            "index_key": _b64(self.index_key),
            "receiver_key_secret": _b64(self.receiver_key_secret),
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            document = json.loads(text)
        except ValueError:
            # Not chained: the decoder error carries the whole document, keys included.
            raise InvalidKeyFileError("key file is not valid JSON") from None
        if not isinstance(document, dict):
            raise InvalidKeyFileError("key file must hold a JSON object")
        if set(document) != _KEY_FIELDS:
            missing = sorted(_KEY_FIELDS - set(document))
            unknown = sorted(set(document) - _KEY_FIELDS)
            raise InvalidKeyFileError(f"key file fields: missing {missing}, unknown {unknown}")
        if not is_int(document["format"]) or document["format"] != KEY_FILE_FORMAT:
            raise InvalidKeyFileError(f"key file format must be {KEY_FILE_FORMAT}")
        raw_keys = document["aead_keys"]
        if not isinstance(raw_keys, dict) or not raw_keys:
            raise InvalidKeyFileError("aead_keys must be a non-empty object")
        keys: dict[int, bytes] = {}
        for version_text, encoded in raw_keys.items():
            if not _VERSION_TEXT.fullmatch(version_text):
                raise InvalidKeyFileError("aead_keys names must be positive integers like '1'")
            keys[int(version_text)] = _unb64(encoded, f"aead_keys[{version_text}]")
        return cls(
            keys=keys,
            current_version=document["current_version"],
            index_key=_unb64(document["index_key"], "index_key"),
            receiver_key_secret=_unb64(document["receiver_key_secret"], "receiver_key_secret"),
        )

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Read a key file, refusing one that other users could read or change."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise MissingKeysError(_missing_message(path)) from None
        with os.fdopen(fd, "r", encoding="utf-8") as handle:
            # fstat on the open descriptor: the file checked is the file read.
            mode = os.fstat(handle.fileno()).st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise InsecureKeyFileError(
                    f"key file {path} has mode {stat.S_IMODE(mode):04o}; it must not be "
                    f"accessible to group or others. Fix with: chmod 600 {path}"
                )
            try:
                text = handle.read()
            except UnicodeDecodeError:
                raise InvalidKeyFileError(f"key file {path} is not UTF-8 text") from None
        try:
            ring = cls.from_json(text)
        except InvalidKeyFileError as error:
            raise InvalidKeyFileError(f"key file {path}: {error}") from None
        object.__setattr__(ring, "source", Path(path))
        return ring

    def save(self, path: Path, *, overwrite: bool = True) -> None:
        """Write atomically with mode 0600; with overwrite=False an existing file is kept."""
        path = Path(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        # O_EXCL + 0600 at creation: the keys are never readable by others, not even briefly.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            if overwrite:
                os.replace(temp, path)
            else:
                # link() fails if the target exists, so two processes creating keys at once
                # cannot overwrite each other's keys after one has started encrypting.
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        _fsync_directory(path.parent)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidKeyFileError(f"{name} must be a base64 string")
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise InvalidKeyFileError(f"{name} is not valid base64") from None
    return decoded  # KeyRing checks the length.


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable; not possible on every platform, and not worth failing over.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# What creates the secret and key files where the portal does not invent them (a database of
# its own, PORTAL_DATABASE_URL): every message that asks for them names this command.
CREATE_KEYS_COMMAND = "`PORTAL_CREATE_KEYS=true flask --app wsgi portal init`"


def _missing_message(path: Path) -> str:
    return (
        f"Buyer-data key file not found: {path}. The portal refuses to run without it rather "
        f"than store buyer data in plain text. Create it once with {CREATE_KEYS_COMMAND} "
        "(or portal.domain.privacy.load_or_create(path, create=True)), keep it out of git and the "
        "database, and back it up: without it, stored receiver data cannot be decrypted."
    )


def load_or_create(path: Path, create: bool) -> KeyRing:
    """Load the key ring; when the file is missing, create it only if create is true."""
    path = Path(path)
    try:
        return KeyRing.load(path)
    except MissingKeysError:
        if not create:
            raise
    # If another process created the file first, its keys win and we load those.
    with contextlib.suppress(FileExistsError):
        KeyRing.generate().save(path, overwrite=False)
    return KeyRing.load(path)

"""Buyer-data protection: normalisation, masks, encryption at rest, blind index and receiver key."""

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DecryptionError",
    "InsecureKeyFileError",
    "InvalidKeyFileError",
    "KeyRing",
    "KeyRingError",
    "MissingKeysError",
    "NormalizedReceiver",
    "Phone",
    "ProtectedReceiver",
    "ReceiverProtector",
    "blind_index",
    "decrypt",
    "encrypt",
    "is_valid_phone",
    "load_or_create",
    "mask_detail",
    "mask_name",
    "mask_phone",
    "normalize_phone",
    "normalize_text",
    "order_aad",
    "protect_receiver",
    "receiver_key",
    "reencrypt",
    "reveal_receiver",
    "token_version",
]


# --------------------------------------------------------------------------- text

# Tabs and line breaks separate words, so they become spaces; every other C0/C1 control is noise
# (NUL breaks PostgreSQL text columns and waybill printers).
_LINE_BREAKS = "\t\n\r\v\f\x85"
_ZWJ = "\u200d"
# Invisible characters that make two equal-looking names differ (and so defeat receiver_key and
# the blind index). Bidi controls are included because they can visually reorder a name or address
# on a merchant's screen or a printed waybill.
_INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_TEXT_TABLE = {
    **{code: None for code in range(0x00, 0x20)},
    0x7F: None,
    **{code: None for code in range(0x80, 0xA0)},
    **{ord(ch): None for ch in _INVISIBLE},
    **{ord(ch): " " for ch in _LINE_BREAKS},
}
# Same cleaning, but a ZWJ survives so that emoji ZWJ sequences stay whole for mask_name.
_DISPLAY_TABLE = {**_TEXT_TABLE, ord(_ZWJ): _ZWJ}
# Any character either table changes. str.translate with a dict is slow on CJK text (a dict
# lookup per character); most values contain none of these, and then need no translate.
_TRANSLATED = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(_TEXT_TABLE)) + "]")


def _clean(value: str | None, table: Mapping[int, str | None]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        # Spreadsheet readers hand over phones as int or float (1.3812345678e10); guessing the
        # digits back is the caller's job, where the cell type is known.
        raise TypeError(f"expected str or None, got {type(value).__name__}")
    # Strip invisibles before NFKC so that e.g. "e<ZWSP><combining acute>" still composes.
    if _TRANSLATED.search(value):
        value = value.translate(table)
    text = unicodedata.normalize("NFKC", value)
    return " ".join(text.split())


def normalize_text(value: str | None) -> str:
    """NFKC, drop control and zero-width characters, collapse whitespace to one space, strip."""
    return _clean(value, _TEXT_TABLE)


# --------------------------------------------------------------------------- phones

# Never \d: in Python it matches Arabic-Indic, Devanagari... digits, which couriers cannot dial.
_DIGITS = re.compile(r"[0-9]+")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"0[0-9]{9,11}")
_OTHER = re.compile(r"[0-9]{5,20}")
_EXTENSION = re.compile(r"[0-9]{1,8}")
# Only explicit markers live here; a dash before an extension ("13212345678-1234") is resolved
# by length in _split_mobile/_split_landline because dashes also separate area codes.
_EXT_MARKER = re.compile(r"转|轉|分机|分機|ext\.?|x|#|,|;")
# NFKC already folds full-width dashes, dots and parentheses to ASCII; the remaining dash-like
# characters (en/em dash, minus sign, hyphen) are not touched by NFKC and are listed explicitly.
_GROUP_SEPARATORS = re.compile(r"[\s.()\[\]\-\u2010-\u2015\u2212]+")
_COUNTRY_CODE = re.compile(r"(?:\+|00)86 ?")

PHONE_KINDS = ("mobile", "landline", "other", "empty", "invalid")


@dataclass(frozen=True)
class Phone:
    """A normalised phone: ASCII digits, extension apart (unparseable extension text is kept)."""

    number: str
    extension: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in PHONE_KINDS:
            raise ValueError(f"kind must be one of {PHONE_KINDS}")

    @property
    def canonical(self) -> str:
        return f"{self.number}-{self.extension}" if self.extension else self.number


def _split_mobile(groups: list[str]) -> tuple[str, str] | None:
    """Join leading digit groups into an 11-digit mobile; the groups after it are an extension."""
    number = ""
    for index, group in enumerate(groups):
        number += group
        if len(number) == 11:
            if _MOBILE.fullmatch(number):
                return number, "".join(groups[index + 1 :])
            return None
        if len(number) > 11:
            return None
    return None


def _split_landline(groups: list[str]) -> tuple[str, str] | None:
    """Join leading groups into area code + 7/8-digit subscriber; later groups are an extension."""
    digits = "".join(groups)
    if len(digits) < 3 or digits[0] != "0" or digits[1] == "0":
        return None
    # 010 and 02x are three-digit area codes; every other Chinese area code has four digits.
    area = 3 if digits[1] in "12" else 4
    shortest, longest = area + 7, area + 8
    number = ""
    used = 0
    for group in groups:
        if len(number) + len(group) > longest:
            break
        number += group
        used += 1
    if shortest <= len(number) <= longest:
        return number, "".join(groups[used:])
    return None


def _drop_prefix(groups: list[str], prefix: str) -> list[str] | None:
    if not groups or not groups[0].startswith(prefix):
        return None
    rest = groups[0][len(prefix) :]
    return ([rest] if rest else []) + groups[1:]


def _other_phone(text: str, extension: str = "") -> Phone:
    if any(char.isalpha() for char in text):
        # "138abcd5678" is a typo, not the number 1385678: never valid (kind "invalid").
        return Phone("".join(_DIGITS.findall(text)), extension, "invalid")
    return Phone("".join(_DIGITS.findall(text)), extension, "other")


def normalize_phone(value: str | None) -> Phone:
    """Parse a Chinese mobile/landline (any common notation, +86/0086, extensions) into a Phone."""
    return _parse_phone(normalize_text(value))


def _parse_phone(cleaned: str) -> Phone:
    """normalize_phone of a value that normalize_text has already cleaned."""
    text = cleaned.lower()
    if not text:
        return Phone("", "", "empty")

    main, explicit_ext = text, ""
    marker = _EXT_MARKER.search(text)
    if marker:
        main = text[: marker.start()]
        explicit_ext = _GROUP_SEPARATORS.sub("", text[marker.end() :])
        if explicit_ext and not _EXTENSION.fullmatch(explicit_ext):
            # Kept, not dropped: a virtual number without its extension reaches nobody, so
            # is_valid_phone must fail and the merchant must correct it.
            return _other_phone(main, explicit_ext)

    spaced = _GROUP_SEPARATORS.sub(" ", main).strip()
    international = False
    country = _COUNTRY_CODE.match(spaced)
    if country:
        spaced = spaced[country.end() :]
        international = True
    elif spaced.startswith("+"):
        # A foreign number: keep its digits, but it is neither a Chinese mobile nor a landline.
        return _other_phone(main, explicit_ext)

    groups = spaced.split()
    if not groups or not all(_DIGITS.fullmatch(group) for group in groups):
        return _other_phone(main, explicit_ext)

    split = _split_mobile(groups)
    kind = "mobile"
    if split is None and not international:
        # A bare "86" or a trunk "0" in front of a mobile; safe because no Chinese area code
        # starts with 01[3-9] and "86..." is too long for a mobile.
        for prefix in ("86", "0"):
            stripped = _drop_prefix(groups, prefix)
            if stripped and (split := _split_mobile(stripped)):
                break
    if split is None:
        kind = "landline"
        if international and not groups[0].startswith("0"):
            # "+86 21 1234 5678": the trunk 0 is dropped after a country code.
            groups = ["0" + groups[0], *groups[1:]]
        split = _split_landline(groups)
    if split is None:
        return Phone("".join(groups), explicit_ext, "other")

    number, trailing_ext = split
    extension = "-".join(part for part in (trailing_ext, explicit_ext) if part)
    if extension and not _EXTENSION.fullmatch(extension):
        # Two extensions, or one too long: which digits to dial is a guess, so the result is an
        # "other" whose extension makes is_valid_phone fail.
        return Phone(number, extension, "other")
    return Phone(number, extension, kind)


def is_valid_phone(phone: Phone) -> bool:
    """True for a mobile, a 10–12 digit landline starting with 0, or another 5–20 digit number."""
    if phone.extension and not _EXTENSION.fullmatch(phone.extension):
        return False
    pattern = {"mobile": _MOBILE, "landline": _LANDLINE, "other": _OTHER}.get(phone.kind)
    return bool(pattern and pattern.fullmatch(phone.number))


# --------------------------------------------------------------------------- masks

_MASK = "**"
_HIDDEN = "****"
# Below this many digits, showing the last four would reveal most of the number.
_MIN_DIGITS_FOR_TAIL = 7

# Approximation of Unicode's Extended_Pictographic property (not exposed by unicodedata), enough
# to keep emoji ZWJ sequences together.
_PICTOGRAPHIC_RANGES = (
    (0x00A9, 0x00A9),
    (0x00AE, 0x00AE),
    (0x203C, 0x203C),
    (0x2049, 0x2049),
    (0x2122, 0x2122),
    (0x2139, 0x2139),
    (0x2194, 0x21FF),
    (0x2300, 0x23FF),
    (0x25A0, 0x27BF),
    (0x2900, 0x297F),
    (0x2B00, 0x2BFF),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
    (0x3297, 0x3297),
    (0x3299, 0x3299),
    (0x1F000, 0x1F1E5),
    (0x1F200, 0x1F3FA),
    (0x1F400, 0x1FAFF),
    (0x1FC00, 0x1FFFD),
)


_PICTOGRAPHIC_STARTS = [low for low, _ in _PICTOGRAPHIC_RANGES]


def _is_pictographic(char: str) -> bool:
    # The ranges are sorted and disjoint: only the last one starting at or before code can hold it.
    code = ord(char)
    index = bisect_right(_PICTOGRAPHIC_STARTS, code) - 1
    return index >= 0 and code <= _PICTOGRAPHIC_RANGES[index][1]


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _is_extend(char: str) -> bool:
    """Characters that never start a grapheme: marks, variation selectors, skin tones, tags, ZWJ."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or char == _ZWJ
    )


def _first_grapheme(text: str) -> str:
    """First user-perceived character: the subset of UAX #29 that occurs in names."""
    first = text[0]
    if _is_regional_indicator(first):
        # A flag is a pair of regional indicators.
        return text[:2] if len(text) > 1 and _is_regional_indicator(text[1]) else first
    end = 1
    in_emoji = _is_pictographic(first)
    while end < len(text):
        char = text[end]
        joins_emoji = in_emoji and text[end - 1] == _ZWJ and _is_pictographic(char)
        if not (_is_extend(char) or joins_emoji):
            break
        end += 1
    # A ZWJ that joined nothing would render as a stray invisible character in the mask.
    return text[:end].rstrip(_ZWJ)


def _skip_in_mask(char: str) -> bool:
    # Leading marks, joiners, spaces and punctuation ("【张三】", "·阿里") are not a character of
    # the name, and a mask made of them would tell the merchant's staff nothing.
    return _is_extend(char) or char.isspace() or unicodedata.category(char).startswith("P")


def mask_name(name: str | None) -> str:
    """First perceived character + "**", whatever the name's length, so length does not leak."""
    if not normalize_text(name):
        return ""
    text = _clean(name, _DISPLAY_TABLE)
    start = next((i for i, char in enumerate(text) if not _skip_in_mask(char)), None)
    if start is None:
        return "*" + _MASK
    return _first_grapheme(text[start:]) + _MASK


def _mask_phone(phone: Phone) -> str:
    if phone.kind == "empty":
        return ""
    if phone.kind == "mobile":
        return f"{phone.number[:3]}****{phone.number[-4:]}"
    if len(phone.number) >= _MIN_DIGITS_FOR_TAIL:
        return _HIDDEN + phone.number[-4:]
    return _HIDDEN


def mask_phone(value: str | None) -> str:
    """Mobile as 138****5678, other numbers as ****1234; the extension is never shown."""
    return _mask_phone(normalize_phone(value))


def mask_detail(value: str | None) -> str:
    """Detail address is fully hidden; only whether it exists shows."""
    return _HIDDEN if normalize_text(value) else ""


# Seven or more digits, possibly grouped by spaces, dots or dashes, with an optional +86: a
# phone, a partial phone or anything else worth hiding in free text.
_PHONE_LIKE = re.compile(r"(?:(?:\+|00)86[\s-]?)?[0-9](?:[\s.\-]?[0-9]){6,}")
# Words after which a note names a person (「请联系欧阳娜娜」, 「收件人：张三女士」): the next
# two to four Han characters, short of a title, are taken for a name.
_NAME_CUE = re.compile(
    r"(联系人|联系|收件人|收货人|收件|收货|姓名|名字|找|交给|转交)([:：\s]*)"
    r"((?:(?!先生|女士|小姐|老师)[\u4e00-\u9fff\u3400-\u4dbf·]){2,4})"
)


def mask_free_text(text: str | None, names: Iterable[str] = ()) -> str:
    """Free text a factory sees (buyer and merchant notes) with people's data masked.

    Digit runs that could be phones become masks like 135****1234 or ****1234; each of
    `names` (the receiver's own name) and names that follow a cue (「请联系欧阳娜娜」,
    「收件人：张三」) become 欧** / 张**. It errs towards masking: a note is
    for the parcel, not for contacting the buyer.
    """
    text = normalize_text(text)
    if not text:
        return ""
    text = _PHONE_LIKE.sub(lambda match: mask_phone(match.group()) or _HIDDEN, text)
    for name in sorted({normalize_text(n) for n in names if normalize_text(n)}, key=len)[::-1]:
        text = text.replace(name, mask_name(name))
    return _NAME_CUE.sub(
        lambda match: match.group(1) + match.group(2) + mask_name(match.group(3)), text
    )


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


def _is_int(value: object) -> bool:
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
            if not _is_int(version) or version < 1:
                raise InvalidKeyFileError("key versions must be positive integers")
            if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
                raise InvalidKeyFileError(f"encryption key v{version} must be {_KEY_BYTES} bytes")
        if not _is_int(self.current_version) or self.current_version not in keys:
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
    def generate(cls) -> "KeyRing":
        index_key = secrets.token_bytes(_KEY_BYTES)
        receiver_secret = secrets.token_bytes(_KEY_BYTES)
        return cls(
            keys={1: AESGCM.generate_key(bit_length=256)},
            current_version=1,
            index_key=index_key,
            receiver_key_secret=receiver_secret,
        )

    def with_new_version(self) -> "KeyRing":
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
    def from_json(cls, text: str) -> "KeyRing":
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
        if not _is_int(document["format"]) or document["format"] != KEY_FILE_FORMAT:
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
    def load(cls, path: Path) -> "KeyRing":
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


def _missing_message(path: Path) -> str:
    return (
        f"Buyer-data key file not found: {path}. The portal refuses to run without it rather "
        "than store buyer data in plain text. Create it once with `flask --app wsgi portal init` "
        "(or portal.privacy.load_or_create(path, create=True)), keep it out of git and the "
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
    return _seal(AESGCM(keyring.keys[version]), version, plaintext, aad)


def _seal(cipher: AESGCM, version: int, plaintext: str, aad: bytes) -> str:
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
        data = AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
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
    _check_merchant_id(merchant_id)
    _check_order_no(order_no)
    if field not in ORDER_FIELDS:
        raise ValueError(f"field must be one of {ORDER_FIELDS}")
    return _order_aads(_aad_prefix(merchant_id), order_no)[ORDER_FIELDS.index(field)]


def _check_order_no(order_no: str) -> None:
    if not isinstance(order_no, str) or not order_no:
        raise ValueError("order_no must be a non-empty string")


def _aad_prefix(merchant_id: int) -> str:
    # JSON keeps the parts unambiguous whatever characters an order number contains. The
    # associated data is json.dumps(["order-receiver", 1, merchant_id, order_no, field]); the
    # merchant's part is the same for all its orders, so it is encoded once.
    return json.dumps(["order-receiver", 1, merchant_id])[:-1] + ", "


_FIELDS_JSON = tuple(json.dumps(field) for field in ORDER_FIELDS)


def _order_aads(prefix: str, order_no: str) -> tuple[bytes, ...]:
    """The associated data of each of ORDER_FIELDS (in that order) for one order."""
    head = f"{prefix}{json.dumps(order_no)}, "
    return tuple(f"{head}{field}]".encode("ascii") for field in _FIELDS_JSON)


def _check_merchant_id(merchant_id: int) -> None:
    # A str "7" and an int 7 would silently produce different indexes and AAD.
    if not _is_int(merchant_id):
        raise TypeError("merchant_id must be an int")


# --------------------------------------------------------------------------- HMAC lookups


# json.dumps(parts, ensure_ascii=False, separators=(",", ":")) without a new encoder per call.
_HMAC_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _hmac_hex(key: bytes, parts: list[object]) -> str:
    message = _HMAC_JSON.encode(parts).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _phone_index(keyring: KeyRing, merchant_id: int, phone: Phone) -> str:
    _check_merchant_id(merchant_id)
    if not phone.number:
        return ""
    # The extension is left out on purpose: a search by a virtual number finds all its orders.
    return _hmac_hex(keyring.index_key, ["phone-index", 1, merchant_id, phone.number])


def blind_index(keyring: KeyRing, merchant_id: int, phone: str | None) -> str:
    """Merchant-scoped HMAC of the phone number (extension excluded), for search by phone."""
    return _phone_index(keyring, merchant_id, normalize_phone(phone))


def name_index(keyring: KeyRing, merchant_id: int, name: str | None) -> str:
    """Merchant-scoped HMAC of the receiver's full name (normalised: NFKC, case, no spaces), for
    search by name without decrypting; "" for an empty name."""
    _check_merchant_id(merchant_id)
    part = _key_part(normalize_text(name))
    if not part:
        return ""
    return _hmac_hex(keyring.index_key, ["name-index", 1, merchant_id, part])


def _key_part(cleaned: str) -> str:
    # Spaces carry no meaning in Chinese names and addresses, but buyers type them at random.
    return cleaned.casefold().replace(" ", "")


@dataclass(frozen=True, slots=True)
class NormalizedReceiver:
    """A receiver's fields, each through normalize_text (the phone also parsed) exactly once.

    receiver_key, protect_receiver and the import's phone check all start from these.
    """

    name: str
    phone_text: str
    phone: Phone
    province: str
    city: str
    district: str
    detail: str

    @classmethod
    def of(
        cls,
        name: str | None,
        phone: str | None,
        province: str | None,
        city: str | None,
        district: str | None,
        detail: str | None,
    ) -> "NormalizedReceiver":
        phone_text = normalize_text(phone)
        return cls(
            name=normalize_text(name),
            phone_text=phone_text,
            phone=_parse_phone(phone_text),
            province=normalize_text(province),
            city=normalize_text(city),
            district=normalize_text(district),
            detail=normalize_text(detail),
        )


def _receiver_key(keyring: KeyRing, merchant_id: int, receiver: NormalizedReceiver) -> str:
    phone_part = receiver.phone.canonical or _key_part(receiver.phone_text)
    parts = [
        _key_part(receiver.name),
        phone_part,
        *map(_key_part, (receiver.province, receiver.city, receiver.district, receiver.detail)),
    ]
    if not any(parts):
        return ""
    return _hmac_hex(keyring.receiver_key_secret, ["receiver", 1, merchant_id, *parts])[:32]


def receiver_key(
    keyring: KeyRing,
    merchant_id: int,
    name: str | None,
    phone: str | None,
    province: str | None,
    city: str | None,
    district: str | None,
    detail: str | None,
) -> str:
    """Opaque merchant-scoped key, equal for orders to the same receiver; "" if all are empty."""
    _check_merchant_id(merchant_id)
    receiver = NormalizedReceiver.of(name, phone, province, city, district, detail)
    return _receiver_key(keyring, merchant_id, receiver)


# --------------------------------------------------------------------------- order receiver


@dataclass(frozen=True)
class ProtectedReceiver:
    """What an order stores about its receiver: ciphertexts, masks and the HMAC lookups."""

    name_enc: str
    phone_enc: str
    detail_enc: str
    name_mask: str
    phone_mask: str
    detail_mask: str
    phone_index: str
    receiver_key: str
    name_index: str = ""


def protect_receiver(
    keyring: KeyRing,
    merchant_id: int,
    order_no: str,
    name: str | None,
    phone: str | None,
    province: str | None,
    city: str | None,
    district: str | None,
    detail: str | None,
    key: str | None = None,
) -> ProtectedReceiver:
    """Encrypt, mask and index a receiver for one order. Province/city/district stay in clear.

    `key` is the receiver_key when the caller computed it already (the import does)."""
    receiver = NormalizedReceiver.of(name, phone, province, city, district, detail)
    return ReceiverProtector(keyring, merchant_id).protect(order_no, receiver, key)


class ReceiverProtector:
    """receiver_key and protect_receiver for many orders of one merchant (the import's loop).

    The cipher and the merchant's part of the associated data are set up once, not per field,
    and each receiver is normalised once (NormalizedReceiver) for both the key and the rest.
    """

    def __init__(self, keyring: KeyRing, merchant_id: int) -> None:
        _check_merchant_id(merchant_id)
        self.keyring = keyring
        self.merchant_id = merchant_id
        self._version = keyring.current_version
        self._cipher = AESGCM(keyring.keys[self._version])
        self._aad_prefix = _aad_prefix(merchant_id)

    def receiver_key(self, receiver: NormalizedReceiver) -> str:
        """receiver_key() of the receiver's original fields."""
        return _receiver_key(self.keyring, self.merchant_id, receiver)

    def protect(
        self, order_no: str, receiver: NormalizedReceiver, key: str | None = None
    ) -> ProtectedReceiver:
        """protect_receiver() of the receiver's original fields."""
        _check_order_no(order_no)
        name_aad, phone_aad, detail_aad = _order_aads(self._aad_prefix, order_no)
        parsed = receiver.phone
        # A recognised number is stored canonically (what couriers expect on a waybill);
        # anything else is kept as typed, cleaned, so the merchant can still read and correct it.
        recognised = parsed.kind in ("mobile", "landline")
        phone_text = parsed.canonical if recognised else receiver.phone_text
        return ProtectedReceiver(
            name_enc=_seal(self._cipher, self._version, receiver.name, name_aad),
            phone_enc=_seal(self._cipher, self._version, phone_text, phone_aad),
            detail_enc=_seal(self._cipher, self._version, receiver.detail, detail_aad),
            name_mask=mask_name(receiver.name),
            phone_mask=_mask_phone(parsed),
            detail_mask=mask_detail(receiver.detail),
            phone_index=_phone_index(self.keyring, self.merchant_id, parsed),
            receiver_key=key or self.receiver_key(receiver),
            name_index=name_index(self.keyring, self.merchant_id, receiver.name),
        )


def reveal_receiver(
    keyring: KeyRing,
    merchant_id: int,
    order_no: str,
    name_enc: str | None,
    phone_enc: str | None,
    detail_enc: str | None,
) -> tuple[str, str, str]:
    """Plain (name, phone, detail) of an order — only for the merchant's views and the waybill."""
    _check_merchant_id(merchant_id)
    _check_order_no(order_no)
    # The three fields' associated data at once (a desk page reveals 50 receivers).
    name_aad, phone_aad, detail_aad = _order_aads(_aad_prefix(merchant_id), order_no)
    return (
        decrypt(keyring, name_enc, name_aad),
        decrypt(keyring, phone_enc, phone_aad),
        decrypt(keyring, detail_enc, detail_aad),
    )

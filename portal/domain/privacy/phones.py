"""Buyer data: phone numbers (mainland mobiles and landlines, extensions) parsed and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.domain.privacy.normalize import normalize_text

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
    return parse_phone(normalize_text(value))


def parse_phone(cleaned: str) -> Phone:
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

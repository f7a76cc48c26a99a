"""Buyer data: masks for names, phones and addresses (what a factory sees)."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable

from portal.domain.privacy.normalize import (
    DISPLAY_TABLE,
    ZERO_WIDTH_JOINER,
    clean_text,
    normalize_text,
)
from portal.domain.privacy.phones import Phone, normalize_phone

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
        or char == ZERO_WIDTH_JOINER
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
        joins_emoji = in_emoji and text[end - 1] == ZERO_WIDTH_JOINER and _is_pictographic(char)
        if not (_is_extend(char) or joins_emoji):
            break
        end += 1
    # A ZWJ that joined nothing would render as a stray invisible character in the mask.
    return text[:end].rstrip(ZERO_WIDTH_JOINER)


def _skip_in_mask(char: str) -> bool:
    # Leading marks, joiners, spaces and punctuation ("【张三】", "·阿里") are not a character of
    # the name, and a mask made of them would tell the merchant's staff nothing.
    return _is_extend(char) or char.isspace() or unicodedata.category(char).startswith("P")


def mask_name(name: str | None) -> str:
    """First perceived character + "**", whatever the name's length, so length does not leak."""
    if not normalize_text(name):
        return ""
    text = clean_text(name, DISPLAY_TABLE)
    start = next((i for i, char in enumerate(text) if not _skip_in_mask(char)), None)
    if start is None:
        return "*" + _MASK
    return _first_grapheme(text[start:]) + _MASK


def mask_parsed_phone(phone: Phone) -> str:
    if phone.kind == "empty":
        return ""
    if phone.kind == "mobile":
        return f"{phone.number[:3]}****{phone.number[-4:]}"
    if len(phone.number) >= _MIN_DIGITS_FOR_TAIL:
        return _HIDDEN + phone.number[-4:]
    return _HIDDEN


def mask_phone(value: str | None) -> str:
    """Mobile as 138****5678, other numbers as ****1234; the extension is never shown."""
    return mask_parsed_phone(normalize_phone(value))


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

"""Buyer data: text normalisation (NFKC, invisible characters, the display table)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# --------------------------------------------------------------------------- text

# Tabs and line breaks separate words, so they become spaces; every other C0/C1 control is noise
# (NUL breaks PostgreSQL text columns and waybill printers).
_LINE_BREAKS = "\t\n\r\v\f\x85"
ZERO_WIDTH_JOINER = "\u200d"
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
DISPLAY_TABLE = {**_TEXT_TABLE, ord(ZERO_WIDTH_JOINER): ZERO_WIDTH_JOINER}
# Any character either table changes. str.translate with a dict is slow on CJK text (a dict
# lookup per character); most values contain none of these, and then need no translate.
_TRANSLATED = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(_TEXT_TABLE)) + "]")


def clean_text(value: str | None, table: Mapping[int, str | None]) -> str:
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
    return clean_text(value, _TEXT_TABLE)

"""Digits that are in a response by chance, removed before a plaintext check looks for runs of
five digits of a buyer's phone: opaque hex keys (receiver_key, tokens), timestamps, whose
microseconds (".526004") hold five digits of a given phone now and then, and shop IDs, drawn at
random (a merchant's "135774012" once failed the workflow suite with "13577"); a phone never
shows as a run of exactly nine digits."""

from __future__ import annotations

import re

from portal.domain.accounts import SHOP_ID_DIGITS

HEX_KEY = re.compile(r"\b[0-9a-f]{16,}\b")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?")
SHOP_ID = re.compile(rf"(?<!\d)\d{{{SHOP_ID_DIGITS}}}(?!\d)")


def without_incidental_digits(text: str) -> str:
    return SHOP_ID.sub(" ", TIMESTAMP.sub(" ", HEX_KEY.sub(" ", text)))

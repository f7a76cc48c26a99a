"""Digits that are in a response by chance, removed before a plaintext check looks for runs of
five digits of a buyer's phone: opaque hex keys (receiver_key, tokens) and timestamps, whose
microseconds (".526004") hold five digits of a given phone now and then."""

from __future__ import annotations

import re

HEX_KEY = re.compile(r"\b[0-9a-f]{16,}\b")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?")


def without_incidental_digits(text: str) -> str:
    return TIMESTAMP.sub(" ", HEX_KEY.sub(" ", text))

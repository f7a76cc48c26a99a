"""Courier lookup and tracking-number normalisation, validation and format warnings."""

from __future__ import annotations

import pytest

from portal.domain.couriers import (
    COURIERS,
    find_courier,
    format_warning,
    is_valid_tracking_no,
    normalize_tracking_no,
)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("SF", "SF"),
        ("sf", "SF"),
        ("顺丰", "SF"),
        ("顺丰速运", "SF"),
        (" 圆通 ", "YTO"),
        ("ＺＴＯ", "ZTO"),
        ("极兔速递", "JT"),
        ("邮政EMS", "EMS"),
        ("邮政快递包裹", "YZPY"),
        ("京东", "JD"),
        ("德邦", "DBL"),
        ("其他", "OTHER"),
    ],
)
def test_find_courier_by_code_or_name(value, code):
    assert find_courier(value).code == code


def test_unknown_courier():
    assert find_courier("火星快递") is None
    assert find_courier("") is None


def test_codes_unique():
    codes = [c.code for c in COURIERS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        (" sf1234567890123 ", "SF1234567890123"),
        ("ＳＦ１２３４５６７８９０１２３", "SF1234567890123"),
        ("YT 1234 5678 90123", "YT1234567890123"),
        ("'773012345678", "773012345678"),
        ("JT\u200b1234567890123", "JT1234567890123"),
    ],
)
def test_normalize(raw, normalized):
    assert normalize_tracking_no(raw) == normalized


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("SF1234567890123", True),
        ("1234567", False),  # too short
        ("1" * 32, True),
        ("1" * 33, False),
        ("AB-12345678", True),
        ("SF12345678/90", False),
        ("单号12345678", False),
    ],
)
def test_validation(value, valid):
    assert is_valid_tracking_no(value) is valid


def test_format_warnings_only_warn():
    sf = find_courier("SF")
    assert format_warning(sf, "SF1234567890123") is None
    warning = format_warning(sf, "1234567890123")
    assert warning is not None and "顺丰速运" in warning.message
    assert format_warning(find_courier("EMS"), "EA123456789CN") is None
    assert format_warning(find_courier("DBL"), "DPK123456789012") is None
    assert format_warning(find_courier("JD"), "JDAB12345678901") is None
    assert format_warning(find_courier("OTHER"), "ANYTHING123") is None

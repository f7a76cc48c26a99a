"""Couriers and tracking numbers (DESIGN §6): one table of codes and names, one normaliser.

There is no authoritative format per courier, so the only hard rule is 8–32 characters of
[A-Z0-9-]; a courier-specific pattern that does not match is a warning, never a refusal.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Courier:
    code: str
    name: str  # shown in the portal
    aliases: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    pattern_hint: str = ""
    # As Pinduoduo spells it in its order export and batch-shipping (批量发货) template, where
    # that differs from `name` (the sample export in shared/samples says 圆通快递).
    platform_label: str = ""

    @property
    def platform_name(self) -> str:
        """The courier name for the platform's batch-shipping file."""
        return self.platform_label or self.name


COURIERS: tuple[Courier, ...] = (
    Courier(
        "SF",
        "顺丰速运",
        ("顺丰", "顺丰快递", "SF EXPRESS"),
        re.compile(r"SF[0-9]{13}"),
        "SF+13位数字",
    ),
    Courier(
        "YTO",
        "圆通速递",
        ("圆通", "圆通快递"),
        re.compile(r"YT[0-9]{13}"),
        "YT+13位数字",
        platform_label="圆通快递",
    ),
    Courier("ZTO", "中通快递", ("中通",), re.compile(r"[0-9]{12,15}"), "12–15位数字"),
    Courier("STO", "申通快递", ("申通",), re.compile(r"[0-9]{12,15}"), "12–15位数字"),
    Courier("YUNDA", "韵达快递", ("韵达", "韵达速递"), re.compile(r"[0-9]{13,15}"), "13–15位数字"),
    Courier(
        "EMS",
        "邮政EMS",
        ("EMS", "中国邮政EMS", "邮政速递"),
        re.compile(r"[A-Z]{2}[0-9]{9}CN|[0-9]{13}"),
        "2位字母+9位数字+CN，或13位数字",
    ),
    Courier(
        "YZPY",
        "邮政快递包裹",
        ("邮政包裹", "中国邮政", "邮政"),
        re.compile(r"[0-9]{13}"),
        "13位数字",
    ),
    Courier(
        "JD",
        "京东快递",
        ("京东", "京东物流"),
        re.compile(r"JD[0-9A-Z]{2}[0-9]{11}"),
        "JD+2位字母数字+11位数字",
    ),
    Courier(
        "JT", "极兔速递", ("极兔", "极兔快递", "J&T"), re.compile(r"JT[0-9]{13}"), "JT+13位数字"
    ),
    Courier("DBL", "德邦快递", ("德邦", "德邦物流"), re.compile(r"DPK[0-9]{12}"), "DPK+12位数字"),
    Courier("OTHER", "其他", ("其它", "OTHERS")),
)

_BY_KEY: dict[str, Courier] = {}
for _courier in COURIERS:
    for _key in (_courier.code, _courier.name, *_courier.aliases):
        _BY_KEY[unicodedata.normalize("NFKC", _key).strip().upper()] = _courier

TRACKING_RE = re.compile(r"[A-Z0-9-]{8,32}")
_STRIP = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]+")
MAX_EXTRA_TRACKING_NOS = 10


def find_courier(value: str | None) -> Courier | None:
    """A courier by code or Chinese name (full-/half-width and case do not matter)."""
    key = unicodedata.normalize("NFKC", value or "").strip().upper()
    return _BY_KEY.get(key)


def courier_by_code(code: str) -> Courier:
    courier = find_courier(code)
    if courier is None or courier.code != code:
        raise KeyError(code)
    return courier


def normalize_tracking_no(value: str | None) -> str:
    """NFKC (full-width letters and digits), strip every space, upper-case."""
    text = unicodedata.normalize("NFKC", value or "")
    return _STRIP.sub("", text).upper().lstrip("'=").strip('"')


def is_valid_tracking_no(tracking_no: str) -> bool:
    return TRACKING_RE.fullmatch(tracking_no) is not None


@dataclass(frozen=True)
class TrackingWarning:
    tracking_no: str
    courier: str
    message: str
    # Which item of a batch it is about; the tracking service fills these in.
    order_no: str = ""
    row: int | None = None


def format_warning(courier: Courier, tracking_no: str) -> TrackingWarning | None:
    """A courier-specific shape that does not match: shown to the user, never a refusal."""
    if courier.pattern is None or courier.pattern.fullmatch(tracking_no):
        return None
    message = _l(
        "运单号 %(no)s 与%(courier)s常见格式（%(hint)s）不符，请核对",
        no=tracking_no,
        courier=courier.name,
        hint=courier.pattern_hint,
    )
    return TrackingWarning(tracking_no, courier.code, str(message))


def platform_courier_name(code: str) -> str:
    """The platform's spelling for a stored courier code (an unknown code is passed through)."""
    courier = find_courier(code) if code else None
    return courier.platform_name if courier is not None and courier.code == code else code


def courier_choices() -> list[tuple[str, str]]:
    return [(c.code, c.name) for c in COURIERS]

"""Realistic fake Pinduoduo orders and their platform export, for the demo, tests and benchmarks."""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any, BinaryIO

from openpyxl import Workbook

from portal.domain.regions import random_triple

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for any
# order date and needs no tz database on the machine.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

# The Pinduoduo merchant order export, column for column (see shared/samples).
PDD_EXPORT_HEADER: tuple[str, ...] = (
    "商品", "订单号", "订单状态", "商品总价(元)", "店铺优惠折扣(元)", "平台优惠折扣(元)",
    "邮费(元)", "用户实付金额(元)", "商家实收金额(元)", "商品数量(件)", "收货人", "手机",
    "是否审核中", "省", "市", "区", "街道", "支付时间", "拼单成功时间", "订单确认时间",
    "承诺发货时间", "发货时间", "确认收货时间", "商品id", "商品规格", "样式ID",
    "商家编码-SKU维度", "商家编码-商品维度", "快递单号", "快递公司", "商家备注", "售后状态",
    "买家留言",
)  # fmt: skip

NO_AFTER_SALE_TEXT = "无售后或售后取消"

# The export string for each platform status, for orders that do not carry their own text.
STATUS_TEXTS: Mapping[str, str] = {
    "pending_payment": "待支付",
    "awaiting_shipment": "待发货",
    "shipped": "已发货，待签收",
    "completed": "已签收",
    "cancelled": "已取消",
}

Random01 = Callable[[], float]  # random.Random.random: a float in [0, 1)

HOUR = 3600
DAY = 24 * HOUR
_SHANGHAI_OFFSET = 8 * HOUR
_PROMISE_DELTAS: Mapping[int, timedelta] = {h: timedelta(hours=h) for h in (24, 48, 72)}

# (cumulative share, platform_status, status text, after-sale status). After-sale on about 3% of
# orders, pending/cancelled/refunded orders rare, nearly 9 in 10 awaiting shipment.
_STATUS_PROFILES: tuple[tuple[float, str, str, str], ...] = (
    (0.884, "awaiting_shipment", "待发货", ""),
    (0.894, "awaiting_shipment", "待发货", "买家申请退款，待商家处理"),
    (0.900, "awaiting_shipment", "待发货", "退款中"),
    (0.936, "shipped", "已发货，待签收", ""),
    (0.940, "shipped", "已发货，待签收", "退款中"),
    (0.970, "completed", "已签收", ""),
    (0.980, "cancelled", "未发货，退款成功", "退款成功"),
    (0.990, "cancelled", "已取消", ""),
    (1.000, "pending_payment", "待支付", ""),
)
# About 2% of orders go again to one of the last few hundred receivers (same-receiver grouping).
_REPEAT_RECEIVER_RATE = 0.02
_RECENT_RECEIVERS = 500
_UNPAID_STATUS_TEXTS = frozenset({"待支付", "已取消"})
# Audit hold only on orders awaiting shipment; this rate makes it about 1% of all orders.
_AUDIT_HOLD_RATE = 0.0112

# Seconds between payment (or creation, when unpaid) and `now`, by platform status. The export
# derives shipping and receipt times inside these windows (see _export_row).
_AGE_WINDOWS: Mapping[str, tuple[int, int]] = {
    "shipped": (DAY, 5 * DAY),
    "completed": (4 * DAY, 12 * DAY),
    "cancelled": (2 * HOUR, 3 * DAY),
    "pending_payment": (60, 2 * HOUR),
}

# Affine permutation of the order counter modulo a prime below 9·10^15: distinct counters give
# distinct 15-digit suffixes (1 followed by 14 digits up to 9…), so uniqueness needs no set.
_ORDER_NO_PRIME = 899_999_999_999_983
_ORDER_NO_OFFSET = 10**14

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤王李张刘陈王李张刘陈杨黄赵吴周"
)
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "司徒", "夏侯", "尉迟", "公孙",
)  # fmt: skip
_GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉玲建国文斌宇浩然轩涵欣怡婷琪"
    "豪俊志燕慧颖晨阳凯鑫博雪梅琳倩佳悦诗雨思远航宁晶亮峰"
)
_GIVEN_NAMES = (
    "晓明", "子涵", "雨萱", "浩宇", "梓轩", "欣怡", "俊杰", "建华", "秀英", "桂兰", "丽娟", "志强",
    "海燕", "思远", "一诺", "佳怡", "宇航", "文博", "诗涵", "晨曦", "娜娜", "婷婷", "国庆", "建军",
)  # fmt: skip
_MINORITY_FIRST = (
    "阿卜杜热西提", "古丽娜扎尔", "迪丽努尔", "买买提", "艾尔肯", "热依拉", "阿依古丽", "努尔兰",
    "吐尔逊", "帕提古丽", "木合塔尔", "迪力木拉提", "阿不都", "米热古丽",
)  # fmt: skip
_MINORITY_LAST = (
    "买买提", "艾力", "热合曼", "吐尔洪", "阿不都拉", "依明", "艾买提", "卡德尔", "托合提", "肉孜",
)  # fmt: skip

_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "147", "150", "151",
    "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "191", "193", "195",
    "198", "199",
)  # fmt: skip
_VIRTUAL_PREFIXES = ("132", "132", "170", "171")
_AREA_CODES_8_DIGITS = ("010", "020", "021", "022", "023", "024", "025", "027", "028", "029",
                        "0755", "0571", "0512", "0769", "0532")  # fmt: skip

_STREET_NAMES = (
    "新华", "城关", "东城", "西城", "南湖", "建设", "解放", "人民", "和平", "长安", "朝阳", "城南",
    "城北", "滨江", "东关", "西关", "南门", "龙山", "花园", "凤凰", "胜利", "文化", "五一", "中心",
)  # fmt: skip
_ROADS = (
    "人民路", "解放大道", "建设路", "中山路", "和平路", "胜利街", "团结路", "环城北路", "天河路",
    "文化路", "新华路", "长江路", "黄河路", "光明路", "友谊路", "青年路", "幸福路", "朝阳路",
    "迎宾大道", "学府路", "人民南路", "工业大道", "振兴路", "滨河路",
)  # fmt: skip
# Township in front of the road: 60% 街道, 25% 镇, 15% none (the line starts with the road).
_TOWNSHIPS: tuple[str, ...] = (
    tuple(name + "街道" for name in _STREET_NAMES) * 12
    + tuple(name + "镇" for name in _STREET_NAMES) * 5
    + ("",) * (3 * len(_STREET_NAMES))
)
_HOUSE_NUMBERS = tuple(f"{n}号" for n in range(1, 1000))
_BUILDINGS = tuple(f"{n}栋" for n in range(1, 31))
_TOWERS = tuple(f"{n}号楼" for n in range(1, 31))
_UNITS = ("1单元", "2单元", "3单元", "4单元")
_ROOMS = tuple(f"{floor}{door:02d}室" for floor in range(1, 34) for door in range(1, 5))
_COMMUNITIES = (
    "阳光花园", "锦绣家园", "翠苑小区", "幸福里小区", "金色家园", "碧水湾", "世纪城", "书香苑",
    "丽景华庭", "东方名苑", "怡和新村", "枫林绿洲", "龙湖春江郦城", "万科城",
)  # fmt: skip

_BUYER_NOTES = (
    "请尽快发货，谢谢", "不要放驿站，送货上门", "发顺丰可以吗", "周末家里没人，工作日送",
    "请用纸箱包装，送人的", "麻烦检查一下再发", "急用，今天能发吗", "放门卫室就行",
)  # fmt: skip
_MERCHANT_NOTES = ("老客户，加送小礼品", "加急，优先发货", "已改地址，注意核对", "补发一件")

# (shop coupon, platform subsidy) in fen. The sums are distinct, so the export can split the
# discount of an order that carries only goods_total_fen and paid_fen back into its two parts.
_COUPONS: tuple[tuple[int, int], ...] = ((0, 0), (300, 0), (500, 300), (1000, 0), (200, 300))
_COUPON_BY_DISCOUNT: Mapping[int, tuple[int, int]] = {s + p: (s, p) for s, p in _COUPONS}

_NON_DIGITS = re.compile(r"[^0-9]")
_COURIERS: tuple[tuple[str, str], ...] = (
    ("圆通快递", "YT"), ("中通快递", "78"), ("韵达快递", "43"), ("申通快递", "77"),
    ("极兔速递", "JT"), ("顺丰速运", "SF"),
)  # fmt: skip

# goods code (商家编码-商品维度), product name, specs as (spec, SKU code or "", price in fen).
_CATALOGUE: tuple[tuple[str, str, tuple[tuple[str, str, int], ...]], ...] = (
    ("4455", "加厚珊瑚绒毛毯 冬季保暖", (
        ("100x150cm 灰色", "BLK-100-GRY", 5990), ("150x200cm 灰色", "BLK-150-GRY", 8990),
        ("150x200cm 粉色", "BLK-150-PNK", 8990), ("200x230cm 米白", "BLK-200-WHT", 12990))),
    ("7788", "纯棉四件套 简约条纹", (
        ("1.5m床 蓝条", "SET-15-BLU", 12900), ("1.8m床 蓝条", "SET-18-BLU", 12900),
        ("1.8m床 灰条", "SET-18-GRY", 13900), ("2.0m床 灰条", "SET-20-GRY", 15900))),
    ("9900", "儿童保温杯 316不锈钢", (
        ("500ml 小熊", "CUP-500-BEAR", 4580), ("500ml 兔子", "", 4580),
        ("600ml 恐龙", "CUP-600-DINO", 5280))),
    ("3101", "家用居家拖鞋 防滑静音", (
        ("36-37 灰色", "SLP-36-GRY", 1990), ("38-39 灰色", "SLP-38-GRY", 1990),
        ("40-41 藏青", "SLP-40-NVY", 1990), ("42-43 藏青", "SLP-42-NVY", 1990))),
    ("3205", "透明塑料收纳箱 带盖加厚", (
        ("小号 12L", "BOX-S", 1590), ("中号 35L", "BOX-M", 2990), ("大号 60L", "BOX-L", 4590),
        ("大号 60L 3个装", "BOX-L-3", 11900))),
    ("3318", "304不锈钢保温杯 大容量", (
        ("500ml 曜石黑", "VAC-500-BLK", 3900), ("500ml 珍珠白", "VAC-500-WHT", 3900),
        ("750ml 曜石黑", "VAC-750-BLK", 4900))),
    ("3427", "天然乳胶枕头 护颈", (
        ("单只装", "PIL-1", 6900), ("一对装", "PIL-2", 12800))),
    ("3536", "冰丝凉席三件套 可水洗", (
        ("1.5m床 浅灰", "MAT-15-GRY", 8900), ("1.8m床 浅灰", "MAT-18-GRY", 9900),
        ("1.8m床 蓝色", "", 9900))),
    ("3640", "厨房置物架 落地多层", (
        ("三层 白色", "RCK-3-WHT", 6900), ("四层 白色", "RCK-4-WHT", 8900),
        ("四层 黑色", "RCK-4-BLK", 8900))),
    ("3752", "原木抽纸 家用实惠装", (
        ("24包/箱", "TIS-24", 2990), ("36包/箱", "TIS-36", 3990))),
    ("3866", "洗衣凝珠 持久留香", (
        ("30颗 薰衣草", "PDS-30-LAV", 2490), ("60颗 薰衣草", "PDS-60-LAV", 3990),
        ("60颗 樱花", "PDS-60-SAK", 3990))),
    ("3971", "麦饭石不粘锅炒锅 家用", (
        ("28cm 带盖", "PAN-28", 8900), ("32cm 带盖", "PAN-32", 9900))),
    ("4088", "记忆棉坐垫 办公室久坐", (
        ("方形 灰色", "CSN-SQ-GRY", 3990), ("马蹄形 黑色", "CSN-U-BLK", 4590))),
    ("4192", "儿童雨衣 带书包位", (
        ("S 90-110cm 黄色", "RCT-S-YEL", 3590), ("M 110-130cm 黄色", "RCT-M-YEL", 3590),
        ("L 130-150cm 蓝色", "RCT-L-BLU", 3990))),
    ("4213", "加绒保暖内衣套装 男士", (
        ("L 黑色", "THM-L-BLK", 5990), ("XL 黑色", "THM-XL-BLK", 5990),
        ("XXL 深灰", "THM-XXL-GRY", 5990))),
    ("4326", "女士中长款棉服 冬季", (
        ("M 黑色", "CT-M-BLK", 15900), ("L 黑色", "CT-L-BLK", 15900),
        ("XL 米白", "CT-XL-WHT", 15900))),
    ("4537", "运动速干T恤 男女同款", (
        ("M 白色", "TEE-M-WHT", 2900), ("L 白色", "TEE-L-WHT", 2900), ("XL 黑色", "", 2900))),
    ("4648", "电热水壶 1.8L 304内胆", (
        ("白色", "KTL-WHT", 5900), ("灰色", "KTL-GRY", 5900))),
    ("4759", "懒人沙发 豆袋可拆洗", (
        ("小号 卡其", "BAG-S-KHA", 9900), ("大号 卡其", "BAG-L-KHA", 15900))),
    ("4862", "LED感应小夜灯 床头", (
        ("单只装 暖光", "NL-1-WRM", 1590), ("3只装 暖光", "NL-3-WRM", 3990))),
    ("4973", "豆腐猫砂 除臭低尘", (
        ("原味 6L", "CAT-6L-ORG", 2390), ("绿茶 6L*4包", "CAT-24L-TEA", 7990))),
    ("5084", "一次性洗脸巾 加厚", (
        ("3卷装", "FT-3", 2590), ("6卷装", "FT-6", 4590))),
    ("5195", "软毛牙刷 家庭装", (
        ("10支装", "TB-10", 1990), ("20支装", "TB-20", 3490))),
    ("5206", "硅藻泥浴室防滑地垫", (
        ("40x60cm 灰色", "MAT-4060-GRY", 2990), ("50x80cm 灰色", "MAT-5080-GRY", 3990))),
    ("5317", "无痕防滑衣架 成人", (
        ("20只装", "HGR-20", 1990), ("50只装", "HGR-50", 3990))),
    ("5428", "硅胶锅铲套装 耐高温", (
        ("5件套", "SPT-5", 3990), ("8件套 带收纳桶", "SPT-8", 5990))),
    ("5539", "车载手机支架 出风口", (
        ("出风口款", "CAR-VNT", 2590), ("吸盘款", "CAR-SUC", 2990))),
    ("5640", "加厚垃圾袋 家用手提式", (
        ("5卷 100只", "BAG-5R", 990), ("10卷 200只", "BAG-10R", 1690))),
    ("5751", "桑蚕丝被 春秋被", (
        ("150x200cm 4斤", "SLK-150-4", 29900), ("200x230cm 6斤", "SLK-200-6", 39900))),
    ("5862", "小学生书包 护脊减负", (
        ("蓝色 大号", "SCB-L-BLU", 8900), ("粉色 大号", "SCB-L-PNK", 8900))),
)  # fmt: skip


def _goods_id(goods_code: str) -> str:
    return "902133" + goods_code


@cache
def _sku_details() -> dict[tuple[str, str], tuple[str, str]]:
    """(goods_id, spec) → (样式ID, 商家编码-商品维度), for the export columns orders don't carry."""
    return {
        (_goods_id(code), spec): (str(100000 + 100 * g + s), code)
        for g, (code, _name, specs) in enumerate(_CATALOGUE)
        for s, (spec, _sku, _price) in enumerate(specs)
    }


@cache
def _skus() -> tuple[tuple[str, str, str, str, int], ...]:
    """Every catalogue SKU as (goods_id, goods_name, spec, sku_code, unit price in fen)."""
    return tuple(
        (_goods_id(code), name, spec, sku, price)
        for code, name, specs in _CATALOGUE
        for spec, sku, price in specs
    )


def generate_orders(
    count: int, *, seed: int = 0, now: datetime | None = None, prefix_date: bool = True
) -> Iterator[dict[str, Any]]:
    """Yield `count` orders in the API order input shape, the same ones for the same seed and now.

    Order numbers are `yymmdd-` (the pay date in Asia/Shanghai) + 15 digits, or the 15 digits
    alone with prefix_date=False; they never repeat within one run. Unpaid orders
    (pending_payment, and cancelled 已取消) have paid_at and promise_ship_at None. `now`
    defaults to the current time; pass it for reproducible output.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_ts = int(now.timestamp())
    rng = random.Random(seed)
    rand = rng.random
    multiplier = 1 + int(rand() * (_ORDER_NO_PRIME - 1))
    increment = int(rand() * _ORDER_NO_PRIME)
    skus = _skus()
    recent_receivers: list[dict[str, str]] = []
    date_prefixes: dict[int, str] = {}
    for counter in range(count):
        status, status_text, after_sale = _status_profile(rand())
        audit_hold = status == "awaiting_shipment" and rand() < _AUDIT_HOLD_RATE

        promise_hours = _promise_hours(rand())
        # Integer seconds and fromtimestamp(): timedelta arithmetic is the slow part here.
        placed_ts = now_ts - _order_age(rand, status, promise_hours)
        placed_at = datetime.fromtimestamp(placed_ts, UTC)
        paid = status_text not in _UNPAID_STATUS_TEXTS
        paid_at = placed_at if paid else None
        promise_ship_at = placed_at + _PROMISE_DELTAS[promise_hours] if paid else None

        suffix = _ORDER_NO_OFFSET + (multiplier * counter + increment) % _ORDER_NO_PRIME
        if prefix_date:
            local_day = (placed_ts + _SHANGHAI_OFFSET) // DAY
            prefix = date_prefixes.get(local_day)
            if prefix is None:
                prefix = date_prefixes[local_day] = _yymmdd(local_day)
            order_no = f"{prefix}-{suffix}"
        else:
            order_no = str(suffix)

        if recent_receivers and rand() < _REPEAT_RECEIVER_RATE:
            receiver = dict(recent_receivers[int(rand() * len(recent_receivers))])
        else:
            receiver = _receiver(rng)
            # A copy, so that a caller editing a yielded order cannot change a later one.
            if len(recent_receivers) < _RECENT_RECEIVERS:
                recent_receivers.append(receiver.copy())
            else:
                recent_receivers[counter % _RECENT_RECEIVERS] = receiver.copy()

        goods_id, goods_name, spec, sku_code, price = skus[int(rand() * len(skus))]
        q = rand()
        quantity = 1 if q < 0.85 else 2 if q < 0.97 else 3
        goods_total = price * quantity
        shop_coupon, platform_subsidy = _COUPONS[int(rand() * len(_COUPONS))]
        if 2 * (shop_coupon + platform_subsidy) > goods_total:
            shop_coupon = platform_subsidy = 0

        yield {
            "order_no": order_no,
            "platform_status": status,
            "platform_status_text": status_text,
            "after_sale_status": after_sale,
            "audit_hold": audit_hold,
            "paid_at": paid_at,
            "promise_ship_at": promise_ship_at,
            "buyer_note": _BUYER_NOTES[int(rand() * len(_BUYER_NOTES))] if rand() < 0.12 else "",
            "merchant_note": (
                _MERCHANT_NOTES[int(rand() * len(_MERCHANT_NOTES))] if rand() < 0.04 else ""
            ),
            "receiver": receiver,
            "lines": [
                {
                    "goods_id": goods_id,
                    "goods_name": goods_name,
                    "spec": spec,
                    "sku_code": sku_code,
                    "quantity": quantity,
                }
            ],
            "goods_total_fen": goods_total,
            "paid_fen": goods_total - shop_coupon - platform_subsidy,
        }


def _status_profile(r: float) -> tuple[str, str, str]:
    """(platform_status, status text, after-sale status) for a uniform draw r."""
    for share, status, status_text, after_sale in _STATUS_PROFILES:
        if r < share:
            return status, status_text, after_sale
    return _STATUS_PROFILES[-1][1:]


def _yymmdd(local_day: int) -> str:
    """The yymmdd of a day counted in Asia/Shanghai days since the epoch."""
    return datetime.fromtimestamp(local_day * DAY, UTC).strftime("%y%m%d")


def _promise_hours(r: float) -> int:
    return 48 if r < 0.88 else 24 if r < 0.95 else 72


def _order_age(rand: Random01, status: str, promise_hours: int) -> int:
    """Seconds since payment; orders awaiting shipment are sometimes near or past the deadline."""
    if status != "awaiting_shipment":
        low, high = _AGE_WINDOWS[status]
        return low + int(rand() * (high - low))
    promise = promise_hours * HOUR
    r = rand()
    if r < 0.03:  # overdue by up to half a day
        return promise + int(rand() * 12 * HOUR)
    if r < 0.11:  # due within the next six hours
        return promise - 60 - int(rand() * 6 * HOUR)
    return int(rand() * (promise - 6 * HOUR))


def _receiver(rng: random.Random) -> dict[str, str]:
    province, city, district = random_triple(rng)
    rand = rng.random
    street, detail = _address_line(rand)
    return {
        "name": _person_name(rand),
        "phone": _phone(rand),
        "province": province,
        "city": city,
        "district": district,
        "street": street,
        "detail": detail,
    }


# Picks below index with int(rand() * len(options)): it is the hot path of a million orders, and
# one float per pick keeps it several times cheaper than random.choice.


def _person_name(rand: Random01) -> str:
    r = rand()
    surname = _SURNAMES[int(rand() * len(_SURNAMES))]
    if r < 0.25:
        return surname + _GIVEN_CHARS[int(rand() * len(_GIVEN_CHARS))]
    if r < 0.55:
        given = _GIVEN_CHARS[int(rand() * len(_GIVEN_CHARS))]
        return surname + given + _GIVEN_CHARS[int(rand() * len(_GIVEN_CHARS))]
    if r < 0.95:
        return surname + _GIVEN_NAMES[int(rand() * len(_GIVEN_NAMES))]
    if r < 0.98:
        compound = _COMPOUND_SURNAMES[int(rand() * len(_COMPOUND_SURNAMES))]
        return compound + _GIVEN_NAMES[int(rand() * len(_GIVEN_NAMES))]
    first = _MINORITY_FIRST[int(rand() * len(_MINORITY_FIRST))]
    return first + "·" + _MINORITY_LAST[int(rand() * len(_MINORITY_LAST))]


def _phone(rand: Random01) -> str:
    """Mostly mobiles; about 5% platform virtual numbers with an extension, 1% landlines."""
    r = rand()
    number = int(rand() * 10**8)
    if r < 0.94:
        return f"{_MOBILE_PREFIXES[int(rand() * len(_MOBILE_PREFIXES))]}{number:08d}"
    if r < 0.99:
        prefix = _VIRTUAL_PREFIXES[int(rand() * len(_VIRTUAL_PREFIXES))]
        return f"{prefix}{number:08d}-{int(rand() * 10**4):04d}"
    area_code = _AREA_CODES_8_DIGITS[int(rand() * len(_AREA_CODES_8_DIGITS))]
    return f"{area_code}-{20_000_000 + number % 80_000_000}"


def _address_line(rand: Random01) -> tuple[str, str]:
    """(street, detail): the township, or "", and the whole line after the district."""
    street = _TOWNSHIPS[int(rand() * len(_TOWNSHIPS))]
    building = int(rand() * len(_BUILDINGS))
    room = _ROOMS[int(rand() * len(_ROOMS))]
    r = rand()
    if r < 0.45:
        rest = _BUILDINGS[building] + room
    else:
        community = _COMMUNITIES[int(rand() * len(_COMMUNITIES))]
        if r < 0.8:
            rest = community + _BUILDINGS[building] + _UNITS[int(rand() * 4)] + room
        else:
            rest = community + _TOWERS[building] + room
    road = _ROADS[int(rand() * len(_ROADS))]
    return street, street + road + _HOUSE_NUMBERS[int(rand() * len(_HOUSE_NUMBERS))] + rest


def write_platform_export(
    orders: Iterable[Mapping[str, Any]],
    stream: BinaryIO,
    *,
    fmt: str = "csv",
    encoding: str = "gbk",
) -> int:
    """Write orders in the Pinduoduo export layout to a binary stream; return the rows written.

    CSV is CRLF-terminated in `encoding` with order numbers prefixed by a tab, as the platform
    does; XLSX is written by a write-only workbook (`encoding` does not apply). The caller's
    stream is left open. Columns the API shape does not carry (discount split, style ID,
    goods-level code, courier, tracking number, shipping and receipt times) are derived
    deterministically from the order, or read from optional `tracking` [{courier, tracking_no}].
    """
    if fmt == "csv":
        return _write_csv(orders, stream, encoding)
    if fmt == "xlsx":
        return _write_xlsx(orders, stream)
    raise ValueError(f"unknown export format: {fmt!r}")


def _write_csv(orders: Iterable[Mapping[str, Any]], stream: BinaryIO, encoding: str) -> int:
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    rows = 0
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(PDD_EXPORT_HEADER)
        for order in orders:
            writer.writerow(_export_row(order, order_no_prefix="\t"))
            rows += 1
    finally:
        # Detach so that the wrapper, when collected, does not close the caller's stream.
        text.flush()
        text.detach()
    return rows


def _write_xlsx(orders: Iterable[Mapping[str, Any]], stream: BinaryIO) -> int:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("订单列表")
    sheet.append(PDD_EXPORT_HEADER)
    rows = 0
    for order in orders:
        sheet.append([value or None for value in _export_row(order, order_no_prefix="")])
        rows += 1
    workbook.save(stream)
    return rows


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _shanghai_time(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _export_row(order: Mapping[str, Any], *, order_no_prefix: str) -> list[str]:
    line = order["lines"][0]
    receiver = order["receiver"]
    status = order["platform_status"]
    order_no = order["order_no"]
    goods_total = order["goods_total_fen"]
    paid = order["paid_fen"]
    discount = goods_total - paid
    shop_coupon, platform_subsidy = _COUPON_BY_DISCOUNT.get(discount, (discount, 0))
    paid_at = order.get("paid_at")
    style_id, goods_code = _sku_details().get((line["goods_id"], line["spec"]), ("", ""))
    street = receiver.get("street") or ""
    detail = receiver.get("detail") or ""
    address_line = detail if detail.startswith(street) else street + detail

    # A number taken from the order number drives the values the platform knows and we don't.
    seed = int(_NON_DIGITS.sub("", order_no) or 0)
    courier = tracking_no = shipped_at = received_at = ""
    if status in ("shipped", "completed") and paid_at is not None:
        courier, tracking_no = _tracking(order, seed)
        shipped = paid_at + timedelta(seconds=HOUR + seed % (20 * HOUR))
        shipped_at = _shanghai_time(shipped)
        if status == "completed":
            received_at = _shanghai_time(shipped + timedelta(seconds=2 * DAY + seed % DAY))

    return [
        line["goods_name"],
        order_no_prefix + order_no,
        order.get("platform_status_text") or STATUS_TEXTS.get(status, ""),
        _yuan(goods_total),
        _yuan(shop_coupon),
        _yuan(platform_subsidy),
        "0.00",
        _yuan(paid),
        _yuan(paid + platform_subsidy),
        str(sum(item["quantity"] for item in order["lines"])),
        receiver["name"],
        receiver["phone"],
        "是" if order.get("audit_hold") else "否",
        receiver["province"],
        receiver["city"],
        receiver.get("district") or "",
        address_line,
        _shanghai_time(paid_at),
        _shanghai_time(paid_at + timedelta(seconds=4)) if paid_at else "",
        "",
        _shanghai_time(order.get("promise_ship_at")),
        shipped_at,
        received_at,
        line["goods_id"],
        line["spec"],
        style_id,
        line.get("sku_code") or "",
        goods_code,
        tracking_no,
        courier,
        order.get("merchant_note") or "",
        order.get("after_sale_status") or NO_AFTER_SALE_TEXT,
        order.get("buyer_note") or "",
    ]


DOUYIN_EXPORT_HEADER = [
    "主订单编号",
    "子订单编号",
    "选购商品",
    "商品规格",
    "商品数量",
    "商品ID",
    "商家编码",
    "商品单价",
    "订单应付金额",
    "运费",
    "收件人",
    "收件人手机号",
    "省",
    "市",
    "区",
    "街道",
    "详细地址",
    "是否修改过地址",
    "买家留言",
    "订单提交时间",
    "支付完成时间",
    "订单状态",
    "售后状态",
    "承诺发货时间",
    "商家备注",
    "旗帜颜色",
]
_DOUYIN_STATUS_TEXTS = {
    "pending_payment": "待支付",
    "awaiting_shipment": "待发货",
    "shipped": "已发货",
    "completed": "已完成",
    "cancelled": "已关闭",
}


def write_douyin_export(orders: Iterable[Mapping[str, Any]], stream: BinaryIO) -> int:
    """Write orders in the Douyin (抖店) export layout: UTF-8 with BOM, one row per goods line
    (子订单), numbers kept as text with a leading tab; return the rows written."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    rows = 0
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(DOUYIN_EXPORT_HEADER)
        for order in orders:
            receiver = order["receiver"]
            paid_at = _shanghai_time(order.get("paid_at")).replace("-", "/")
            main_no = order["order_no"]
            for number, line in enumerate(order["lines"], start=1):
                unit = order["goods_total_fen"] // max(line["quantity"], 1) if number == 1 else 990
                writer.writerow(
                    [
                        "\t" + main_no,
                        f"\t{_NON_DIGITS.sub('', main_no)}{number:02d}",
                        line["goods_name"],
                        line["spec"],
                        str(line["quantity"]),
                        "\t" + line["goods_id"],
                        line.get("sku_code") or "",
                        _yuan(unit),
                        _yuan(unit * line["quantity"]),
                        "0.00",
                        receiver["name"],
                        receiver["phone"],
                        receiver["province"],
                        receiver["city"],
                        receiver.get("district") or "",
                        receiver.get("street") or "",
                        receiver.get("detail") or "",
                        "否",
                        order.get("buyer_note") or "",
                        paid_at,
                        paid_at,
                        _DOUYIN_STATUS_TEXTS[order["platform_status"]],
                        order.get("after_sale_status") or "",
                        _shanghai_time(order.get("promise_ship_at")).replace("-", "/"),
                        order.get("merchant_note") or "",
                        "",
                    ]
                )
                rows += 1
    finally:
        text.flush()
        text.detach()
    return rows


def _tracking(order: Mapping[str, Any], seed: int) -> tuple[str, str]:
    """(courier, tracking number): the order's own first parcel, else one made up from seed."""
    parcels = order.get("tracking") or ()
    if parcels:
        return parcels[0].get("courier") or "", parcels[0].get("tracking_no") or ""
    courier, prefix = _COURIERS[seed % len(_COURIERS)]
    return courier, f"{prefix}{seed % 10**13:013d}"

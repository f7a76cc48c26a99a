"""The API's typed shapes (Pydantic v2): every request and answer of /api/v1, once.

Requests are strict: a JSON number is no string, "yes" is no boolean and an unknown field is
refused, each a 422 ``validation_error`` naming the field by its JSON path. Query strings are
text by nature, so query models convert "2" to 2 but still refuse unknown or repeated names.
Answers list exactly the keys the endpoints send; the OpenAPI document is generated from these
models and the routes (portal.api.base), and schemathesis holds the answers to them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, RootModel
from pydantic_core import PydanticCustomError

from portal.domain.allocation_rules import MAX_SKU_RULES
from portal.domain.couriers import COURIERS, MAX_EXTRA_TRACKING_NOS
from portal.domain.errors import message_for
from portal.domain.orders.inputs import (
    FIELD_LIMITS,
    MAX_AMOUNT_FEN,
    MAX_QUANTITY,
    PLATFORM_STATUSES,
)
from portal.domain.orders.queries import TABS
from portal.domain.orders.rules import (
    ASSIGN_BLOCKERS,
    ASSIGN_REFUSALS,
    CANCEL_REFUSALS,
    DISPATCH_REFUSALS,
    PRINT_BLOCKERS,
    PRINT_REFUSALS,
    TRACKING_REFUSALS,
)
from portal.domain.permissions import PERMISSIONS, STAFF_ROLES
from portal.domain.prices import MAX_PRICE_FEN, MAX_SCHEDULE_AHEAD, PRICE_REFUSALS
from portal.domain.printing.labels import DEFAULT_LABEL_SIZE, LABEL_SIZES
from portal.domain.printing.pick_list import PICK_ORDERS
from portal.domain.statements.requesting import MAX_DISPUTE_REASON
from portal.domain.statements.review import MAX_ADJUSTMENT_FEN, MAX_ADJUSTMENT_REASON
from portal.domain.supplier_orders import API_STAGES
from portal.models.accounts import LABEL_FULL, LABEL_PRIVATE, SHOP_OWNER
from portal.models.bindings import BINDING_STATUSES
from portal.models.orders import CANCEL_REASONS, MAX_ORDER_LINES, STAGES
from portal.models.printing import JOB_STATUSES, PACKING_SLIPS, PRINT_ORDERS
from portal.models.settlement import REVIEW_STATUSES, STATEMENT_EVENT_KINDS, STATEMENT_STATUSES

# Batch limits of the endpoints (DESIGN §8.2).
MAX_ORDERS_PER_UPSERT = 1000
MAX_ORDER_NOS_PER_BATCH = 10_000
# A batch of 5000 is a handful of set-based statements (one per 900 orders), about a second.
MAX_ORDER_NOS_PER_DISPATCH = 5000
MAX_ORDER_NOS_PER_PRINT_JOB = 1000
MAX_TRACKING_ITEMS = 1000
MAX_PRICE_ITEMS = 1000
MAX_QUERY = 200  # q and sku_key: a SKU key is at most 200 characters
MAX_PER_PAGE = 200
TRACKING_FORMAT_WARNING = "tracking_format_mismatch"
ORDER_NOS_TOO_MANY = "一次最多提交 {limit} 个订单号"


class Request(BaseModel):
    """A JSON request body: exact types, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    """Query-string arguments: text converted to the field's type, no unknown names."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """An answer body: exactly these keys."""

    model_config = ConfigDict(extra="forbid")


# --- building blocks ---------------------------------------------------------------------------


def _at_least_one(values: list[Any]) -> list[Any]:
    if not values:
        raise PydanticCustomError("nothing_selected", message_for("nothing_selected"))
    return values


def batch_of(item: Any, limit: int, too_many: str) -> Any:
    """A JSON array of 1 to `limit` items: empty is `nothing_selected`, longer is
    `too_many_orders` with the message `too_many`."""

    def at_most(values: list[Any]) -> list[Any]:
        if len(values) > limit:
            raise PydanticCustomError("too_many_orders", too_many.format(limit=limit))
        return values

    return Annotated[
        list[item],
        AfterValidator(_at_least_one),
        AfterValidator(at_most),
        Field(json_schema_extra={"minItems": 1, "maxItems": limit}),
    ]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str | None = None) -> Any:
    """A key the answer sends only sometimes (documented, not required)."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


def _empty_as_none(value: Any) -> Any:
    return None if value == "" else value


def choice(values: tuple[str, ...]) -> Any:
    return Literal[values]  # type: ignore[valid-type]


def optional_choice(values: tuple[str, ...]) -> Any:
    """A query choice where an empty value means "any"."""
    return Annotated[choice(values) | None, BeforeValidator(_empty_as_none)]


OrderNo = Annotated[str, Field(description="订单号，如 231121-538292030421876")]
Time = Annotated[datetime, Field(description="ISO-8601 时间（UTC）")]
PlatformStatus = choice(PLATFORM_STATUSES)
Yuan = Annotated[
    str, Field(pattern=r"^[0-9]+\.[0-9]{2}$", description="元，两位小数的字符串，如 12.50")
]
QueryText = Annotated[str, Field(max_length=MAX_QUERY)]
CourierCode = Annotated[
    str,
    Field(
        description="快递公司：代码（"
        + "、".join(f"{c.code} {c.name}" for c in COURIERS)
        + "）或中文名称"
    ),
]


class PageQuery(Query):
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=50, ge=1, le=MAX_PER_PAGE)


class WalkQuery(PageQuery):
    """A list an ERP may also walk by cursor (pagination.keyset_args reads these)."""

    after: str | None = Field(
        default=None,
        max_length=64,
        description="按游标翻页：首次传空值（after=），之后传上一页的 next_after，直到它为 null；"
        "按订单 id 升序，遍历期间订单变化也不会重复或遗漏；此时不返回 page，total 仅在 "
        "count=exact 时返回",
    )
    updated_since: str | None = Field(
        default=None,
        max_length=64,
        description="只列出此时间（含）之后有变化的订单，带时区的 ISO 8601，"
        "如 2026-11-21T10:00:00+08:00",
        json_schema_extra={"format": "date-time"},
    )
    count: Literal["exact"] | None = Field(
        default=None, description="按游标翻页时返回 total（需要数全部匹配的订单）"
    )


def walk_of(item: type[BaseModel], name: str) -> Any:
    """A list by page, or by cursor (with `after`: next_after; total only with count=exact)."""
    walk = type(
        f"{name}Walk",
        (Answer,),
        {
            "__annotations__": {
                "items": list[item],  # type: ignore[valid-type]
                "per_page": int,
                "next_after": str | None,
                "total": int,
            },
            "total": absent("仅 count=exact 时"),
            "__module__": __name__,
        },
    )
    page = page_of(item, f"{name}Page")
    return type(name, (RootModel[page | walk],), {"__module__": __name__})


class Error(Answer):
    class ErrorDetail(Answer):
        code: str
        message: str
        field: str | None = absent("出错的字段，JSON 路径如 orders[3].lines[0].quantity")
        columns: list[str] | None = absent("缺少的列（missing_columns）")
        number: str | None = absent()
        limit: str | None = absent()
        retry_after: int | None = absent("秒；同 Retry-After 头")
        next_allowed_at: str | None = absent()
        statement_id: int | None = absent("statement_overlaps：已确认的另一份对账单")

    error: ErrorDetail


class ShopRef(Answer):
    shop_id: str
    shop_name: str


def page_of(item: type[BaseModel], name: str) -> type[Answer]:
    return type(
        name,
        (Answer,),
        {
            "__annotations__": {
                "items": list[item],  # type: ignore[valid-type]
                "page": int,
                "per_page": int,
                "total": int,
            },
            "__module__": __name__,
        },
    )


# --- accounts and bindings ---------------------------------------------------------------------


class Me(Answer):
    username: str
    role: Literal["merchant", "supplier"]
    shop_id: str
    shop_name: str
    shop_role: choice((SHOP_OWNER, *STAFF_ROLES)) = Field(description="店主或子账号角色")
    permissions: list[choice(tuple(sorted(PERMISSIONS)))]


# --- 子账号 (shop members) ---------------------------------------------------------------------

StaffRole = Annotated[
    choice(STAFF_ROLES),
    Field(description="商家：admin/operator/finance；厂家：admin/printer/finance"),
]


class StaffInput(Request):
    username: str = Field(min_length=3, max_length=40)
    password: str = Field(min_length=8, max_length=200, description="初始密码，首次登录须修改")
    role: StaffRole


class StaffUpdate(Request):
    role: StaffRole | None = None
    active: bool | None = Field(default=None, description="false：停用，其登录和令牌立即失效")
    password: str | None = Field(
        default=None, min_length=8, max_length=200, description="重置密码（首次登录须修改）"
    )


class StaffMember(Answer):
    id: int
    username: str
    role: StaffRole
    active: bool


StaffPage = page_of(StaffMember, "StaffPage")


class BindingInput(Request):
    supplier_shop_id: str = Field(description="厂家店铺ID")
    message: str = Field(default="", max_length=200)


class Binding(Answer):
    id: int
    status: choice(BINDING_STATUSES)
    message: str
    merchant: ShopRef
    supplier: ShopRef
    created_at: Time
    decided_at: Time | None
    ended_at: Time | None
    ended_by: str | None


BindingPage = page_of(Binding, "BindingPage")


class BindingEnded(Answer):
    status: str
    cancelled_assignments: int


LabelStyle = Annotated[
    choice((LABEL_FULL, LABEL_PRIVATE)),
    Field(
        description="full：面单印完整收件人；private：隐私面单（姓名、电话为掩码，发货单整体掩码）"
    ),
]


class LabelSettings(Answer):
    label_style: LabelStyle
    slip_prices: bool = Field(description="厂家打印的发货单显示商品总价和实付金额")


class LabelSettingsPatch(Request):
    """Each field optional: an omitted (or null) one keeps its value."""

    label_style: LabelStyle | None = None
    slip_prices: bool | None = None


# A return address's fields, written once for create and PATCH.
ContactName = Annotated[str, Field(max_length=30)]
Phone = Annotated[str, Field(max_length=30)]
AddressDetail = Annotated[str, Field(max_length=200)]


class ReturnAddressInput(Request):
    contact_name: ContactName
    phone: Phone
    province: str
    city: str
    district: str = ""
    detail: AddressDetail
    is_default: bool = False


class ReturnAddressPatch(Request):
    """The fields of create, each optional: an omitted (or null) one keeps its value."""

    contact_name: ContactName | None = None
    phone: Phone | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    detail: AddressDetail | None = None
    is_default: bool | None = Field(
        default=None, description="true：设为默认地址（默认地址总有一个，false 不改变）"
    )


class ReturnAddress(Answer):
    id: int
    contact_name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    is_default: bool


class ReturnAddressList(Answer):
    items: list[ReturnAddress]


# --- orders (merchant) -------------------------------------------------------------------------


def _text(field: str, description: str | None = None) -> Any:
    return Field(default=None, max_length=FIELD_LIMITS[field], description=description)


def _amount(description: str) -> Any:
    return Field(default=None, ge=0, le=MAX_AMOUNT_FEN - 1, description=f"{description}，单位分")


NO_TZ = "ISO-8601，必须带时区偏移（如 2026-11-21T10:00:00+08:00 或 …Z）；不带时区的时间会被拒绝"


class ReceiverInput(Request):
    name: str | None = _text("receiver.name", "收货人")
    phone: str | None = _text("receiver.phone", "手机或固定电话，可带分机（13212345678-1234）")
    province: str | None = _text("receiver.province")
    city: str | None = _text("receiver.city")
    district: str | None = _text("receiver.district", "区县；东莞市、中山市等不设区的城市为空")
    street: str | None = _text(
        "receiver.street",
        "可选：街道/乡镇。给出时拼接在 detail 前面（若 detail 已以它开头则不重复）",
    )
    detail: str | None = _text("receiver.detail", "区县之后的完整地址")


Flag = Annotated[
    int,
    Field(ge=0, le=5, description="商家自己的旗帜颜色：0 灰（无）、1 红、2 黄、3 绿、4 蓝、5 紫"),
]


class NoteInput(Request):
    note: str = Field(
        max_length=200,
        description="给厂家的备注（≤ 200 字）；厂家看到手机号、姓名样文字打码后的版本；"
        "空字符串清除",
    )
    flag: Flag | None = Field(default=None, description="省略时不变")


class ReceiverPatch(ReceiverInput):
    """只改给出的字段（省略或 null 保持原值）；street 与 detail 合并为区县之后的完整地址。"""


class OrderLineInput(Request):
    goods_id: str | None = _text("line.goods_id", "商品id")
    goods_name: str = Field(min_length=1, max_length=FIELD_LIMITS["line.goods_name"])
    spec: str | None = _text("line.spec", "商品规格")
    sku_code: str | None = _text("line.sku_code", "商家编码-SKU维度")
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderInput(Request):
    """未知字段会被拒绝；GET 得到的订单的只读字段（stage、supplier …）可以原样带回，会被忽略。"""

    order_no: str = Field(
        pattern=r"^[0-9A-Za-z-]{6,40}$", description="订单号；与商家一起唯一，重复提交即更新"
    )
    platform_status: PlatformStatus
    platform_status_text: str | None = _text(
        "platform_status_text", "可选：平台原文状态，如“未发货，退款成功”；省略时按状态取默认文字"
    )
    after_sale_active: bool | None = Field(
        default=None, description="售后进行中；省略时，after_sale_status 非空即视为 true"
    )
    after_sale_status: str | None = _text(
        "after_sale_status", "售后状态原文；“无售后或售后取消”视为无售后"
    )
    audit_hold: bool | None = Field(default=None, description="平台审核中（是否审核中）")
    paid_at: str | None = Field(default=None, description=NO_TZ)
    promise_ship_at: str | None = Field(default=None, description=NO_TZ)
    buyer_note: str | None = _text("buyer_note")
    merchant_note: str | None = _text("merchant_note")
    goods_total_fen: int | None = _amount("商品总价")
    paid_fen: int | None = _amount("用户实付")
    merchant_received_fen: int | None = _amount("商家实收")
    receiver: ReceiverInput
    lines: list[OrderLineInput] = Field(
        min_length=1,
        max_length=MAX_ORDER_LINES,
        description=f"商品行，1 到 {MAX_ORDER_LINES} 个；整单分配给同一个厂家",
    )
    # Read-only fields of an Order answer, accepted and ignored so an answer can be sent back.
    stage: Any = Field(default=None, json_schema_extra={"readOnly": True})
    supplier: Any = Field(default=None, json_schema_extra={"readOnly": True})
    tracking: Any = Field(default=None, json_schema_extra={"readOnly": True})
    parcel_mates: Any = Field(default=None, json_schema_extra={"readOnly": True})
    assign_blockers: Any = Field(default=None, json_schema_extra={"readOnly": True})
    print_blockers: Any = Field(default=None, json_schema_extra={"readOnly": True})
    address_change_pending: Any = Field(default=None, json_schema_extra={"readOnly": True})
    region_unverified: Any = Field(default=None, json_schema_extra={"readOnly": True})
    note: Any = Field(default=None, json_schema_extra={"readOnly": True})
    flag: Any = Field(default=None, json_schema_extra={"readOnly": True})
    created_at: Any = Field(default=None, json_schema_extra={"readOnly": True})
    updated_at: Any = Field(default=None, json_schema_extra={"readOnly": True})


class CheckedPerItem:
    """A JSON object validated later, item by item (a bad item is refused alone), and
    documented as `model`."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return handler(source)

    def __get_pydantic_json_schema__(self, _core: Any, handler: Any) -> Any:
        return handler(self.model.__pydantic_core_schema__)


class OrderBatch(Request):
    """每个订单独立校验：不合格的订单逐条列在 rejected 中（code、message、field），其余照常写入。"""

    orders: Annotated[
        list[Annotated[Any, CheckedPerItem(OrderInput)]],
        AfterValidator(
            lambda items: (
                items if len(items) <= MAX_ORDERS_PER_UPSERT else _too_many(MAX_ORDERS_PER_UPSERT)
            )
        ),
        Field(json_schema_extra={"maxItems": MAX_ORDERS_PER_UPSERT}),
    ]


def _too_many(limit: int) -> Any:
    raise PydanticCustomError("too_many_orders", f"一次最多提交 {limit} 个订单")


class Receiver(Answer):
    name: str
    phone: str
    province: str
    city: str
    district: str
    street: str = Field(description="总是空字符串：街道与详细地址合并保存在 detail 中")
    detail: str


class OrderLine(Answer):
    goods_id: str
    goods_name: str
    spec: str
    sku_code: str
    quantity: int


class TrackingRef(Answer):
    courier: str
    tracking_no: str


class ParcelMatesRef(Answer):
    count: int = Field(description="同一包裹的其他订单数")
    order_nos: list[str] = Field(description="其中最多 5 个订单号")


class Order(Answer):
    order_no: str
    platform_status: PlatformStatus
    platform_status_text: str
    after_sale_active: bool
    after_sale_status: str
    audit_hold: bool
    paid_at: Time | None
    promise_ship_at: Time | None
    buyer_note: str
    merchant_note: str
    receiver: Receiver
    lines: list[OrderLine]
    goods_total_fen: int | None
    paid_fen: int | None
    merchant_received_fen: int | None
    stage: choice(STAGES)
    supplier: ShopRef | None
    tracking: list[TrackingRef] = Field(description="厂家回传的运单号，主单号在前")
    parcel_mates: ParcelMatesRef | None = Field(
        description="与本单同一包裹（同一运单号，如厂家同收件人合并打印）的其他订单；没有时为 null"
    )
    assign_blockers: list[choice(ASSIGN_BLOCKERS)] = Field(
        description="当前不能分配的原因（未列出绑定检查）；为空即可分配"
    )
    print_blockers: list[choice(PRINT_BLOCKERS)] = Field(
        description="已分配未回传时，厂家不能打单的原因"
    )
    address_change_pending: bool
    region_unverified: bool = Field(
        description="省、市或区县不在行政区划表中（按平台原样保存，不影响分配）"
    )
    note: str = Field(description="给厂家的备注（PUT /orders/{order_no}/note）")
    flag: Flag
    created_at: Time
    updated_at: Time


OrderList = walk_of(Order, "OrderList")


class OrderQuery(WalkQuery):
    stage: choice(TABS) = Field(
        default="all",
        description="unassigned 只列出当前可分配的订单；exceptions 为售后、审核、地址变更待确认、"
        "地址不完整",
    )
    supplier_shop_id: QueryText = Field(default="", description="只看分配给该厂家的订单")
    q: QueryText = Field(
        default="",
        description="订单号任意 6 位以上的部分、商家编码前缀（不分大小写）、收货人全名或手机号",
    )
    flag: int | None = Field(default=None, ge=0, le=5, description="只看该旗帜颜色的订单")


class OrderRejection(Answer):
    order_no: str
    code: str
    message: str
    field: str | None = absent("JSON 提交时出错字段的路径，如 orders[3].lines[0].quantity")
    row: int | None = absent("文件导入时的行号（表头为第 1 行）")


class UpsertResult(Answer):
    created: int
    updated: int
    unchanged: int
    rejected: list[OrderRejection]
    rejected_count: int = Field(description="被拒绝的总数（rejected 最多列出前 1000 条）")
    cancelled_assignments: int = Field(description="因售后、审核或取消而自动取消的分配数")
    platform: Annotated[str, Field(pattern=r"^(pdd|douyin|mapping:.{1,40})$")] = absent(
        "仅文件导入：按表头识别出的平台，pdd 拼多多、douyin 抖店"
        "（一行一个子订单，按主订单编号合并），mapping:<名称> 商家保存的列映射"
    )


class Upload(Request):
    """A multipart upload: the part `file`; other parts are ignored (browsers send extras)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    file: Annotated[
        Any,
        Field(json_schema_extra={"type": "string", "format": "binary"}),
    ]


class Refusal(Answer):
    order_no: str
    code: choice(tuple(sorted({*ASSIGN_REFUSALS, *CANCEL_REFUSALS})))
    message: str


class AllocationInput(Request):
    order_nos: batch_of(str, MAX_ORDER_NOS_PER_BATCH, ORDER_NOS_TOO_MANY)
    supplier_shop_id: str = Field(description="已绑定厂家的店铺ID")


class AllocationResult(Answer):
    assigned: list[str]
    refused: list[Refusal]


class CancelInput(Request):
    order_nos: batch_of(str, MAX_ORDER_NOS_PER_BATCH, ORDER_NOS_TOO_MANY)


class CancelResult(Answer):
    cancelled: list[str]
    refused: list[Refusal]


# --- dispatch (merchant) -----------------------------------------------------------------------


class DispatchInput(Request):
    order_nos: batch_of(str, MAX_ORDER_NOS_PER_DISPATCH, ORDER_NOS_TOO_MANY) = Field(
        description="要发货的订单号；重复的只算一次"
    )
    return_address_id: int | None = Field(
        default=None,
        description="退货地址 id（GET /return-addresses）；省略或 null 时用默认退货地址",
    )
    confirm_holds: bool = Field(
        default=False,
        description="true：售后中或平台审核中的订单也发货（商家已确认）；"
        "省略或 false 时这些订单以 after_sale / audit_hold 拒绝",
    )


class DispatchRefusal(Answer):
    order_no: str
    code: choice(DISPATCH_REFUSALS)
    message: str = Field(description="原因（中文）")


class DispatchResult(Answer):
    dispatched: list[str] = Field(description="已发货的订单号（发货时间、退货地址已记录）")
    refused: list[DispatchRefusal]


BOUND = (
    "YYYY-MM-DD（北京时间的日期），或带时区偏移的 ISO-8601 时间（如 2026-11-21T10:00:00+08:00；"
    "查询串中的 + 请编码为 %2B）"
)


class DispatchExportQuery(Query):
    format: Literal["csv", "xlsx"] = "csv"
    since: str = Field(default="", max_length=64, description=f"起（含）：{BOUND}")
    until: str = Field(default="", max_length=64, description=f"止：{BOUND}；日期含当天")


# --- supplier orders, print jobs, tracking -----------------------------------------------------


class MaskedReceiver(Answer):
    """厂家只看到掩码；完整收货信息只出现在打印的面单上"""

    name: str = Field(description="姓名掩码，如 张**")
    phone: str = Field(description="电话掩码，如 138****5678 或 ****1234")
    province: str
    city: str
    district: str
    detail: str = Field(description="详细地址总是 ****")


SUPPLIER_STAGES = ("assigned", "returned", "dispatched", "cancelled")


class SupplierOrder(Answer):
    order_no: str
    merchant: ShopRef
    platform_status: PlatformStatus
    after_sale_active: bool
    audit_hold: bool
    address_change_pending: bool
    address_changed: bool = Field(
        description="地址已修改：商家在分配后修改了收货信息，面单需要（重新）打印"
    )
    note: str = Field(description="商家给厂家的备注（手机号、姓名样文字已打码）")
    stage: choice(SUPPLIER_STAGES) = Field(
        description="cancelled：分配已取消，请勿发货（见 cancel_reason）"
    )
    paid_at: Time | None
    promise_ship_at: Time | None
    assigned_at: Time | None
    lines: list[OrderLine]
    receiver: MaskedReceiver
    receiver_key: str = Field(
        description="同一收件人的订单相同（不透露收件人），可合并包裹、共用运单号"
    )
    print_count: int
    last_printed_at: Time | None
    tracking: list[TrackingRef] = Field(description="已回传的运单号，主单号在前")
    print_blockers: list[choice((*PRINT_BLOCKERS, "assignment_cancelled"))] = Field(
        description="当前不能打单的原因；为空即可打印"
    )
    cancel_reason: choice(CANCEL_REASONS) = absent("仅 stage=cancelled")
    cancelled_at: Time = absent("仅 stage=cancelled")


SupplierOrderList = walk_of(SupplierOrder, "SupplierOrderList")


class SupplierOrderQuery(WalkQuery):
    stage: optional_choice(API_STAGES) = Field(
        default=None,
        description="assigned（= to_print + printed）、returned、dispatched，"
        "或工作台的标签 to_print、printed、cancelled（已取消分配，请勿发货）；"
        "省略时为当前在厂家名下的全部订单（不含 cancelled）",
    )
    merchant_shop_id: QueryText = Field(
        default="", description="只看该商家的订单；未知或未绑定的店铺ID得到空列表"
    )
    q: QueryText = Field(
        default="", description="订单号任意 6 位以上的部分或商家编码前缀（不分大小写）"
    )


# An order on the factory side is (merchant, number): the shop ID is needed only when two of
# the factory's merchants use the number (DESIGN §10.6).
MerchantShopIdInput = Annotated[
    str,
    Field(
        default="",
        max_length=40,
        description="可选：商家店铺ID；仅当您有两个商家使用同一订单号时需要"
        "（回传运单号时，另一商家已取消分配的同号订单也算），否则该订单以 ambiguous_order_no 拒绝",
    ),
]


class PrintJobInput(Request):
    order_nos: batch_of(str, MAX_ORDER_NOS_PER_PRINT_JOB, "order_nos 一次最多 {limit} 个") = Field(
        description="按此顺序打印"
    )
    courier: CourierCode
    label_size: choice(tuple(LABEL_SIZES)) = Field(
        default=DEFAULT_LABEL_SIZE, description="面单尺寸（毫米）"
    )
    start_tracking_no: str = Field(
        default="",
        max_length=64,
        description="可选：预印纸质面单的起始单号；按打印顺序给尚未回传的订单分配连续单号，"
        "确认（confirm）后才记为回传",
    )
    merchant_shop_id: MerchantShopIdInput
    print_order: choice(PRINT_ORDERS) | None = Field(
        default=None,
        description="面单顺序：desk 按 order_nos 的顺序，sku 按 SKU，promise 按承诺发货时间；"
        "不填按厂家设置",
    )
    merge_parcels: bool = Field(
        default=False,
        description="true：同一商家寄往同一收件人、尚未回传的订单打在一张面单上（一个包裹），"
        "回传其中一单的运单号即为全部回传",
    )
    packing_slips: choice(PACKING_SLIPS) = Field(
        default="",
        description="发货单：空 不打印，after 每张面单后附一页，separate 单独的 PDF（slips_url）",
    )


PickOrder = Annotated[
    choice(PICK_ORDERS),
    Field(description="拣货单排序：sku 按商家编码，goods 按商品名称，location 按库位"),
]
PrintOrder = Annotated[
    choice(PRINT_ORDERS),
    Field(
        description="面单顺序（任务未指定时）：desk 按列表顺序，sku 按 SKU，promise 按承诺发货时间"
    ),
]


class PrintSettings(Answer):
    pick_order: PickOrder
    print_order: PrintOrder


class PrintSettingsPatch(Request):
    """Each field optional: an omitted (or null) one keeps its value."""

    pick_order: PickOrder | None = None
    print_order: PrintOrder | None = None


class PrintRefusal(Answer):
    order_no: str
    code: choice(PRINT_REFUSALS)
    message: str


JobStatus = Annotated[
    choice(JOB_STATUSES),
    Field(
        description="printed：普通打印；pending：已按起始单号分配纸质面单号，"
        "待确认（confirm）或作废（void）；confirmed：单号已记为回传；voided：已作废"
    ),
]


class PrintJobCreated(Answer):
    id: int | None = Field(description="没有可打印的订单时为 null")
    status: JobStatus | None
    printed: list[str]
    refused: list[PrintRefusal]
    pdf_url: str | None


class PrintJobLine(Answer):
    seq: int = Field(description="打印顺序，从 1 开始")
    order_no: str
    stage: choice(SUPPLIER_STAGES)
    job_tracking_no: str = Field(description="本任务分配的纸质面单号（没有起始单号时为空）")
    tracking: list[TrackingRef]


class PrintJob(Answer):
    id: int
    status: JobStatus
    courier: str
    label_size: choice(tuple(LABEL_SIZES))
    start_tracking_no: str
    print_order: choice(PRINT_ORDERS)
    packing_slips: choice(PACKING_SLIPS)
    merge_parcels: bool
    order_count: int
    render_count: int = Field(description="PDF 已生成（下载）的次数")
    created_at: Time
    decided_at: Time | None
    pdf_url: str
    slips_url: str | None = Field(
        description="packing_slips 为 separate 时：发货单 PDF 的地址（其他任务为 null）"
    )
    pick_list_url: str = Field(description="拣货单（PDF；?format=xlsx 为表格，?sort= 排序）")
    orders: list[PrintJobLine]


class TrackingItemInput(Request):
    order_no: str
    courier: CourierCode
    tracking_no: str = Field(description="8–32 位字母、数字或短横线（全角、小写、空格会被规范化）")
    extra_tracking_nos: list[str] | None = Field(
        default=None,
        description=f"可选：一单多包裹时的额外运单号，最多 {MAX_EXTRA_TRACKING_NOS} 个",
    )
    merchant_shop_id: MerchantShopIdInput


class TrackingInput(Request):
    items: batch_of(TrackingItemInput, MAX_TRACKING_ITEMS, "items 一次最多 {limit} 个")


class TrackingRefusal(Answer):
    order_no: str
    code: str = Field(
        description="、".join(TRACKING_REFUSALS)
        + "；文件导入的行还可能是 missing_order_no、invalid_order_no、missing_courier、"
        "missing_tracking_no、duplicate_in_file、field_too_long"
    )
    message: str
    row: int | None = absent("文件导入时的行号（表头为第 1 行）")
    tracking_no: str | None = absent("出问题的运单号（若适用）")


class TrackingWarning(Answer):
    order_no: str
    tracking_no: str
    courier: str
    code: Literal["tracking_format_mismatch"]
    message: str
    row: int | None = absent("文件导入时的行号")


class TrackingResult(Answer):
    returned: list[str] = Field(description="已记录运单号的订单")
    refused: list[TrackingRefusal]
    warnings: list[TrackingWarning] = Field(
        description="与该快递常见格式不符的单号：已记录，请核对"
    )


class TrackingCancelQuery(Query):
    merchant_shop_id: MerchantShopIdInput


class TrackingCancelled(Answer):
    order_no: str
    stage: Literal["assigned"]


# --- settlement prices (supplier) --------------------------------------------------------------

MAX_YUAN = MAX_PRICE_FEN // 100


class PriceQuery(PageQuery):
    missing: Literal["", "0", "1"] = Field(default="", description="1：只看缺少结算价的 SKU")
    merchant_shop_id: QueryText = Field(
        default="", description="只看该商家；未知或从未绑定的店铺ID得到空列表"
    )
    q: QueryText = Field(default="", description="在 SKU键、商品名、规格中查找（包含即可）")
    sku_key: QueryText = Field(default="", description="只看这个 SKU键（精确匹配）")


class PriceRow(Answer):
    merchant_shop_id: str
    merchant_name: str
    sku_key: str = Field(description="SKU键：商家编码-SKU维度；为空时为 商品id + 商品规格")
    goods_name: str = Field(description="取自最近一单；没有订单时为空")
    spec: str = Field(description="取自最近一单；没有订单时为空")
    order_count: int = Field(description="分配给本厂家的该 SKU 订单数（已设价但已无订单时为 0）")
    price: Yuan | None = Field(description="当前有效的结算价（元）；缺少时为 null")
    effective_from: Time | None = Field(description="当前结算价的生效时间")
    next_price: Yuan | None = Field(description="最近一次待生效的结算价（若有）")
    next_effective_from: Time | None = Field(description="待生效价格的生效时间")


PricePage = page_of(PriceRow, "PricePage")


class PriceItemInput(Request):
    merchant_shop_id: str = Field(description="已绑定（或曾经绑定）商家的店铺ID")
    sku_key: str
    price: str = Field(
        description=f'结算价，单位元，必须是字符串（如 "12.50"），0 到 {MAX_YUAN} 元，最多两位小数'
    )
    effective_from: str | None = Field(
        default=None,
        description="可选，生效时间：北京时间 YYYY-MM-DD HH:MM[:SS]（或只写日期），"
        "或带时区的 ISO 8601。省略时立即生效。可早于现在（补设），最多提前 "
        f"{MAX_SCHEDULE_AHEAD.days} 天",
    )


class PriceInput(Request):
    items: Annotated[
        list[PriceItemInput],
        Field(
            min_length=1,
            max_length=MAX_PRICE_ITEMS,
            description="每个（商家，SKU）一次只能出现一次",
        ),
    ]


Index = Annotated[int, Field(ge=0, description="该项在请求 items 中的位置（从 0 起）")]


class PriceChange(Answer):
    index: Index
    merchant_shop_id: str
    sku_key: str
    price: Yuan
    effective_from: Time


class PriceRefusal(Answer):
    index: Index
    merchant_shop_id: str
    sku_key: str
    code: choice(PRICE_REFUSALS)
    message: str


class PriceResult(Answer):
    created: list[PriceChange] = Field(description="已新增的价格（历史保留，不覆盖）")
    unchanged: list[PriceChange] = Field(description="该时间已是这个价格，未新增")
    refused: list[PriceRefusal] = Field(description="被拒绝的项，按 index 排序")


# --- statements (both roles) -------------------------------------------------------------------

DateText = Annotated[
    str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="YYYY-MM-DD（北京时间的日期）")
]


def _calendar_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PydanticCustomError("invalid_date", "no such day") from None


# A day given as YYYY-MM-DD (Asia/Shanghai), read into a date.
Day = Annotated[
    DateText, AfterValidator(_calendar_day), Field(json_schema_extra={"format": "date"})
]


class StatementInput(Request):
    supplier_shop_id: str = Field(description="已绑定（或曾经绑定）厂家的店铺ID")
    start: Day
    end: Day = Field(description="YYYY-MM-DD，含当天；与 start 颠倒时自动交换")


class Period(Answer):
    start: DateText
    end: DateText


class StatementDownloads(Answer):
    csv: str
    xlsx: str


BUILT = "仅 status=ready 时有值，否则为 null"


class Statement(Answer):
    id: int
    status: choice(STATEMENT_STATUSES) = Field(
        description="queued 排队中；building 生成中；ready 已生成；failed 生成失败（可重试）"
    )
    period: Period
    merchant: ShopRef
    supplier: ShopRef
    line_count: int | None = Field(
        description=f"明细行数（每个订单的每个商品一行，一个订单可有多行）；{BUILT}"
    )
    total_amount: str | None = Field(
        pattern=r"^-?[0-9]+\.[0-9]{2}$",
        description=f"应付合计（元，两位小数的字符串，如 12.50），不含缺少结算价和已在其他对账单的"
        f"订单，含商家调整；{BUILT}",
    )
    total_fen: int | None = Field(description=f"合计金额（分）；{BUILT}")
    quantity_total: int | None = Field(description=f"商品件数；{BUILT}")
    missing_price_count: int | None = Field(description=f"缺少结算价的明细行数；{BUILT}")
    already_in_statement_count: int | None = Field(
        description="已计入其他已确认或已结算对账单的明细行数（already_in_statement："
        f"列出但不计入合计）；{BUILT}"
    )
    adjustment_amount: str | None = Field(
        pattern=r"^-?[0-9]+\.[0-9]{2}$",
        description=f"商家调整合计（元，已计入 total_amount）；{BUILT}",
    )
    review_status: choice(REVIEW_STATUSES) = Field(
        description="pending 待厂家确认；confirmed 厂家已确认；disputed 厂家有异议；settled 已结算"
    )
    dispute_reason: str = Field(description="厂家的异议原因（没有时为空）")
    requested_at: Time
    finished_at: Time | None
    reviewed_at: Time | None
    settled_at: Time | None
    error: str = Field(description="生成失败的原因（status=failed）")
    downloads: StatementDownloads | None = Field(description="下载地址（status=ready 时）")


class StatementAdjustment(Answer):
    amount: str = Field(
        pattern=r"^[+-][0-9]+\.[0-9]{2}$", description="调整金额（元，带正负号，如 -12.50）"
    )
    amount_fen: int = Field(description="调整金额（分，带正负号）")
    reason: str
    created_at: Time


class StatementEvent(Answer):
    kind: choice(STATEMENT_EVENT_KINDS) = Field(
        description="requested 申请生成；built 已生成；failed 生成失败；retried 重试；"
        "confirmed 厂家确认；disputed 厂家异议；answered 商家回复；adjusted 商家调整；"
        "regenerated 重新生成；settled 已结算"
    )
    actor: str = Field(
        description="操作人，如「厂家 · 乙厂 · press1（打单员）」；系统操作为「系统」"
    )
    note: str = Field(description="异议原因、回复、调整（金额与原因）或失败原因")
    created_at: Time


class StatementDetail(Statement):
    adjustments: list[StatementAdjustment] = Field(description="商家的调整行，按添加顺序")
    history: list[StatementEvent] = Field(description="对账记录（双方可见），按时间顺序")


StatementPage = page_of(Statement, "StatementPage")


class StatementQuery(PageQuery):
    status: optional_choice(STATEMENT_STATUSES) = None
    review_status: optional_choice(REVIEW_STATUSES) = None
    supplier_shop_id: QueryText = Field(default="", description="商家：只看该厂家的对账单")
    merchant_shop_id: QueryText = Field(default="", description="厂家：只看该商家的对账单")


class DownloadQuery(Query):
    format: Literal["csv", "xlsx"] = "csv"


class PickListQuery(Query):
    format: Literal["pdf", "xlsx"] = "pdf"
    sort: choice(PICK_ORDERS) | None = Field(
        default=None,
        description="sku 按商家编码，goods 按商品名称，location 按库位；不填按厂家设置",
    )


class DisputeInput(Request):
    reason: str = Field(default="", max_length=MAX_DISPUTE_REASON)


class AnswerInput(Request):
    note: str = Field(default="", max_length=MAX_DISPUTE_REASON, description="给厂家的回复")


class AdjustmentInput(Request):
    amount: str = Field(
        max_length=20,
        description='调整金额，单位元，必须是字符串，可带正负号（如 "9.90"、"-12.50"），'
        f"不为 0，最多两位小数，绝对值不超过 {MAX_ADJUSTMENT_FEN // 100} 元",
    )
    reason: str = Field(default="", max_length=MAX_ADJUSTMENT_REASON, description="调整原因")


# --- shipping analytics (both roles) -----------------------------------------------------------


class AnalyticsQuery(Query):
    start: Day | None = Field(
        default=None,
        description="YYYY-MM-DD（北京时间），含当天；start 与 end 都省略时为最近 7 天",
    )
    end: Day | None = Field(default=None, description="YYYY-MM-DD，含当天；与 start 颠倒时自动交换")


Rate = Annotated[float | None, Field(ge=0, le=1)]
Hours = Annotated[float | None, Field(ge=0, description="小时，一位小数")]


class AnalyticsItem(Answer):
    shop_id: str
    shop_name: str
    assigned: int = Field(description="期内分配的订单（后来取消的不计）")
    returned: int = Field(description="期内回传运单号的订单")
    dispatched: int = Field(description="期内发货的订单")
    same_day_rate: Rate = Field(
        description="期内付款的订单中，截单时间（商家设置，默认 16:00）前付款当天回传、"
        "之后付款次日截单前回传的比例；未回传且未到截止时间的不计"
    )
    overdue: int = Field(description="承诺发货时间在期内、回传晚于它或已过时间仍未回传的订单")
    overdue_rate: Rate = Field(description="overdue ÷ 已回传或已过承诺发货时间的订单")
    return_hours_p50: Hours = Field(description="期内回传的订单从分配到回传的小时数中位数")
    return_hours_p90: Hours = Field(description="同上，第 90 百分位（最近秩）")
    after_sale_rate: Rate = Field(description="期内回传的订单中有售后的比例")


class Workload(Answer):
    to_print: int = Field(description="待打印")
    due_within_12h: int = Field(description="12 小时内到承诺发货时间")
    overdue: int = Field(description="已过承诺发货时间仍未回传")


class MerchantAnalyticsItem(AnalyticsItem):
    workload: Workload


class AnalyticsDay(Answer):
    date: DateText
    assigned: int
    dispatched: int
    on_time_rate: Rate = Field(
        description="承诺发货时间在当天的订单中按时回传的比例（已决定的订单）"
    )


class SupplierAnalytics(Answer):
    start: DateText
    end: DateText
    items: list[AnalyticsItem]
    daily: list[AnalyticsDay]


class MerchantAnalytics(Answer):
    start: DateText
    end: DateText
    items: list[MerchantAnalyticsItem]
    daily: list[AnalyticsDay]


# --- allocation rules (merchant), the factory's own codes and tracking corrections (supplier) ---

MAX_CODE_ITEMS = 1000
ShopIdText = Annotated[str, Field(description="厂家店铺ID（须已绑定且生效）")]


class SkuRule(Request):
    sku_code: str
    supplier_shop_id: ShopIdText


class SkuRuleAnswer(Answer):
    sku_code: str
    supplier_shop_id: str


class AllocationRulesInput(Request):
    """规则作用于保存之后新建或变为可分配的订单（导入、接口写入、平台后续导出），不改动已分配的订单。"""

    # Checked by the service (invalid_rule_mode), documented as the choice it is.
    mode: str = Field(
        json_schema_extra={"enum": ["manual", "shop", "sku"]},
        description="manual 手动；shop 整店分配给 supplier_shop_id；sku 按 SKU 规则，"
        "未匹配的交给 supplier_shop_id（兜底，可为 null）",
    )
    supplier_shop_id: str | None = Field(default=None, description="厂家店铺ID")
    sku_rules: list[SkuRule] = Field(default_factory=list, max_length=MAX_SKU_RULES)


class AllocationRules(Answer):
    mode: Literal["manual", "shop", "sku"]
    supplier_shop_id: str | None
    sku_rules: list[SkuRuleAnswer]
    stopped_supplier_shop_ids: list[str] = Field(
        description="规则指向但绑定已解除的厂家：规则对它们暂停，订单等待人工分配"
    )


class SupplierCount(Answer):
    supplier_shop_id: str
    assigned: int


class RuleRefusal(Answer):
    order_no: str
    code: str
    message: str


class AllocationApplyResult(Answer):
    assigned: int = Field(description="本次按规则分配的订单数")
    by_supplier: list[SupplierCount]
    refused: list[RuleRefusal] = Field(
        description="规则要分配、但刚被他人分配或被平台挂起的订单（already_assigned 等）"
    )
    waiting: int = Field(description="没有规则匹配、等待人工分配的订单数")


class SkuCodeItem(Request):
    merchant_shop_id: str = Field(description="商家店铺ID")
    sku_code: str = Field(
        description="商家的 SKU（与结算价的 sku_key 相同：商家编码-SKU维度，"
        "无编码时为 商品id|规格）"
    )
    supplier_code: str | None = Field(
        default=None, description="厂家自己的编码；空字符串表示清除，不填保持不变"
    )
    location: str | None = Field(
        default=None, description="库位（拣货单按库位排序）；空字符串表示清除，不填保持不变"
    )


class SkuCodesInput(Request):
    items: list[SkuCodeItem] = Field(max_length=MAX_CODE_ITEMS)


class SkuCodeSaved(Answer):
    index: Index
    merchant_shop_id: str
    sku_code: str
    supplier_code: str | None = Field(description="保存后的厂家编码；未给出时为 null（未改变）")
    location: str | None = Field(description="保存后的库位；未给出时为 null（未改变）")


class SkuCodeRefusal(Answer):
    index: Index
    merchant_shop_id: str
    sku_code: str
    code: str = Field(
        description="not_bound、unknown_sku、invalid_sku_key、invalid_supplier_code、"
        "invalid_location、duplicate_sku"
    )
    message: str


class SkuCodesResult(Answer):
    saved: list[SkuCodeSaved]
    refused: list[SkuCodeRefusal]


class TrackingCorrectionInput(Request):
    courier: str = Field(description="快递公司代码或名称")
    tracking_no: str
    merchant_shop_id: MerchantShopIdInput


class TrackingCorrection(Answer):
    order_no: str
    corrections_left: int = Field(ge=0, le=1)
    warnings: list[str]

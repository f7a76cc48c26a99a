"""Domain errors with stable codes, and the one table that maps codes to Chinese messages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# code → (message shown to users, HTTP status for the API)
MESSAGES: dict[str, tuple[object, int]] = {
    # accounts
    "invalid_credentials": (_l("用户名或密码错误"), 401),
    "login_throttled": (_l("登录失败次数过多，请 15 分钟后再试"), 429),
    "login_delayed": (_l("该账号登录失败次数较多，请 %(seconds)s 秒后再试"), 429),
    "username_taken": (_l("该用户名已被注册"), 409),
    # Sign-up's answer for a taken or reserved name: it never confirms that an account exists.
    "username_unavailable": (_l("该用户名不可用，请换一个用户名"), 409),
    "invalid_username": (_l("用户名需为 3–40 位字母、数字、下划线或中文"), 422),
    "weak_password": (_l("密码至少 8 位，且不能与用户名相同"), 422),
    "wrong_password": (_l("当前密码不正确"), 422),
    "account_inactive": (_l("该账号已停用，请联系店铺管理员"), 403),
    "password_change_required": (_l("请先登录网页修改初始密码，再使用 API 令牌"), 403),
    "invalid_shop_role": (_l("请选择正确的子账号角色"), 422),
    "cannot_change_self": (_l("不能更改自己的角色或停用自己"), 409),
    "role_already_chosen": (_l("账号角色已选择，不能更改"), 409),
    "invalid_phone": (_l("请输入正确的手机号或固定电话"), 422),
    "invalid_region": (_l("请选择正确的省、市、区"), 422),
    "field_required": (_l("请填写必填项"), 422),
    "field_too_long": (_l("内容过长"), 422),
    "invalid_mapping": (_l("映射里的列不在文件中"), 422),
    "mapping_incomplete": (_l("还有必填字段没有选择对应的列"), 422),
    "name_taken": (_l("这个名字已经用过了"), 422),
    "not_found": (_l("找不到该记录"), 404),
    "forbidden": (_l("无权执行此操作"), 403),
    "unauthorized": (_l("请先登录"), 401),
    "invalid_request": (_l("请求格式不正确"), 400),
    "validation_error": (_l("提交的内容有误"), 422),
    "csrf_failed": (_l("页面已过期，请刷新后重试"), 400),
    "payload_too_large": (_l("上传的文件过大（最大 20 MB）"), 413),
    "role_required": (_l("请先选择账号角色"), 403),
    "internal_error": (_l("系统繁忙，请稍后重试"), 500),
    "database_unavailable": (_l("数据库暂时无法连接，本次操作未保存，请稍后重试"), 503),
    # bindings
    "invalid_shop_id": (_l("请输入正确的厂家店铺ID"), 422),
    "already_bound": (_l("已与该厂家绑定或申请正在审核中，请勿重复申请"), 409),
    "binding_not_pending": (_l("该申请已处理"), 409),
    "binding_not_active": (_l("该绑定已不是生效状态"), 409),
    # orders and allocation (DESIGN §4.2): refusal codes, shown per order
    "after_sale": (_l("售后中，不能分配"), 409),
    "audit_hold": (_l("平台审核中，不能分配"), 409),
    "not_awaiting_shipment": (_l("订单不是待发货状态"), 409),
    "address_incomplete": (_l("收货地址不完整"), 409),
    "already_assigned": (_l("订单已分配"), 409),
    "dispatched": (_l("订单已发货"), 409),
    "not_bound": (_l("未与该厂家绑定或绑定已解除"), 409),
    "not_assigned": (_l("订单未分配"), 409),
    "tracking_returned": (_l("厂家已回传运单号，不能取消分配"), 409),
    "address_changed": (_l("收货信息已变更，待商家确认"), 409),
    "no_address_change": (_l("该订单没有待确认的地址变更"), 409),
    "nothing_selected": (_l("请先选择订单"), 422),
    "too_many_orders": (_l("一次最多提交 1000 个订单"), 422),
    "missing_columns": (_l("文件缺少必需的列"), 422),
    # tracking numbers (DESIGN §6)
    "unknown_courier": (_l("无法识别的快递公司"), 422),
    "invalid_tracking_no": (_l("运单号格式不正确（8–32 位字母、数字或短横线）"), 422),
    "duplicate_tracking_no": (_l("该运单号已用于其他收件人的订单"), 409),
    "too_many_tracking_nos": (_l("每个订单最多 10 个额外运单号"), 422),
    "ambiguous_order_no": (
        _l(
            "您有多个商家使用（或曾使用已取消的订单）这个订单号，"
            "请注明商家店铺ID（文件中加一列「商家店铺ID」）"
        ),
        409,
    ),
    "assignment_cancelled": (_l("该订单已取消分配，请勿发货"), 409),
    "not_returned": (_l("该订单还没有回传运单号"), 409),
    "print_job_voided": (_l("该打印任务已作废"), 409),
    "print_job_decided": (_l("该打印任务已确认或作废"), 409),
    "nothing_printable": (_l("没有可打印的订单"), 409),
    "invalid_file": (_l("无法读取该文件，请上传平台导出的 CSV 或 XLSX 文件"), 422),
    # statements (DESIGN §7)
    "statement_rate_limited": (_l("对账单生成过于频繁"), 429),
    "api_rate_limited": (_l("请求过于频繁，请稍后再试"), 429),
    "invalid_period": (_l("请选择正确的日期范围（最长一年，开始日期不能晚于今天）"), 422),
    "statement_not_failed": (_l("只有生成失败的对账单可以重试"), 409),
    "statement_not_ready": (_l("对账单还没有生成完成"), 409),
    "statement_review_closed": (_l("对账单当前状态不允许此操作"), 409),
    "dispute_reason_required": (_l("请填写有异议的原因"), 422),
    "statement_not_confirmed": (_l("厂家确认对账单后才能标记已结算"), 409),
    "statement_overlaps": (_l("对账单中有订单已计入其他已确认的对账单，请重新生成"), 409),
    "answer_required": (_l("请填写回复内容"), 422),
    "adjustment_reason_required": (_l("请填写调整原因"), 422),
    "invalid_adjustment": (
        _l("调整金额不正确：请填写不为 0、最多两位小数的金额（元，可为负数）"),
        422,
    ),
    # return addresses
    "return_address_in_use": (_l("默认退货地址不能删除，请先设置其他默认地址"), 409),
    "return_address_used": (_l("该退货地址已用于发货的订单，不能删除"), 409),
    # dispatch (DESIGN §6): batch dispatch, the batch-shipping export, signed webhooks
    "return_address_required": (_l("发货需要退货地址，请先在「设置」中添加退货地址"), 422),
    "invalid_webhook_url": (
        _l("回调地址需为 https:// 开头的公网网址（本机测试可用 http://127.0.0.1 或 localhost）"),
        422,
    ),
    "webhook_not_configured": (_l("请先设置接口回调地址"), 409),
    "webhook_delivery_not_failed": (_l("只有发送失败的回调可以重新发送"), 409),
    "confirmation_required": (_l("请确认后再提交"), 422),
    # settlement prices
    "invalid_price": (
        _l("结算价不正确：请填写不小于 0、最多两位小数、不超过 1,000,000 元的金额"),
        422,
    ),
    "invalid_sku_key": (_l("SKU键为空或超过 200 个字符"), 422),
    "unknown_sku": (_l("该商家没有分配给你的此 SKU 订单，请核对 SKU键"), 422),
    "invalid_effective_from": (_l("生效时间不正确：不能早于 2000 年，也不能晚于一年以后"), 422),
    "duplicate_sku": (_l("同一商家的 SKU 在本次提交中重复出现"), 422),
    "price_time_taken": (_l("该 SKU 在这个生效时间已有不同的结算价，请换一个生效时间"), 409),
    "price_conflict": (_l("结算价刚被其他操作修改，请刷新后重试"), 409),
    # allocation rules, the factory's own codes, tracking corrections (DESIGN §10.3)
    "invalid_rule_mode": (_l("分配方式只能是 manual（手动）、shop（整店）或 sku（按 SKU）"), 422),
    "invalid_sku_code": (_l("SKU 编码为空或超过 64 个字符"), 422),
    "duplicate_sku_rule": (_l("同一个 SKU 编码在规则中出现了两次"), 422),
    "too_many_sku_rules": (_l("SKU 规则最多 5000 条"), 422),
    "invalid_supplier_code": (_l("厂家编码为空或超过 64 个字符"), 422),
    "invalid_location": (_l("库位最多 32 个字符"), 422),
    "tracking_change_window": (
        _l("发货已超过 5 天，不能再修改运单号；请联系商家在平台备注正确的运单号"),
        409,
    ),
    "tracking_change_limit": (_l("每个订单发货后最多修改 2 次运单号，已用完"), 409),
    "not_dispatched": (_l("订单还没有发货，请直接重新回传运单号"), 409),
    "tracking_unchanged": (_l("新运单号与当前运单号相同"), 422),
}


class DomainError(Exception):
    """A refusal by a service: a stable code for the API and a Chinese message for people."""

    def __init__(
        self, code: str, message: str | None = None, *, status: int | None = None, **details: object
    ) -> None:
        self.code = code
        self.details = details
        self._message = message
        self._status = status  # where a contract answers this code with another status
        super().__init__(code)

    @property
    def message(self) -> str:
        if self._message is not None:
            return self._message
        return message_for(self.code)

    @property
    def status(self) -> int:
        if self._status is not None:
            return self._status
        return MESSAGES.get(self.code, (None, 422))[1]


def message_for(code: str) -> str:
    entry = MESSAGES.get(code)
    return str(entry[0]) if entry else code

"""Web forms (Flask-WTF: CSRF on every form). Shape checks here; business rules in services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from portal.domain.accounts import MerchantProfileInput
from portal.domain.errors import DomainError

REQUIRED = DataRequired(message=_l("此项必填"))


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[REQUIRED, Length(max=40)])
    password = PasswordField(_l("密码"), validators=[REQUIRED, Length(max=200)])


class SignupForm(FlaskForm):
    username = StringField(
        _l("用户名"),
        validators=[REQUIRED, Length(min=3, max=40, message=_l("用户名长度为 3–40 位"))],
    )
    password = PasswordField(
        _l("密码"), validators=[REQUIRED, Length(min=8, max=200, message=_l("密码至少 8 位"))]
    )
    password_confirm = PasswordField(
        _l("确认密码"),
        validators=[REQUIRED, EqualTo("password", message=_l("两次输入的密码不一致"))],
    )


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("当前密码"), validators=[REQUIRED])
    new_password = PasswordField(
        _l("新密码"), validators=[REQUIRED, Length(min=8, max=200, message=_l("密码至少 8 位"))]
    )
    new_password_confirm = PasswordField(
        _l("确认新密码"),
        validators=[REQUIRED, EqualTo("new_password", message=_l("两次输入的密码不一致"))],
    )


class RegionFieldsMixin:
    province = StringField(_l("省"), validators=[REQUIRED, Length(max=20)])
    city = StringField(_l("市"), validators=[REQUIRED, Length(max=30)])
    district = StringField(_l("区/县"), validators=[Optional(), Length(max=30)])


class MerchantProfileForm(RegionFieldsMixin, FlaskForm):
    shop_name = StringField(_l("店铺名称"), validators=[REQUIRED, Length(max=60)])
    sender_name = StringField(_l("发件人"), validators=[REQUIRED, Length(max=30)])
    sender_phone = StringField(_l("发件人电话"), validators=[REQUIRED, Length(max=30)])
    detail = StringField(_l("详细地址"), validators=[REQUIRED, Length(max=200)])

    def to_input(self) -> MerchantProfileInput:
        return MerchantProfileInput(
            shop_name=self.shop_name.data,
            sender_name=self.sender_name.data,
            sender_phone=self.sender_phone.data,
            province=self.province.data,
            city=self.city.data,
            district=self.district.data or "",
            detail=self.detail.data,
        )


class SupplierProfileForm(FlaskForm):
    factory_name = StringField(_l("厂家名称"), validators=[REQUIRED, Length(max=60)])
    contact_name = StringField(_l("联系人"), validators=[Optional(), Length(max=30)])
    contact_phone = StringField(_l("联系电话"), validators=[Optional(), Length(max=30)])


class SupplierPrintForm(FlaskForm):
    """The factory's print day (设置 · 打单): the choices are set by the view from the services."""

    pick_order = SelectField(_l("拣货单排序"), validators=[REQUIRED])
    print_order = SelectField(_l("面单打印顺序"), validators=[REQUIRED])


class ReturnAddressForm(RegionFieldsMixin, FlaskForm):
    contact_name = StringField(_l("收件人"), validators=[REQUIRED, Length(max=30)])
    phone = StringField(_l("电话"), validators=[REQUIRED, Length(max=30)])
    detail = StringField(_l("详细地址"), validators=[REQUIRED, Length(max=200)])
    make_default = BooleanField(_l("设为默认退货地址"))


class PreferencesForm(FlaskForm):
    label_style = RadioField(
        _l("面单样式"),
        choices=[
            SelectChoice("full", _l("完整收件信息（厂家自印面单）")),
            SelectChoice("private", _l("隐私面单（收件人姓名、电话脱敏）")),
        ],
        validators=[REQUIRED],
    )
    auto_dispatch = BooleanField(_l("厂家回传运单号后自动发货"))
    slip_prices = BooleanField(_l("厂家打印的发货单显示商品总价和实付金额"))
    same_day_cutoff = TimeField(
        _l("当日发货截单时间"),
        validators=[Optional()],
        description=_l(
            "此时间前付款的订单应当天回传运单号，之后的次日截单前回传（用于「数据」统计）"
        ),
    )


class TokenForm(FlaskForm):
    name = StringField(_l("令牌名称"), validators=[REQUIRED, Length(max=60)])


class StaffForm(FlaskForm):
    """A new shop member (子账号); the role choices are set per side by the view."""

    username = StringField(
        _l("用户名"),
        validators=[REQUIRED, Length(min=3, max=40, message=_l("用户名长度为 3–40 位"))],
    )
    password = PasswordField(
        _l("初始密码"),
        validators=[REQUIRED, Length(min=8, max=200, message=_l("密码至少 8 位"))],
    )
    role = SelectField(_l("角色"), validators=[REQUIRED])


class StaffUpdateForm(FlaskForm):
    role = StringField(validators=[Optional(), Length(max=10)])
    active = StringField(validators=[Optional(), Length(max=1)])


class StaffPasswordForm(FlaskForm):
    password = PasswordField(
        _l("新密码"),
        validators=[REQUIRED, Length(min=8, max=200, message=_l("密码至少 8 位"))],
    )


class BindingApplyForm(FlaskForm):
    supplier_shop_id = StringField(_l("厂家店铺ID"), validators=[REQUIRED, Length(max=40)])
    message = TextAreaField(_l("留言（选填）"), validators=[Optional(), Length(max=200)])


class EmptyForm(FlaskForm):
    """For buttons that only need a CSRF token."""


def attach_error(form: FlaskForm, error: DomainError) -> None:
    """Show a service refusal next to the field it concerns, or above the form."""
    field_name = str(error.details.get("field", ""))
    if field_name == "region" and "province" in form:
        field_name = "province"
    if field_name in form:
        form[field_name].errors = [*form[field_name].errors, error.message]
    else:
        form.form_errors.append(error.message)


def form_status(*forms: FlaskForm) -> int:
    """422 when a submitted form has errors (htmx is configured to swap 422 answers)."""
    return 422 if any(form.errors or form.form_errors for form in forms) else 200

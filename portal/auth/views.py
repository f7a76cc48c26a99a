"""Sign-up, login, logout, role choice, password change, API tokens and region options."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.auth.session import safe_next
from portal.domain import accounts
from portal.domain.errors import DomainError
from portal.extensions import db
from portal.web.forms import (
    EmptyForm,
    LoginForm,
    MerchantProfileForm,
    PasswordForm,
    SignupForm,
    SupplierProfileForm,
    TokenForm,
    attach_error,
    form_status,
)
from portal.web.gate import home_endpoint_for, install_role_gate
from portal.web.htmx import hx_redirect, notify, render

bp = Blueprint("auth", __name__)
account_bp = Blueprint("account", __name__, url_prefix="/account")
install_role_gate(account_bp, None)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The icon a browser asks for on a document that names none: a PDF of labels opened in a
    tab (the pages name an empty one, `data:,`)."""
    return send_from_directory(
        current_app.static_folder or "",
        "favicon.svg",
        mimetype="image/svg+xml",
        max_age=7 * 24 * 3600,
    )


def _client_ip() -> str:
    # Behind PORTAL_TRUSTED_PROXIES proxies, ProxyFix has put the client's address here.
    return request.remote_addr or "unknown"


@bp.get("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint_for(current_user)))
    return redirect(url_for("auth.login"))


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint_for(current_user)))
    form = SignupForm()
    if form.validate_on_submit():
        throttle = accounts.Throttle.from_config(current_app.config)
        try:
            user = accounts.sign_up(form.username.data, form.password.data, _client_ip(), throttle)
        except DomainError as error:
            db.session.commit()  # keep the recorded refusal (none for a bad password)
            attach_error(form, error)
        else:
            db.session.commit()
            login_user(user)
            notify(_("注册成功，请选择您的身份"))
            return hx_redirect(url_for("account.choose_role"))
    return render(
        "auth/signup.html",
        {"auth-form": "auth/_signup_form.html"},
        status=form_status(form),
        form=form,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        throttle = accounts.Throttle.from_config(current_app.config)
        try:
            user = accounts.authenticate(
                form.username.data, form.password.data, _client_ip(), throttle
            )
        except DomainError as error:
            db.session.commit()  # keep the recorded failure
            form.form_errors.append(error.message)
        else:
            db.session.commit()
            login_user(user)
            return hx_redirect(next_url or url_for(home_endpoint_for(user)))
    return render(
        "auth/login.html",
        {"auth-form": "auth/_login_form.html"},
        status=form_status(form),
        form=form,
        next_url=next_url,
    )


@bp.post("/logout")
def logout() -> Response:
    EmptyForm().validate_on_submit()  # CSRF is checked by CSRFProtect before we get here
    if current_user.is_authenticated:
        # End this and every other session: a copied cookie must not outlive the logout.
        accounts.end_all_sessions(current_user._get_current_object())
        db.session.commit()
    logout_user()
    notify(_("已退出登录"), "info")
    return hx_redirect(url_for("auth.login"))


@account_bp.get("/role")
def choose_role() -> Response:
    if current_user.role:
        return redirect(url_for(home_endpoint_for(current_user)))
    return render(
        "auth/choose_role.html",
        merchant_form=MerchantProfileForm(),
        supplier_form=SupplierProfileForm(),
    )


@account_bp.post("/role/merchant")
def become_merchant() -> Response:
    form = MerchantProfileForm()
    if current_user.role:
        return redirect(url_for(home_endpoint_for(current_user)))
    if form.validate_on_submit():
        try:
            accounts.become_merchant(
                current_user._get_current_object(),
                form.to_input(),
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("已开通商家身份，店铺ID：%(shop_id)s", shop_id=current_user.shop_id))
            return hx_redirect(url_for("merchant.dashboard"))
    return render(
        "auth/choose_role.html",
        {"merchant-form": "auth/_merchant_role_form.html"},
        status=form_status(form),
        merchant_form=form,
        supplier_form=SupplierProfileForm(formdata=None),
        chosen="merchant",
    )


@account_bp.post("/role/supplier")
def become_supplier() -> Response:
    form = SupplierProfileForm()
    if current_user.role:
        return redirect(url_for(home_endpoint_for(current_user)))
    if form.validate_on_submit():
        try:
            accounts.become_supplier(
                current_user._get_current_object(),
                form.factory_name.data,
                form.contact_name.data or "",
                form.contact_phone.data or "",
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("已开通厂家身份，店铺ID：%(shop_id)s", shop_id=current_user.shop_id))
            return hx_redirect(url_for("supplier.dashboard"))
    return render(
        "auth/choose_role.html",
        {"supplier-form": "auth/_supplier_role_form.html"},
        status=form_status(form),
        merchant_form=MerchantProfileForm(formdata=None),
        supplier_form=form,
        chosen="supplier",
    )


@account_bp.route("/password", methods=["GET", "POST"])
def change_password() -> Response:
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(user, form.current_password.data, form.new_password.data)
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            # Other sessions are ended; this one continues under the new epoch.
            login_user(user)
            notify(_("密码已修改，其他设备上的登录已退出"))
            return hx_redirect(url_for("account.change_password"))
    return render(
        "auth/password.html",
        {"password-form": "auth/_password_form.html"},
        status=form_status(form),
        form=form,
    )


@account_bp.get("/regions")
def region_fields() -> Response:
    """Re-render the province/city/district selects after one of them changed."""
    return render(
        "_partials/region_fields_page.html",
        "_partials/region_fields.html",
        province=request.args.get("province", ""),
        city=request.args.get("city", ""),
        district=request.args.get("district", ""),
        errors=(),
    )


@account_bp.get("/tokens")
def tokens() -> Response:
    return _render_tokens(TokenForm(formdata=None), None)


@account_bp.post("/tokens")
def token_create() -> Response:
    form = TokenForm()
    new_token = None
    if current_user.role and form.validate_on_submit():
        try:
            _record, new_token = accounts.create_api_token(
                current_user._get_current_object(), form.name.data
            )
        except DomainError as error:
            attach_error(form, error)
        else:
            db.session.commit()
            notify(_("令牌已创建，请立即复制保存，关闭后将无法再次查看"))
            form = TokenForm(formdata=None)
    return _render_tokens(form, new_token)


@account_bp.post("/tokens/<int:token_id>/revoke")
def token_revoke(token_id: int) -> Response:
    accounts.revoke_api_token(current_user._get_current_object(), token_id)
    db.session.commit()
    notify(_("令牌已停用"))
    return _render_tokens(TokenForm(formdata=None), None)


def _render_tokens(form: TokenForm, new_token: str | None) -> Response:
    return render(
        "auth/tokens_page.html",
        "_partials/api_tokens.html",
        token_form=form,
        tokens=accounts.list_api_tokens(current_user._get_current_object()),
        new_token=new_token,
    )

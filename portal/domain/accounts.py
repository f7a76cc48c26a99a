"""Account services: sign-up, login throttling, roles and shop IDs, tokens, return addresses."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import check_password_hash, generate_password_hash

from portal.domain.authz import get_or_404
from portal.domain.errors import DomainError, message_for
from portal.domain.privacy.normalize import normalize_text
from portal.domain.privacy.phones import is_valid_phone, normalize_phone
from portal.domain.regions import validate_region
from portal.extensions import db
from portal.models import ApiToken, LoginFailure, Merchant, Order, ReturnAddress, Supplier, User
from portal.models.accounts import LABEL_FULL, LABEL_PRIVATE, ROLE_MERCHANT, ROLE_SUPPLIER
from portal.models.base import utcnow
from portal.transactions import may_write, write_apart

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[A-Za-z0-9_\u4e00-\u9fff]{3,40}$")
TOKEN_PREFIX = "dfp_"  # noqa: S105  (a public marker, not a secret)
SHOP_ID_DIGITS = 9


def normalize_username(username: str) -> str:
    return unicodedata.normalize("NFKC", username or "").strip().lower()


def clean(value: str | None, max_length: int, *, required: bool = True, field: str = "") -> str:
    """Normalise a free-text form value, refusing empty required values and overlong input."""
    text = normalize_text(value)
    if required and not text:
        raise DomainError("field_required", field=field)
    if len(text) > max_length:
        raise DomainError("field_too_long", field=field)
    return text


def create_user(username: str, password: str) -> User:
    name = normalize_username(username)
    if not USERNAME_RE.fullmatch(name):
        raise DomainError("invalid_username", field="username")
    check_password_strength(name, password)
    user = User(username=name, password_hash=_hash_password(password))
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        raise DomainError("username_taken", field="username") from None
    return user


# Names nobody may sign up with: with them, "unavailable" never means "an account exists".
RESERVED_USERNAMES = frozenset(
    {"admin", "administrator", "root", "system", "support", "portal", "daifa", "test"}
)


def sign_up(
    username: str, password: str, ip: str, throttle: Throttle, now: datetime | None = None
) -> User:
    """Public sign-up. A taken (or reserved) username is refused in words that never confirm
    an account exists, and each such refusal counts against the address like a failed login:
    probing usernames from one address meets the same lock as guessing passwords. The caller
    commits in both outcomes (the refusal is recorded)."""
    now = now or utcnow()
    ip = ip[:64]
    recent = LoginFailure.created_at >= now - throttle.window
    by_ip, _ = _count_failures(LoginFailure.ip == ip, recent)
    if by_ip >= throttle.max_failures_per_ip:
        raise DomainError("login_throttled")
    try:
        if normalize_username(username) in RESERVED_USERNAMES:
            raise DomainError("username_taken", field="username")
        return create_user(username, password)
    except DomainError as error:
        if error.code != "username_taken":
            raise
        # No username on the record: the probe counts for the address, never for the account.
        db.session.add(LoginFailure(username="", ip=ip, created_at=now))
        raise DomainError("username_unavailable", field="username") from None


def _hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password_strength(username: str, password: str) -> None:
    if len(password or "") < 8 or password.lower() == username.lower():
        raise DomainError("weak_password", field="password")


@dataclass(frozen=True)
class Throttle:
    """Login failure limits over a sliding window.

    Failures count per (username, address): one address locks the account only for itself, so
    nobody can lock out a known username from elsewhere. An address is locked for every username
    after `max_failures_per_ip`. Across all addresses a username gets growing delays (2, 4, 8 …
    seconds up to `max_delay` after `delay_after` failures) and a lock only at the much higher
    `max_failures_per_username` (a distributed guess at one account).
    """

    max_failures: int
    max_failures_per_ip: int
    window: timedelta
    max_failures_per_username: int = 100
    delay_after: int = 10
    max_delay: timedelta = timedelta(minutes=1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Throttle:
        return cls(
            max_failures=config["LOGIN_MAX_FAILURES"],
            max_failures_per_ip=config["LOGIN_MAX_FAILURES_PER_IP"],
            window=config["LOGIN_FAILURE_WINDOW"],
            max_failures_per_username=config["LOGIN_MAX_FAILURES_PER_USERNAME"],
            delay_after=config["LOGIN_DELAY_AFTER_FAILURES"],
            max_delay=config["LOGIN_MAX_DELAY"],
        )

    def delay(self, failures_for_username: int) -> timedelta:
        """How long after the last failure the next attempt at this username must wait."""
        extra = failures_for_username - self.delay_after
        if extra < 0:
            return timedelta(0)
        return min(timedelta(seconds=2 ** min(extra + 1, 20)), self.max_delay)


def _count_failures(*conditions: Any) -> tuple[int, datetime | None]:
    count, last = db.session.execute(
        select(func.count(), func.max(LoginFailure.created_at)).where(*conditions)
    ).one()
    return count, last


def authenticate(
    username: str, password: str, ip: str, throttle: Throttle, now: datetime | None = None
) -> User:
    """Check credentials; failures are recorded so throttling holds across processes.

    The caller commits in both outcomes: a failed attempt must be stored even though we raise.
    """
    now = now or utcnow()
    name = normalize_username(username)[:40]
    ip = ip[:64]
    since = now - throttle.window
    recent = LoginFailure.created_at >= since
    by_pair, _ = _count_failures(LoginFailure.username == name, LoginFailure.ip == ip, recent)
    by_ip, _ = _count_failures(LoginFailure.ip == ip, recent)
    by_name, last = _count_failures(LoginFailure.username == name, recent)
    if (
        by_pair >= throttle.max_failures
        or by_ip >= throttle.max_failures_per_ip
        or by_name >= throttle.max_failures_per_username
    ):
        raise DomainError("login_throttled")
    if last is not None and now < last + throttle.delay(by_name):
        wait = math.ceil((last + throttle.delay(by_name) - now).total_seconds())
        raise DomainError(
            "login_delayed", message_for("login_delayed") % {"seconds": wait}, retry_after=wait
        )
    user = db.session.scalar(select(User).where(User.username == name))
    # Hash even for unknown users so response time does not reveal which usernames exist.
    stored = user.password_hash if user else _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"])
    if not check_password_hash(stored, password or "") or user is None:
        db.session.add(LoginFailure(username=name, ip=ip, created_at=now))
        db.session.execute(delete(LoginFailure).where(LoginFailure.created_at < since))
        raise DomainError("invalid_credentials")
    # Only this address's failures are forgiven: a distributed guess keeps its count.
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.username == name, LoginFailure.ip == ip)
    )
    if not user.active:
        raise DomainError("account_inactive")
    return user


@cache
def _dummy_hash(method: str) -> str:
    """What an unknown username's password is checked against: a hash of nothing anyone knows,
    in the method real ones use, so that both cost a login the same. Made on first use, not at
    import (a scrypt hash is a quarter of a second of every process's start)."""
    return generate_password_hash(secrets.token_hex(16), method=method)


def end_all_sessions(user: User) -> None:
    """Invalidate every session cookie ever issued to this user (logout, password change)."""
    db.session.execute(
        update(User).where(User.id == user.id).values(session_epoch=User.session_epoch + 1)
    )
    db.session.refresh(user, ["session_epoch"])


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current or ""):
        raise DomainError("wrong_password", field="current_password")
    set_password(user, new)
    user.must_change_password = False


def set_password(user: User, new: str) -> None:
    """A new password ends every session of the user."""
    check_password_strength(user.username, new)
    user.password_hash = _hash_password(new)
    user.password_changed_at = utcnow()
    end_all_sessions(user)


def validated_phone(value: str | None, field: str) -> str:
    phone = normalize_phone(value or "")
    if not is_valid_phone(phone):
        raise DomainError("invalid_phone", field=field)
    return phone.canonical


def validated_region(province: str, city: str, district: str) -> tuple[str, str, str]:
    province, city, district = (normalize_text(v) for v in (province, city, district))
    if validate_region(province, city, district) is not None:
        raise DomainError("invalid_region", field="region")
    return province, city, district


def _claim_role(user: User, role: str) -> None:
    """Set the role and a fresh shop ID in one compare-and-set: a role is chosen only once."""
    for _attempt in range(10):
        shop_id = str(
            secrets.randbelow(9 * 10 ** (SHOP_ID_DIGITS - 1)) + 10 ** (SHOP_ID_DIGITS - 1)
        )
        try:
            with db.session.begin_nested():
                result = db.session.execute(
                    update(User)
                    .where(User.id == user.id, User.role.is_(None))
                    .values(role=role, shop_id=shop_id)
                )
        except IntegrityError:
            continue  # shop ID collision: draw again
        if result.rowcount != 1:
            raise DomainError("role_already_chosen")
        db.session.refresh(user, ["role", "shop_id"])
        return
    raise RuntimeError("could not allocate a unique shop ID")


@dataclass
class MerchantProfileInput:
    shop_name: str
    sender_name: str
    sender_phone: str
    province: str
    city: str
    district: str
    detail: str


def _merchant_fields(data: MerchantProfileInput) -> dict[str, str]:
    province, city, district = validated_region(data.province, data.city, data.district)
    return {
        "shop_name": clean(data.shop_name, 60, field="shop_name"),
        "sender_name": clean(data.sender_name, 30, field="sender_name"),
        "sender_phone": validated_phone(data.sender_phone, "sender_phone"),
        "sender_province": province,
        "sender_city": city,
        "sender_district": district,
        "sender_detail": clean(data.detail, 200, field="detail"),
    }


def become_merchant(user: User, data: MerchantProfileInput) -> Merchant:
    fields = _merchant_fields(data)
    _claim_role(user, ROLE_MERCHANT)
    merchant = Merchant(user_id=user.id, **fields)
    db.session.add(merchant)
    db.session.flush()
    return merchant


def update_merchant_profile(merchant: Merchant, data: MerchantProfileInput) -> None:
    for key, value in _merchant_fields(data).items():
        setattr(merchant, key, value)


def update_merchant_settings(
    merchant: Merchant, *, label_style: str, auto_dispatch: bool, slip_prices: bool | None = None
) -> None:
    if label_style not in (LABEL_PRIVATE, LABEL_FULL):
        raise DomainError("validation_error", field="label_style")
    merchant.label_style = label_style
    merchant.auto_dispatch = auto_dispatch
    if slip_prices is not None:
        merchant.slip_prices = slip_prices


def become_supplier(
    user: User, factory_name: str, contact_name: str, contact_phone: str
) -> Supplier:
    fields = supplier_fields(factory_name, contact_name, contact_phone)
    _claim_role(user, ROLE_SUPPLIER)
    supplier = Supplier(user_id=user.id, **fields)
    db.session.add(supplier)
    db.session.flush()
    return supplier


def supplier_fields(factory_name: str, contact_name: str, contact_phone: str) -> dict[str, str]:
    return {
        "factory_name": clean(factory_name, 60, field="factory_name"),
        "contact_name": clean(contact_name, 30, required=False, field="contact_name"),
        "contact_phone": validated_phone(contact_phone, "contact_phone")
        if normalize_text(contact_phone)
        else "",
    }


def update_supplier_profile(
    supplier: Supplier, factory_name: str, contact_name: str, contact_phone: str
) -> None:
    for key, value in supplier_fields(factory_name, contact_name, contact_phone).items():
        setattr(supplier, key, value)


# --- API tokens -------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; the plaintext is returned once and only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user.id,
        name=clean(name, 60, field="name"),
        token_hash=_token_hash(token),
        token_prefix=token[:10],
    )
    db.session.add(record)
    db.session.flush()
    return record, token


# The user's shop is its own (an owner) or its owner's (a member): the owner and the shop come
# as entities of the row, not as joinedload options (setting up joined eager loaders for five
# paths cost twice the query, on every request). The shop is joined once, by the id of the user
# who owns it: each entity of a row costs its row processor on every execution.
OWNER = aliased(User, name="owner")


def _with_shop(query: Select[Any]) -> Select[Any]:
    """`query` (which selects from users) with the user's owner (members) and the shop's row."""
    shop_user_id = func.coalesce(User.owner_id, User.id)
    return (
        query.add_columns(OWNER, Merchant, Supplier)
        .outerjoin(OWNER, OWNER.id == User.owner_id)
        .outerjoin(Merchant, Merchant.user_id == shop_user_id)
        .outerjoin(Supplier, Supplier.user_id == shop_user_id)
    )


def _user_from_row(
    user: User, owner: User | None, merchant: Merchant | None, supplier: Supplier | None
) -> User:
    """The user with the shop relationships its row brought: reading shop_profile (or the
    owner's shop) loads nothing more. A member has no shop of its own (staff.add_member)."""
    set_committed_value(user, "owner", owner)
    if owner is not None:
        set_committed_value(user, "merchant", None)
        set_committed_value(user, "supplier", None)
    shop_owner = owner if owner is not None else user
    set_committed_value(shop_owner, "merchant", merchant)
    set_committed_value(shop_owner, "supplier", supplier)
    return user


@cache
def _token_query() -> Select[Any]:
    """The live token by its hash with its user and shop, built once."""
    return _with_shop(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
    )


@cache
def _user_query() -> Select[Any]:
    """A user by id (`user_id`) with its shop, built once: a session's request starts here."""
    return _with_shop(select(User).where(User.id == bindparam("user_id")))


def user_with_shop(user_id: int) -> User | None:
    """The user with its shop, in one query."""
    row = db.session.execute(_user_query(), {"user_id": user_id}).first()
    return _user_from_row(*row) if row is not None else None


def api_token_hash(token: str) -> str | None:
    """What a token is stored (and counted) by; None for what cannot be one of ours."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    return _token_hash(token)


def api_token_for(token_hash: str, writing: bool = False) -> ApiToken | None:
    """The live token with this hash, with its user and the user's shop; its use stamped (at
    most once a minute). `writing`: the request's transaction already holds the write lock."""
    # One query for the token, its user and the user's shop: every API request starts here.
    row = db.session.execute(_token_query(), {"token_hash": token_hash}).first()
    if row is None:
        return None
    record, *user_row = row
    set_committed_value(record, "user", _user_from_row(*user_row))
    if not record.user.active:
        return None
    now = utcnow()
    # Record use at most once a minute: no write on every API request.
    if record.last_used_at is None or now - record.last_used_at > TOKEN_USE_INTERVAL:
        if writing or may_write():
            record.last_used_at = now  # this transaction holds the write lock anyway
        else:
            record_token_use(record.id, now)
    return record


TOKEN_USE_INTERVAL = timedelta(minutes=1)


def record_token_use(token_id: int, now: datetime) -> None:
    """For a read-only request: stamp last_used_at apart, best effort (the next request
    stamps it when the database was busy)."""
    stamp = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - TOKEN_USE_INTERVAL),
        )
        .values(last_used_at=now)
    )
    write_apart(stamp, "API token use")


def list_api_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_api_token(user: User, token_id: int) -> None:
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if result.rowcount != 1:
        raise DomainError("not_found")


# --- return addresses -------------------------------------------------------------------------


@dataclass
class AddressInput:
    contact_name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str


def list_return_addresses(merchant: Merchant) -> list[ReturnAddress]:
    return list(db.session.scalars(_return_addresses(), {"merchant_id": merchant.id}))


@cache
def _return_addresses() -> Select[Any]:
    """The merchant's (`merchant_id`) live return addresses, the default first: built once,
    a desk page of dispatchable orders asks."""
    return (
        select(ReturnAddress)
        .where(
            ReturnAddress.merchant_id == bindparam("merchant_id"),
            ReturnAddress.archived_at.is_(None),
        )
        .order_by(ReturnAddress.is_default.desc(), ReturnAddress.id)
    )


def return_addresses_by_id(merchant: Merchant, ids: set[int]) -> dict[int, ReturnAddress]:
    """The merchant's return addresses with these ids, archived ones too (the orders that used
    them show them); no query for none."""
    if not ids:
        return {}
    found = db.session.scalars(
        select(ReturnAddress).where(
            ReturnAddress.merchant_id == merchant.id, ReturnAddress.id.in_(ids)
        )
    )
    return {address.id: address for address in found}


def _address_values(data: AddressInput) -> dict[str, str]:
    province, city, district = validated_region(data.province, data.city, data.district)
    return {
        "contact_name": clean(data.contact_name, 30, field="contact_name"),
        "phone": validated_phone(data.phone, "phone"),
        "province": province,
        "city": city,
        "district": district,
        "detail": clean(data.detail, 200, field="detail"),
    }


def add_return_address(merchant: Merchant, data: AddressInput, make_default: bool) -> ReturnAddress:
    address = ReturnAddress(merchant_id=merchant.id, is_default=False, **_address_values(data))
    db.session.add(address)
    db.session.flush()
    if make_default or default_return_address(merchant) is None:
        set_default_return_address(merchant, address.id)
    return address


def _used_by_orders(address: ReturnAddress) -> bool:
    return (
        db.session.scalar(select(Order.id).where(Order.return_address_id == address.id).limit(1))
        is not None
    )


def update_return_address(
    merchant: Merchant, address_id: int, data: AddressInput, make_default: bool | None = None
) -> ReturnAddress:
    """Change an address. One that dispatched orders used is archived and replaced by a new
    row (same default flag), so those orders keep the address their returns went to."""
    address = current_return_address(merchant, address_id)
    values = _address_values(data)
    if _used_by_orders(address):
        was_default = address.is_default
        _archive(address)
        address = ReturnAddress(merchant_id=merchant.id, is_default=False, **values)
        db.session.add(address)
        db.session.flush()
        if was_default:
            set_default_return_address(merchant, address.id)
    else:
        for name, value in values.items():
            setattr(address, name, value)
        db.session.flush()
    if make_default:
        set_default_return_address(merchant, address.id)
    return address


def current_return_address(merchant: Merchant, address_id: int) -> ReturnAddress:
    """One of the merchant's current addresses (an archived one is history, not found)."""
    return get_or_404(ReturnAddress, merchant, ReturnAddress.archived_at.is_(None), id=address_id)


def set_default_return_address(merchant: Merchant, address_id: int) -> ReturnAddress:
    address = current_return_address(merchant, address_id)
    # Clear first, then set: the partial unique index allows only one default at a time.
    db.session.execute(
        update(ReturnAddress)
        .where(ReturnAddress.merchant_id == merchant.id, ReturnAddress.is_default)
        .values(is_default=False)
    )
    db.session.execute(
        update(ReturnAddress).where(ReturnAddress.id == address.id).values(is_default=True)
    )
    db.session.refresh(address)
    return address


def _archive(address: ReturnAddress) -> None:
    db.session.execute(
        update(ReturnAddress)
        .where(ReturnAddress.id == address.id)
        .values(archived_at=utcnow(), is_default=False)
    )
    db.session.refresh(address)


def delete_return_address(merchant: Merchant, address_id: int) -> None:
    """Remove an address from the list. Dispatched orders that used it keep it (archived);
    when the default goes, the oldest remaining address becomes the default."""
    address = current_return_address(merchant, address_id)
    was_default = address.is_default
    if _used_by_orders(address):
        _archive(address)
    else:
        db.session.delete(address)
        db.session.flush()
    if was_default:
        successor = db.session.scalar(
            select(ReturnAddress.id)
            .where(ReturnAddress.merchant_id == merchant.id, ReturnAddress.archived_at.is_(None))
            .order_by(ReturnAddress.id)
            .limit(1)
        )
        if successor is not None:
            set_default_return_address(merchant, successor)


def default_return_address(merchant: Merchant) -> ReturnAddress | None:
    return db.session.scalar(
        select(ReturnAddress).where(
            ReturnAddress.merchant_id == merchant.id,
            ReturnAddress.is_default,
            ReturnAddress.archived_at.is_(None),
        )
    )

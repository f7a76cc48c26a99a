"""Accounts: users, their merchant or supplier profile, return addresses, API tokens, throttling."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, UTCDateTime, utcnow

ROLE_MERCHANT = "merchant"
ROLE_SUPPLIER = "supplier"
# The member's place in its shop (DESIGN §10.4); what each may do is in
# portal/domain/permissions.py.
SHOP_OWNER = "owner"
LABEL_PRIVATE = "private"
LABEL_FULL = "full"
# 当日发货截单时间 (seed 002): orders paid before it ship the same day.
DEFAULT_CUTOFF_MINUTES = 16 * 60  # 16:00 Asia/Shanghai


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Chosen once after sign-up; None until then.
    role: Mapped[str | None] = mapped_column(String(16))
    # Public numeric shop ID, unique across both roles so one lookup answers for either.
    shop_id: Mapped[str | None] = mapped_column(String(12), unique=True)
    # Bumped on logout and password change: sessions carry the epoch they were issued under.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Staff act for the shop of their owner (None: the account owns its shop itself).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    shop_role: Mapped[str] = mapped_column(
        String(10), default=SHOP_OWNER, server_default=SHOP_OWNER
    )
    # A deactivated member can neither log in nor use a session or a token.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Set when someone else chose the password (new member, reset): changed on first login.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )

    merchant: Mapped[Merchant | None] = relationship(back_populates="user", uselist=False)
    supplier: Mapped[Supplier | None] = relationship(back_populates="user", uselist=False)
    owner: Mapped[User | None] = relationship(remote_side=[id])

    def get_id(self) -> str:
        return f"{self.id}:{self.session_epoch}"

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated member is never logged in
        return self.active

    @property
    def shop_owner(self) -> User:
        """The account whose shop this user works in: its owner, or itself."""
        return self.owner or self

    @property
    def shop_profile(self) -> Merchant | Supplier | None:
        """The tenant this user acts for: every scoped query resolves through here."""
        owner = self.shop_owner
        return owner.merchant or owner.supplier

    @property
    def shop_code(self) -> str | None:
        """The shop's public ID (staff show their owner's)."""
        return self.shop_owner.shop_id

    @property
    def is_merchant(self) -> bool:
        return self.role == ROLE_MERCHANT

    @property
    def is_supplier(self) -> bool:
        return self.role == ROLE_SUPPLIER

    @property
    def shop_name(self) -> str | None:
        profile = self.shop_profile
        return profile.shop_name if profile is not None else None


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    shop_name: Mapped[str] = mapped_column(String(60))
    sender_name: Mapped[str] = mapped_column(String(30))
    sender_phone: Mapped[str] = mapped_column(String(30))
    sender_province: Mapped[str] = mapped_column(String(20))
    sender_city: Mapped[str] = mapped_column(String(30))
    sender_district: Mapped[str] = mapped_column(String(30), default="")
    sender_detail: Mapped[str] = mapped_column(String(200))
    # 隐私面单: labels show masked receiver name and phone. Off by default: a masked label only
    # works with a platform e-waybill (the courier reads the real data from the platform); on a
    # label the factory prints itself no courier could deliver or call.
    label_style: Mapped[str] = mapped_column(String(10), default=LABEL_FULL)
    auto_dispatch: Mapped[bool] = mapped_column(Boolean, default=False)
    # Packing slips (发货单) a factory prints show the order's amounts only when this is on.
    slip_prices: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Minutes after Asia/Shanghai midnight (the shipping analytics' same-day rule).
    same_day_cutoff: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_CUTOFF_MINUTES, server_default=str(DEFAULT_CUTOFF_MINUTES)
    )
    # Optional ERP webhook for dispatches: POSTed JSON signed with HMAC-SHA256 of the secret.
    webhook_url: Mapped[str] = mapped_column(String(300), default="", server_default="")
    webhook_secret: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # After a rotation deliveries are signed with both secrets for a while (receivers switch).
    webhook_previous_secret: Mapped[str] = mapped_column(String(64), default="", server_default="")
    webhook_secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="merchant")

    @property
    def shop_id(self) -> str:
        return self.user.shop_id or ""

    @property
    def sender_address(self) -> str:
        return "".join(
            (self.sender_province, self.sender_city, self.sender_district, self.sender_detail)
        )


class Supplier(Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    factory_name: Mapped[str] = mapped_column(String(60))
    contact_name: Mapped[str] = mapped_column(String(30), default="")
    contact_phone: Mapped[str] = mapped_column(String(30), default="")
    # The print day (设置): how its pick lists are sorted (sku | goods | location).
    pick_order: Mapped[str] = mapped_column(String(10), default="sku", server_default="sku")
    # … and the order its labels come out in (desk | sku | promise), each job may choose another.
    print_order: Mapped[str] = mapped_column(String(10), default="desk", server_default="desk")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="supplier")

    @property
    def shop_id(self) -> str:
        return self.user.shop_id or ""

    @property
    def shop_name(self) -> str:
        return self.factory_name


class ReturnAddress(Base):
    __tablename__ = "return_addresses"
    __table_args__ = (
        # At most one default per merchant, guaranteed by the database.
        Index(
            "uq_return_addresses_default",
            "merchant_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    contact_name: Mapped[str] = mapped_column(String(30))
    phone: Mapped[str] = mapped_column(String(30))
    province: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(30))
    district: Mapped[str] = mapped_column(String(30), default="")
    detail: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Deleted, or replaced by an edit, after dispatched orders used it: the row stays so those
    # orders keep the address their returns go to; it is no longer listed or chosen.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def full_address(self) -> str:
        return "".join((self.province, self.city, self.district, self.detail))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    # SHA-256 of the token: the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The rate limit's theoretical arrival time (GCRA), µs since the epoch (portal.web.ratelimit).
    rate_tat: Mapped[int | None] = mapped_column(BigInteger)

    user: Mapped[User] = relationship()


class LoginFailure(Base):
    """One failed login; counted over a sliding window by username and by client address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "created_at"),
        Index("ix_login_failures_ip_at", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

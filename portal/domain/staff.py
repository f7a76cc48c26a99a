"""Shop members (子账号): the owner and its admins add staff, change roles, reset passwords and
deactivate members. Every query is scoped by the shop's owner; another shop's member is a 404."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from portal.domain.accounts import create_user, end_all_sessions, set_password
from portal.domain.errors import DomainError
from portal.domain.formatting import ROLE_LABELS, SHOP_ROLE_LABELS
from portal.domain.permissions import staff_roles
from portal.extensions import db
from portal.models import User
from portal.models.accounts import SHOP_OWNER


def staff_query(owner: User) -> Select[tuple[User]]:
    return select(User).where(User.owner_id == owner.id).order_by(User.id)


def staff_members(owner: User) -> list[User]:
    return list(db.session.scalars(staff_query(owner)))


def get_member(owner: User, member_id: int) -> User:
    member = db.session.scalar(select(User).where(User.id == member_id, User.owner_id == owner.id))
    if member is None:
        raise DomainError("not_found")
    return member


def _check_role(owner: User, role: str) -> str:
    if role not in staff_roles(owner.role):
        raise DomainError("invalid_shop_role", field="role")
    return role


def add_member(owner: User, username: str, password: str, role: str) -> User:
    """A new member of the owner's shop; it must choose its own password on first login."""
    if owner.role is None:
        raise DomainError("role_required")
    _check_role(owner, role)
    member = create_user(username, password)
    member.owner_id = owner.id
    member.role = owner.role
    member.shop_role = role
    member.must_change_password = True
    db.session.flush()
    return member


def update_member(
    owner: User, member: User, acting: User, *, role: str | None = None, active: bool | None = None
) -> None:
    """Change a member's role or switch it off; a deactivated member's sessions end at once
    (its tokens stop too: they are refused while the member is inactive)."""
    if member.id == acting.id and (role not in (None, member.shop_role) or active is False):
        raise DomainError("cannot_change_self")
    if role is not None:
        member.shop_role = _check_role(owner, role)
    if active is not None and active != member.active:
        member.active = active
        end_all_sessions(member)


def reset_password(member: User, password: str) -> None:
    """Someone else chose this password: every session ends and the member changes it next."""
    set_password(member, password)
    member.must_change_password = True


def actor_labels(user_ids: Iterable[int | None]) -> dict[int, str]:
    """Who acted, for a history (one query): side, shop and member, e.g. 「厂家 · 乙厂 ·
    press1（打单员）」; the owner without a role label. A missing id is the system."""
    ids = {user_id for user_id in user_ids if user_id}
    if not ids:
        return {}
    users = db.session.scalars(
        select(User)
        .where(User.id.in_(ids))
        .options(
            selectinload(User.merchant),
            selectinload(User.supplier),
            selectinload(User.owner).selectinload(User.merchant),
            selectinload(User.owner).selectinload(User.supplier),
        )
    )
    labels = {}
    for user in users:
        name = user.username
        if user.shop_role != SHOP_OWNER:
            name = f"{name}（{SHOP_ROLE_LABELS[user.shop_role]}）"
        if user.role in ROLE_LABELS:
            name = f"{ROLE_LABELS[user.role]} · {user.shop_name} · {name}"
        labels[user.id] = name
    return labels


def actor_label(labels: dict[int, str], user_id: int | None) -> str:
    return labels.get(user_id or 0) or _("系统")

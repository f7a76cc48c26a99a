"""Authorization-matrix entries for 子账号 (shop members), and the members every shop gets."""

from sqlalchemy import update

from portal.domain import staff
from portal.domain.permissions import ROLE_PERMISSIONS
from portal.extensions import db
from portal.models import Merchant, Supplier, User
from tests.authz_access import API_BOTH, BOTH
from tests.conftest import PASSWORD

MEMBER = {"member_id": "member"}
ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "account.staff_list": (BOTH, {}),
    "account.staff_create": (BOTH, {}),
    "account.staff_update": (BOTH, MEMBER),
    "account.staff_password": (BOTH, MEMBER),
    "api.staff_list": (API_BOTH, {}),
    "api.staff_create": (API_BOTH, {}),
    "api.staff_update": (API_BOTH, MEMBER),
}


def add_objects(merchant: Merchant, supplier: Supplier, order_no: str) -> dict[str, int | str]:
    """One member per staff role in both shops, ready to log in (first password changed)."""
    members = {}
    for profile in (merchant, supplier):
        owner = profile.user
        for role in ROLE_PERMISSIONS[owner.role]:
            member = staff.add_member(owner, f"{owner.username}_{role}", PASSWORD, role)
            members[f"{owner.role}.{role}"] = member.id
    db.session.execute(
        update(User).where(User.id.in_(members.values())).values(must_change_password=False)
    )
    db.session.commit()
    # The object the member routes act on: one of the merchant shop's members.
    return {**members, "member": members["merchant.operator"]}

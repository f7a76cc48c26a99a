"""Order upsert and allocation services on the platform sample export."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text

from portal.domain import allocation, bindings
from portal.domain.imports.platform_export import open_platform_export
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.extensions import db
from portal.models import Assignment, Merchant, Order, Supplier, User

SAMPLE = Path(__file__).parent / "data" / "pdd_orders_export_gbk.csv"


def _bound_pair(factory):
    m_user, s_user = factory.merchant(), factory.supplier()
    merchant = db.session.get(Merchant, m_user.merchant.id)
    supplier = db.session.get(Supplier, s_user.supplier.id)
    binding = bindings.apply_for_binding(merchant, s_user.shop_id)
    bindings.accept_binding(supplier, binding.id)
    db.session.commit()
    return merchant, supplier, db.session.get(User, m_user.id)


def _import(merchant):
    with SAMPLE.open("rb") as handle:
        return upsert_orders(current_keyring(), merchant, open_platform_export(handle, SAMPLE.name))


def test_import_sample_then_reimport_is_noop(app_ctx, factory):
    merchant, _supplier, _actor = _bound_pair(factory)
    first = _import(merchant)
    db.session.commit()
    assert first.created == 40 and first.rejected_count == 0
    second = _import(merchant)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 40)
    # no plaintext receiver data in the raw table
    raw = db.session.execute(text("SELECT * FROM orders")).all()
    dump = repr(raw)
    for plain in ("张伟", "13577446522", "石牌街道团结路887号", "阿卜杜热西提"):
        assert plain not in dump
    dongguan = db.session.scalar(select(Order).where(Order.order_no == "261119-726629807805700"))
    assert dongguan.address_complete and dongguan.district == ""
    assert dongguan.name_mask == "王**" and dongguan.detail_mask == "****"


def test_assign_batch_refuses_with_codes_and_cas(app_ctx, factory):
    merchant, supplier, actor = _bound_pair(factory)
    _import(merchant)
    db.session.commit()
    order_nos = db.session.scalars(select(Order.order_no).order_by(Order.id)).all()
    result = allocation.assign_orders(merchant, [*order_nos, "nope"], supplier, actor)
    db.session.commit()
    codes = {r.code for r in result.refused}
    assert {"after_sale", "audit_hold", "not_awaiting_shipment", "not_found"} <= codes
    assert len(result.done) + len(result.refused) == 41
    again = allocation.assign_orders(merchant, result.done, supplier, actor)
    assert again.done == [] and {r.code for r in again.refused} == {"already_assigned"}
    active = db.session.scalar(select(func.count()).select_from(Assignment))
    assert active == len(result.done)

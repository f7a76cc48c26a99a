"""Print jobs: blockers refuse exactly the blocked orders, PDFs, audit, sequential numbers."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from portal.domain import allocation, bindings
from portal.domain.errors import DomainError
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import upsert_orders
from portal.domain.printing.jobs import (
    confirm_print_job,
    create_print_job,
    render_print_job,
    sequential_numbers,
    void_print_job,
)
from portal.domain.supplier_orders import find_order_row
from portal.domain.tracking import TrackingItem, return_tracking
from portal.extensions import db
from portal.models import Merchant, Order, PrintRender, Supplier, User
from tests.factories import demo_order

NOS = [f"261121-00000000000000{i}" for i in range(1, 6)]


@pytest.fixture
def desk(app_ctx, factory):
    m_user, s_user = factory.merchant(), factory.supplier()
    merchant = db.session.get(Merchant, m_user.merchant.id)
    supplier = db.session.get(Supplier, s_user.supplier.id)
    bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, s_user.shop_id).id)
    orders = [
        demo_order(no, receiver_name=f"收件人{i}", receiver_phone=f"1390000000{i}")
        for i, no in enumerate(NOS, start=1)
    ]
    upsert_orders(current_keyring(), merchant, orders)
    actor = db.session.get(User, m_user.id)
    assert len(allocation.assign_orders(merchant, NOS, supplier, actor).done) == 5
    db.session.commit()
    return merchant, supplier, actor, orders


def _text(pdf: bytes) -> list[str]:
    """The labels' text (the first page is the job's cover)."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages[1:]]


def test_each_blocker_refuses_exactly_its_order(desk):
    merchant, supplier, _actor, orders = desk
    changed = [
        replace(orders[0], after_sale_status="退款中", after_sale_active=True),
        replace(orders[1], audit_hold=True),
        replace(orders[2], detail="新地址路 1 号"),  # address change after assignment
    ]
    upsert_orders(current_keyring(), merchant, changed)
    # after-sale and audit hold cancel the assignment automatically; the address change blocks
    result = create_print_job(supplier, NOS, "SF", "100x180", "", None)
    codes = {r.order_no: r.code for r in result.refused}
    assert codes == {
        NOS[0]: "assignment_cancelled",
        NOS[1]: "assignment_cancelled",
        NOS[2]: "address_changed",
    }
    assert result.printed == NOS[3:]
    labels = render_print_job(current_keyring(), supplier, result.job, None)
    assert labels.skipped == [] and len(_text(labels.pdf())) == 2


def test_blockers_do_not_apply_after_tracking_returned(desk):
    merchant, supplier, _actor, orders = desk
    return_tracking(supplier, [TrackingItem(NOS[0], "SF", "SF1234567890123")], None)
    upsert_orders(current_keyring(), merchant, [replace(orders[0], detail="改了地址 9 号")])
    result = create_print_job(supplier, [NOS[0]], "SF", "76x130", "", None)
    assert result.printed == [NOS[0]] and result.refused == []
    pages = _text(render_print_job(current_keyring(), supplier, result.job, None).pdf())
    assert "SF1234567890123" in pages[0]


def test_pdf_content_full_by_default_private_when_chosen(desk):
    """A self-printed label carries what a courier needs; 隐私面单 only when the merchant asks."""
    merchant, supplier, _actor, _orders = desk
    assert merchant.label_style == "full"  # a new merchant's default
    result = create_print_job(supplier, NOS[:2], "ZTO", "100x180", "", None)
    pages = _text(render_print_job(current_keyring(), supplier, result.job, None).pdf())
    assert len(pages) == 2
    assert "收件人1" in pages[0] and "13900000001" in pages[0]
    assert "石牌街道团结路887号" in pages[0] and "广州市" in pages[0] and NOS[0] in pages[0]
    merchant.label_style = "private"
    db.session.flush()
    pages = _text(render_print_job(current_keyring(), supplier, result.job, None).pdf())
    assert "收**" in pages[0] and "139****0001" in pages[0]
    assert "收件人1" not in pages[0] and "13900000001" not in pages[0]


def test_every_render_is_recorded_and_counted(desk):
    _merchant, supplier, _actor, _orders = desk
    result = create_print_job(supplier, NOS[:3], "SF", "100x180", "", None)
    for _ in range(3):
        render_print_job(current_keyring(), supplier, result.job, None)
    counts = db.session.scalars(select(Order.print_count).where(Order.order_no.in_(NOS[:3]))).all()
    assert counts == [3, 3, 3]
    assert db.session.scalar(select(func.count()).select_from(PrintRender)) == 3
    assert result.job.render_count == 3


def test_sequential_numbers_confirm_and_void(desk):
    _merchant, supplier, _actor, _orders = desk
    assert sequential_numbers("sf0000000000099", 3) == [
        "SF0000000000099",
        "SF0000000000100",
        "SF0000000000101",
    ]
    with pytest.raises(DomainError):
        sequential_numbers("SF99999999", 2)  # would overflow the width
    job = create_print_job(supplier, NOS[:3], "SF", "100x180", "SF1000000000001", None).job
    pages = _text(render_print_job(current_keyring(), supplier, job, None).pdf())
    assert ["SF1000000000001" in pages[0], "SF1000000000003" in pages[2]] == [True, True]
    stages = set(db.session.scalars(select(Order.stage).where(Order.order_no.in_(NOS[:3]))))
    assert stages == {"assigned"}  # nothing returned before confirmation
    result = confirm_print_job(supplier, job, None)
    assert result.returned == NOS[:3]
    numbers = db.session.scalars(
        select(Order.tracking_no).where(Order.order_no.in_(NOS[:3])).order_by(Order.order_no)
    ).all()
    assert numbers == ["SF1000000000001", "SF1000000000002", "SF1000000000003"]
    with pytest.raises(DomainError):
        void_print_job(job)  # already confirmed
    # a second job may not reuse numbers already returned
    with pytest.raises(DomainError) as excinfo:
        create_print_job(supplier, NOS[3:], "SF", "100x180", "SF1000000000003", None)
    assert excinfo.value.code == "duplicate_tracking_no"
    other = create_print_job(supplier, NOS[3:], "SF", "100x180", "SF2000000000001", None).job
    void_print_job(other)
    with pytest.raises(DomainError):
        render_print_job(current_keyring(), supplier, other, None)
    assert set(db.session.scalars(select(Order.stage).where(Order.order_no.in_(NOS[3:])))) == {
        "assigned"
    }


def test_unknown_courier_and_size(desk):
    _merchant, supplier, _actor, _orders = desk
    with pytest.raises(DomainError):
        create_print_job(supplier, NOS, "火星", "100x180", "", None)
    with pytest.raises(DomainError):
        create_print_job(supplier, NOS, "SF", "A4", "", None)


def test_private_labels_mask_names_and_phones_in_the_buyer_note(desk):
    merchant, supplier, _actor, orders = desk
    note = "请联系欧阳娜娜 13598761234，或者找收件人1"
    upsert_orders(current_keyring(), merchant, [replace(orders[0], buyer_note=note)])
    merchant.label_style = "private"
    result = create_print_job(supplier, [NOS[0]], "SF", "100x180", "", None)
    page = _text(render_print_job(current_keyring(), supplier, result.job, None).pdf())[0]
    flat = page.replace("\n", "").replace(" ", "")
    assert "欧阳娜娜" not in flat and "13598761234" not in flat and "收件人1" not in flat
    assert "请联系欧**135****1234" in flat and "找收**" in flat
    merchant.label_style = "full"
    db.session.flush()
    page = _text(render_print_job(current_keyring(), supplier, result.job, None).pdf())[0]
    flat = page.replace("\n", "").replace(" ", "")
    assert "欧阳娜娜13598761234" in flat  # full labels print the note as written


def test_an_ended_binding_ends_printing_and_receiver_data(desk):
    merchant, supplier, _actor, _orders = desk
    # returned but not dispatched: the order stays with the factory after the binding ends
    return_tracking(supplier, [TrackingItem(NOS[0], "SF", "SF1234567890123")], None)
    job = create_print_job(supplier, NOS[:2], "SF", "100x180", "", None).job
    [binding] = bindings.bindings_for_merchant(merchant, "active")
    bindings.end_binding(binding, "merchant")
    db.session.flush()
    refused = create_print_job(supplier, [NOS[0]], "SF", "100x180", "", None)
    assert refused.job is None
    assert [(r.order_no, r.code) for r in refused.refused] == [(NOS[0], "not_bound")]
    with pytest.raises(DomainError) as excinfo:
        render_print_job(current_keyring(), supplier, job, None)
    assert excinfo.value.code == "nothing_printable"
    row = find_order_row(supplier, NOS[0])
    assert row.tracking_no == "SF1234567890123" and not row.bound
    assert (row.name_mask, row.phone_mask, row.detail_mask, row.receiver_key) == ("", "", "", "")
    assert (row.province, row.city, row.district, row.buyer_note) == ("", "", "", "")
    # bound again: the factory sees the masks again
    bindings.accept_binding(supplier, bindings.apply_for_binding(merchant, _shop_id(supplier)).id)
    row = find_order_row(supplier, NOS[0])
    assert row.bound and row.name_mask == "收**" and row.province


def _shop_id(supplier: Supplier) -> str:
    return db.session.get(User, supplier.user_id).shop_id

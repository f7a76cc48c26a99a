"""JSON shapes of API objects — one function per object, used by every endpoint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import url_for

from portal.domain.allocation import Refusal
from portal.domain.couriers import TrackingWarning
from portal.domain.errors import message_for
from portal.domain.orders.inputs import OrderRejection
from portal.domain.orders.lines import GoodsLine, first_line
from portal.domain.orders.queries import Receiver
from portal.domain.orders.rules import address_changed_since_print, assign_blockers, print_blockers
from portal.domain.orders.upsert import UpsertResult
from portal.domain.permissions import permissions_for
from portal.domain.printing.jobs import PrintJobResult
from portal.domain.tracking import ParcelMates, TrackingRefusal, TrackingResult
from portal.models import Binding, Merchant, PrintJob, ReturnAddress, Supplier, User
from portal.models.printing import SLIPS_SEPARATE


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def shop_ref(profile: Merchant | Supplier) -> dict[str, str]:
    return {"shop_id": profile.shop_id, "shop_name": profile.shop_name}


def me(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role,
        "shop_id": user.shop_code,
        "shop_name": user.shop_name,
        "shop_role": user.shop_role,
        "permissions": sorted(permissions_for(user)),
    }


def staff_member(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.shop_role,
        "active": user.active,
    }


def binding(item: Binding) -> dict[str, Any]:
    return {
        "id": item.id,
        "status": item.status,
        "message": item.message,
        "merchant": shop_ref(item.merchant),
        "supplier": shop_ref(item.supplier),
        "created_at": iso(item.created_at),
        "decided_at": iso(item.decided_at),
        "ended_at": iso(item.ended_at),
        "ended_by": item.ended_by,
    }


def return_address(item: ReturnAddress) -> dict[str, Any]:
    return {
        "id": item.id,
        "contact_name": item.contact_name,
        "phone": item.phone,
        "province": item.province,
        "city": item.city,
        "district": item.district,
        "detail": item.detail,
        "is_default": item.is_default,
    }


def refusal(item: Refusal) -> dict[str, str]:
    """A per-order refusal of a batch action: its stable code and the code's message."""
    return {"order_no": item.order_no, "code": item.code, "message": message_for(item.code)}


def upsert_result(
    result: UpsertResult, input_rejections: Iterable[OrderRejection] = ()
) -> dict[str, Any]:
    """Counts of an upsert; orders refused before it (bad JSON fields) are listed first."""
    answer = result.as_dict()
    refused = [item.as_dict() for item in input_rejections]
    answer["rejected"] = [*refused, *answer["rejected"]]
    answer["rejected_count"] = result.rejected_count + len(refused)
    return answer


def order(
    item: Any,
    receiver: Receiver,
    tracking: Iterable[tuple[str, str]] = (),
    lines: Sequence[GoodsLine] | None = None,
    mates: ParcelMates | None = None,
    supplier: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An order (an Order, or a row of its columns) as the owning merchant sees it, with its
    supplier's shop_ref, the plain receiver (DESIGN §8.2), its
    goods lines (line 1 from the order row unless given), its returned tracking numbers,
    primary first, and the other orders in its parcel."""
    return {
        "order_no": item.order_no,
        "platform_status": item.platform_status,
        "platform_status_text": item.platform_status_text,
        "after_sale_active": item.after_sale_active,
        "after_sale_status": item.after_sale_status,
        "audit_hold": item.audit_hold,
        "paid_at": iso(item.paid_at),
        "promise_ship_at": iso(item.promise_ship_at),
        "buyer_note": item.buyer_note,
        "merchant_note": item.merchant_note,
        "receiver": {
            "name": receiver.name,
            "phone": receiver.phone,
            "province": item.province,
            "city": item.city,
            "district": item.district,
            # The whole line after the district is stored as one (the platform's 街道).
            "street": "",
            "detail": receiver.detail,
        },
        "lines": [line.as_api() for line in lines or [first_line(item)]],
        "goods_total_fen": item.goods_total_fen,
        "paid_fen": item.paid_fen,
        "merchant_received_fen": item.merchant_received_fen,
        "stage": item.stage,
        "supplier": supplier,
        "tracking": tracking_refs(tracking),
        "parcel_mates": (
            {"count": mates.count, "order_nos": list(mates.order_nos)} if mates else None
        ),
        "assign_blockers": assign_blockers(item),
        "print_blockers": print_blockers(item),
        "address_change_pending": item.address_change_pending,
        "region_unverified": item.region_unverified,
        "note": item.factory_note,
        "flag": item.flag,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }


# --- supplier side: masked orders, print jobs, tracking results (DESIGN §5, §6) ----------------

TRACKING_FORMAT_WARNING = "tracking_format_mismatch"


def tracking_refs(numbers: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"courier": courier, "tracking_no": number} for courier, number in numbers]


def supplier_order(
    row: Any,
    tracking: Iterable[tuple[str, str]],
    *,
    cancelled: bool = False,
    lines: Sequence[GoodsLine] | None = None,
) -> dict[str, Any]:
    """An order as its supplier sees it: a masked row (never ciphertext, never the buyer's note).

    `row` carries supplier_orders.MASKED_COLUMNS plus merchant_shop_id; a row of the cancelled
    tab also carries cancel_reason, cancelled_at and assignment_assigned_at, and is shown as
    stage "cancelled" — what happened to the order afterwards belongs to others.
    """
    answer = {
        "order_no": row.order_no,
        "merchant": {"shop_id": row.merchant_shop_id or "", "shop_name": row.merchant_name},
        "platform_status": row.platform_status,
        "after_sale_active": row.after_sale_active,
        "audit_hold": row.audit_hold,
        "address_change_pending": row.address_change_pending,
        "address_changed": not cancelled and address_changed_since_print(row),
        "note": row.factory_note_mask,
        "stage": "cancelled" if cancelled else row.stage,
        "paid_at": iso(row.paid_at),
        "promise_ship_at": iso(row.promise_ship_at),
        "assigned_at": iso(row.assignment_assigned_at if cancelled else row.assigned_at),
        "lines": [line.as_api() for line in lines or [first_line(row)]],
        "receiver": {
            "name": row.name_mask,
            "phone": row.phone_mask,
            "province": row.province,
            "city": row.city,
            "district": row.district,
            "detail": row.detail_mask or "****",
        },
        "receiver_key": row.receiver_key,
        "print_count": row.print_count,
        "last_printed_at": iso(row.last_printed_at),
        "tracking": [] if cancelled else tracking_refs(tracking),
        "print_blockers": ["assignment_cancelled"] if cancelled else print_blockers(row),
    }
    if cancelled:
        answer["cancel_reason"] = row.cancel_reason
        answer["cancelled_at"] = iso(row.cancelled_at)
    return answer


def print_job(
    job: PrintJob, lines: Iterable[Any], tracking: Mapping[int, list[tuple[str, str]]]
) -> dict[str, Any]:
    """A print job with its orders in print order. `lines` are supplier_orders.print_job_rows
    (seq, job_tracking_no, id, order_no, stage, is_current …); an order no longer with the
    supplier shows as cancelled."""
    return {
        "id": job.id,
        "status": job.status,
        "courier": job.courier,
        "label_size": job.label_size,
        "start_tracking_no": job.start_tracking_no,
        "print_order": job.print_order,
        "packing_slips": job.packing_slips,
        "merge_parcels": job.merge_parcels,
        "order_count": job.order_count,
        "render_count": job.render_count,
        "created_at": iso(job.created_at),
        "decided_at": iso(job.decided_at),
        "pdf_url": url_for("api.supplier.print_job_pdf", job_id=job.id),
        "slips_url": (
            url_for("api.supplier.print_job_slips", job_id=job.id)
            if job.packing_slips == SLIPS_SEPARATE
            else None
        ),
        "pick_list_url": url_for("api.supplier.print_job_pick_list", job_id=job.id),
        "orders": [
            {
                "seq": line.seq,
                "order_no": line.order_no,
                "stage": line.stage if line.is_current else "cancelled",
                "job_tracking_no": line.job_tracking_no,
                "tracking": tracking_refs(tracking.get(line.id, [])),
            }
            for line in lines
        ],
    }


def print_job_created(result: PrintJobResult) -> dict[str, Any]:
    """The answer to a new print job; with nothing printable, no job and every refusal."""
    job = result.job
    return {
        "id": job.id if job else None,
        "status": job.status if job else None,
        "printed": result.printed,
        "refused": [refusal(item) for item in result.refused],  # same shape as Refusal
        "pdf_url": url_for("api.supplier.print_job_pdf", job_id=job.id) if job else None,
    }


def tracking_result(
    result: TrackingResult, row_messages: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """Per-item answer of a tracking return. A file row refused by the reader keeps the reader's
    own message (`row_messages`, by row number); every other refusal the code's message."""
    row_messages = row_messages or {}

    def refused(item: TrackingRefusal) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "order_no": item.order_no,
            "code": item.code,
            "message": (item.row is not None and row_messages.get(item.row))
            or message_for(item.code),
        }
        if item.row is not None:
            answer["row"] = item.row
        if item.tracking_no:
            answer["tracking_no"] = item.tracking_no
        return answer

    def warned(item: TrackingWarning) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "order_no": item.order_no,
            "tracking_no": item.tracking_no,
            "courier": item.courier,
            "code": TRACKING_FORMAT_WARNING,
            "message": item.message,
        }
        if item.row is not None:
            answer["row"] = item.row
        return answer

    return {
        "returned": result.returned,
        "refused": [refused(item) for item in result.refused],
        "warnings": [warned(item) for item in result.warnings],
    }

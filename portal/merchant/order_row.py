"""One order on the merchant desk (the list calls it per row; an action on one order and the
drawer's out-of-band refresh render it alone). `d` holds what every row shares, built once per
page (orders.row_context): words, URL templates, the default return address, permissions.
Rendered in Python for speed: see portal/web/rows.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from portal.web.rows import Markup, deadline_cell, escape, flag_mark, goods_cell, hx_vals
from portal.web.rows import local_time as when

if TYPE_CHECKING:
    from portal.merchant.orders import OrderRow


def merchant_order_row(row: OrderRow, d: Mapping[str, Any], oob_row: bool = False) -> Markup:
    o = row.order
    t = d["text"]
    order_no = escape(o.order_no)
    detail_url = escape(d["detail_url"](o.order_no))
    classes = f' class="row-{row.deadline}"' if row.deadline else ""
    oob = ' hx-swap-oob="true"' if oob_row else ""
    paid = (
        f'<div class="muted nowrap">{escape(t["paid"])} {escape(when(o.paid_at))}</div>'
        if o.paid_at
        else ""
    )
    receiver = row.receiver
    return Markup(
        f'<tr id="row-{o.id}"{classes}{oob}>'
        f'<td class="check"><input type="checkbox" name="order_no" value="{order_no}" '
        f'data-select-row aria-label="{escape(t["select_order"] % {"no": o.order_no})}">'
        f'<input type="hidden" name="seen" value="{escape(row.version)}"></td>'
        f'<td><a class="mono nowrap" href="{detail_url}" hx-get="{detail_url}" '
        f'hx-target="#order-drawer" hx-swap="innerHTML">{order_no}</a>'
        f"{flag_mark(o.flag, d['flag_labels'])}{paid}</td>"
        f"<td>{goods_cell(row.lines)}</td>"
        f'<td><div class="nowrap">{escape(receiver.name)}</div>'
        f'<div class="mono muted nowrap">{escape(receiver.phone)}</div></td>'
        f'<td><span class="nowrap">{escape(o.province)}</span> '
        f'<span class="nowrap">{escape(o.city)}</span> '
        f'<span class="nowrap">{escape(o.district)}</span></td>'
        f"<td>{_platform_cell(o, t, d)}</td>"
        f"<td>{_progress_cell(row, t, d)}</td>"
        f"{deadline_cell(o.promise_ship_at, row.deadline, t)}"
        f'<td class="actions">{_actions(row, t, d)}</td>'
        "</tr>"
    )


def _platform_cell(o: Any, t: Mapping[str, str], d: Mapping[str, Any]) -> str:
    if o.stage == "dispatched" and o.platform_status == "awaiting_shipment":
        # Dispatched here, not yet on the platform: until an import shows the platform's 已发货.
        out = [
            f'<span class="badge badge-warning" title="{escape(t["platform_pending_hint"])}">'
            f"{escape(t['platform_pending'])}</span>"
        ]
    else:
        tone = d["platform_tones"].get(o.platform_status, "muted")
        label = o.platform_status_text or d["platform_labels"].get(
            o.platform_status, o.platform_status
        )
        out = [f'<span class="badge badge-{tone}">{escape(label)}</span>']
    if o.after_sale_active:
        out.append(
            f'<span class="badge badge-danger" title="{escape(o.after_sale_status)}">'
            f"{escape(t['after_sale'])}</span>"
        )
    if o.audit_hold:
        out.append(f'<span class="badge badge-danger">{escape(t["audit_hold"])}</span>')
    if o.address_change_pending:
        out.append(f'<span class="badge badge-warning">{escape(t["address_changed"])}</span>')
    if not o.address_complete:
        out.append(f'<span class="badge badge-warning">{escape(t["address_incomplete"])}</span>')
    if o.region_unverified:
        out.append(
            f'<span class="badge badge-muted" title="{escape(t["region_unverified_hint"])}" '
            f"data-region-unverified>{escape(t['region_unverified'])}</span>"
        )
    return " ".join(out)


def _progress_cell(row: OrderRow, t: Mapping[str, str], d: Mapping[str, Any]) -> str:
    o = row.order
    tone = d["stage_tones"].get(o.stage, "muted")
    out = [
        f'<span class="badge badge-{tone}">{escape(d["stage_labels"].get(o.stage, o.stage))}</span>'
    ]
    if o.supplier_name:
        out.append(f'<div class="muted nowrap">{escape(o.supplier_name)}</div>')
    if row.tracking:
        primary = row.tracking[0]
        out.append(
            f'<div class="tracking-no nowrap">{escape(primary.courier_name)} '
            f'<span class="mono">{escape(primary.tracking_no)}</span></div>'
        )
        if row.parcel:
            mates = "、".join(row.parcel.order_nos)
            if row.parcel.count > len(row.parcel.order_nos):
                title = t["merged_parcel_title_more"] % {"nos": mates, "n": row.parcel.count}
            else:
                title = t["merged_parcel_title"] % {"nos": mates}
            badge = t["merged_parcel"] % {"n": row.parcel.count + 1}
            out.append(
                f'<div><span class="badge badge-info" data-merged-parcel title="{escape(title)}">'
                f"{escape(badge)}</span></div>"
            )
        if len(row.tracking) > 1:
            more = t["more_tracking"] % {"n": len(row.tracking) - 1}
            items = "".join(
                "<li>"
                + (f"{escape(tn.courier_name)} " if tn.courier != primary.courier else "")
                + f'<span class="mono">{escape(tn.tracking_no)}</span></li>'
                for tn in row.tracking[1:]
            )
            out.append(
                f'<details class="tracking-extra"><summary>{escape(more)}</summary>'
                f'<ul class="tracking-list">{items}</ul></details>'
            )
    elif o.stage == "assigned":
        if o.print_count:
            state = (
                f"{escape(t['printed_times'] % {'n': o.print_count})} · "
                f"{escape(when(o.last_printed_at, '%m-%d %H:%M'))}"
            )
        else:
            state = f'<span class="muted">{escape(t["not_printed"])}</span>'
        out.append(f'<div class="print-state nowrap">{state}</div>')
    if o.stage == "dispatched":
        out.append(
            f'<div class="dispatch-info nowrap">{escape(t["dispatched"])} '
            f"{escape(when(o.dispatched_at))}</div>"
        )
        ra = row.return_address
        if ra:
            out.append(
                f'<div class="dispatch-address muted" '
                f'title="{escape(ra.contact_name)} {escape(ra.phone)} {escape(ra.full_address)}">'
                f"{escape(t['return_address'])}：{escape(ra.contact_name)} "
                f"{escape(ra.full_address)}</div>"
            )
    return "".join(out)


def _actions(row: OrderRow, t: Mapping[str, str], d: Mapping[str, Any]) -> str:
    o = row.order
    may = d["may"]
    out = []
    if o.address_change_pending and may["acknowledge"]:
        out.append(
            f'<button type="button" class="btn btn-sm" '
            f'hx-post="{escape(d["acknowledge_url"](o.order_no))}" hx-target="#row-{o.id}" '
            f'hx-swap="outerHTML">{escape(t["acknowledge"])}</button>'
        )
    if o.stage == "assigned" and may["cancel"]:
        out.append(
            f'<button type="button" class="btn btn-sm" hx-post="{escape(d["cancel_url"])}" '
            f"hx-vals='{hx_vals({'order_no': o.order_no})}' hx-include=\"#order-state\" "
            f'hx-target="#order-list" hx-swap="outerHTML" '
            f'hx-confirm="{escape(t["cancel_confirm"] % {"no": o.order_no})}">'
            f"{escape(t['cancel'])}</button>"
        )
    if row.can_dispatch and may["dispatch"]:
        if d["default_address"]:
            # A held order asks first and then sends the confirmation along. A batch of one:
            # the list answers, so the row leaves 已回传 at once and the panel offers the
            # platform's file.
            confirm = row.dispatch_confirm
            values = (
                {"order_no": o.order_no, "confirm_holds": "1"}
                if confirm
                else {"order_no": o.order_no}
            )
            ask = f' hx-confirm="{escape(confirm)}"' if confirm else ""
            out.append(
                f'<button type="button" class="btn btn-primary btn-sm" '
                f"hx-post=\"{escape(d['dispatch_batch_url'])}\" hx-vals='{hx_vals(values)}' "
                f'hx-include="#order-state" hx-target="#order-list" hx-swap="outerHTML"{ask} '
                f'title="{escape(d["dispatch_title"])}">{escape(t["dispatch"])}</button>'
            )
        else:
            out.append(
                f'<a class="btn btn-sm" href="{escape(d["addresses_url"])}">'
                f"{escape(t['add_return_address'])}</a>"
            )
    return " ".join(out)

"""One order on the factory desk: masked receiver only. Cancelled assignments say 请勿发货 and
nothing of the order's present state. `d` holds what every row shares, built once per page
(desk._row_context: words, courier options, the CSRF token, permissions). The list calls it
per row; an action on one order renders it alone. Rendered in Python for speed: see
portal/web/rows.py."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _

from portal.domain.couriers import COURIERS
from portal.web.rows import Markup, deadline_cell, escape, goods_cell
from portal.web.rows import local_time as when

if TYPE_CHECKING:
    from portal.supplier.desk import DeskRow


def supplier_order_row(row: DeskRow, d: Mapping[str, Any]) -> Markup:
    o = row.order
    text = d["text"]
    order_no = escape(o.order_no)
    receiver = (
        f'<div class="nowrap">{escape(o.name_mask)} '
        f'<span class="mono muted">{escape(o.phone_mask)}</span></div>'
        f'<div class="muted"><span class="nowrap">{escape(o.province)}</span> '
        f'<span class="nowrap">{escape(o.city)}</span> '
        f'<span class="nowrap">{escape(o.district)}</span> {escape(o.detail_mask)}</div>'
    )
    error = f'<div class="error" role="alert">{escape(row.error)}</div>' if row.error else ""
    if row.cancelled:
        reason = text["cancel_reason"] % {"reason": row.cancel_reason or text["unstated"]}
        cancelled_at = (
            f'<div class="muted nowrap">{escape(text["cancelled_at"])} '
            f"{escape(when(o.cancelled_at))}</div>"
            if o.cancelled_at
            else ""
        )
        return Markup(
            f'<tr id="cancelled-{o.assignment_id}" class="row-danger row-cancelled">'
            '<td class="check"></td>'
            f'<td><span class="mono nowrap">{order_no}</span>'
            f'<div class="muted nowrap">{escape(o.merchant_name)}</div></td>'
            f"<td>{goods_cell(row.lines)}</td>"
            f"<td>{receiver}</td>"
            f'<td><span class="badge badge-danger do-not-ship">{escape(text["do_not_ship"])}</span>'
            f'<div class="cancel-reason">{escape(reason)}</div>{cancelled_at}</td>'
            f'<td class="nowrap">{escape(when(o.promise_ship_at))}</td>'
            f"<td>{error}</td></tr>"
        )
    classes = f' class="row-{row.deadline}"' if row.deadline else ""
    check = (
        f'<input type="checkbox" name="order_no" value="{escape(o.merchant_shop_id)}:{order_no}" '
        f'data-select-row aria-label="{escape(text["select_order"] % {"no": o.order_no})}">'
        if row.printable
        else ""
    )
    assigned = (
        f'<div class="muted nowrap">{escape(text["assigned_at"])} '
        f"{escape(when(o.assigned_at))}</div>"
        if o.assigned_at
        else ""
    )
    note = (
        f'<div class="factory-note" title="{escape(text["merchant_note"])}">'
        f"{escape(text['merchant_note'])}：{escape(o.factory_note_mask)}</div>"
        if o.factory_note_mask
        else ""
    )
    group = ""
    if row.group_size > 1:
        group_url = escape(d["group_urls"][row.tab](o.receiver_key))
        group = (
            f'<a class="badge badge-info receiver-group" href="{group_url}" hx-get="{group_url}" '
            f'hx-target="#order-desk" hx-swap="outerHTML" hx-push-url="true" '
            f'title="{escape(text["group_hint"])}">'
            f"{escape(text['same_receiver'] % {'n': row.group_size})}</a>"
        )
    return Markup(
        f'<tr id="row-{o.id}"{classes}><td class="check">{check}</td>'
        f'<td><span class="mono nowrap">{order_no}</span>'
        f'<div class="muted nowrap">{escape(o.merchant_name)}</div>{assigned}</td>'
        f"<td>{goods_cell(row.lines, row.line_codes, text['supplier_code'])}</td>"
        f"<td>{receiver}{note}{group}</td>"
        f"<td>{_state_cell(row, text, d)}</td>"
        f"{deadline_cell(o.promise_ship_at, row.deadline, text)}"
        f'<td class="tracking-cell">{_tracking_cell(row, text, d)}</td></tr>'
    )


def _state_cell(row: DeskRow, text: Mapping[str, str], d: Mapping[str, Any]) -> str:
    o = row.order
    out = [
        f'<span class="badge badge-{d["tab_tones"].get(row.tab, "muted")}">'
        f"{escape(d['tab_labels'][row.tab])}</span>"
    ]
    out.extend(
        f'<span class="badge badge-danger print-blocker">{escape(label)}</span>'
        for label in row.blockers
    )
    if row.address_changed:
        out.append(
            f'<span class="badge badge-warning address-changed" '
            f'title="{escape(text["address_changed_hint"])}">{escape(text["address_changed"])}'
            "</span>"
        )
    if o.print_count:
        printed = escape(text["printed_times"] % {"n": o.print_count})
        at = f" · {escape(when(o.last_printed_at))}" if o.last_printed_at else ""
        out.append(f'<div class="muted nowrap">{printed}{at}</div>')
    return "".join(out)


def _tracking_cell(row: DeskRow, text: Mapping[str, str], d: Mapping[str, Any]) -> str:
    o = row.order
    out = [
        f'<div class="nowrap">{escape(courier)} <span class="mono tracking-no">{escape(number)}'
        "</span></div>"
        for courier, number in row.numbers
    ]
    out.extend(f'<div class="warning" role="status">{escape(w)}</div>' for w in row.warnings)
    if row.error:
        out.append(f'<div class="error" role="alert">{escape(row.error)}</div>')
    if not d["may"]["tracking_return"]:
        return "".join(out)
    hidden = (
        f'<input type="hidden" name="csrf_token" value="{escape(d["csrf"])}">'
        f'<input type="hidden" name="merchant_shop_id" value="{escape(o.merchant_shop_id)}">'
    )
    courier_word, number_word = escape(text["courier"]), escape(text["tracking_no"])
    if o.stage == "assigned":
        url = escape(d["return_url"](o.order_no))
        entry = row.entry
        options = courier_options(entry.courier)
        invalid = ' aria-invalid="true"' if row.error else ""
        out.append(
            f'<form class="tracking-form" method="post" action="{url}" hx-post="{url}" '
            f'hx-target="#row-{o.id}" hx-swap="outerHTML">{hidden}'
            f'<label class="sr-only" for="courier-{o.id}">{courier_word}</label>'
            f'<select id="courier-{o.id}" name="courier"><option value="">{courier_word}</option>'
            f"{options}</select>"
            f'<label class="sr-only" for="tracking-{o.id}">{number_word}</label>'
            f'<input type="text" id="tracking-{o.id}" name="tracking_no" '
            f'value="{escape(entry.tracking_no)}" maxlength="64" autocomplete="off" '
            f'placeholder="{number_word}"{invalid}>'
            f'<label class="sr-only" for="extra-{o.id}">{escape(text["extra_nos"])}</label>'
            f'<input type="text" id="extra-{o.id}" name="extra_tracking_nos" '
            f'value="{escape(entry.extra)}" maxlength="1000" autocomplete="off" '
            f'placeholder="{escape(text["extra_hint"])}">'
            f'<button type="submit" class="btn btn-sm btn-primary">{escape(text["return"])}'
            "</button></form>"
        )
    elif o.stage == "returned":
        url = escape(d["cancel_return_url"](o.order_no))
        confirm = escape(text["cancel_return_confirm"] % {"no": o.order_no})
        out.append(
            f'<form class="tracking-form" method="post" action="{url}" hx-post="{url}" '
            f'hx-target="#row-{o.id}" hx-swap="outerHTML" hx-confirm="{confirm}">{hidden}'
            f'<button type="submit" class="btn btn-sm">{escape(text["cancel_return"])}</button>'
            "</form>"
        )
    elif o.stage == "dispatched" and row.correctable:
        url = escape(d["correct_url"](o.order_no))
        options = courier_options(o.courier)
        left = _("还可修改 %(n)d 次", n=row.corrections_left)
        out.append(
            f'<details class="tracking-correct"{" open" if row.error else ""}>'
            f'<summary class="btn-link">{escape(text["correct"])}</summary>'
            f'<form class="tracking-form" method="post" action="{url}" hx-post="{url}" '
            f'hx-target="#row-{o.id}" hx-swap="outerHTML">{hidden}'
            f'<label class="sr-only" for="correct-courier-{o.id}">{courier_word}</label>'
            f'<select id="correct-courier-{o.id}" name="courier">{options}</select>'
            f'<label class="sr-only" for="correct-tracking-{o.id}">{number_word}</label>'
            f'<input type="text" id="correct-tracking-{o.id}" name="tracking_no" maxlength="64" '
            f'autocomplete="off" placeholder="{number_word}" required>'
            f'<button type="submit" class="btn btn-sm btn-primary">{escape(text["save"])}</button>'
            f'<div class="hint">{escape(text["correct_hint"])} · {escape(left)}</div>'
            "</form></details>"
        )
    return "".join(out)


@lru_cache(maxsize=64)
def courier_options(selected: str = "") -> Markup:
    """The couriers as <option>s, `selected` chosen: made once per process and courier."""
    return Markup(
        "".join(
            f'<option value="{escape(c.code)}"{" selected" if c.code == selected else ""}>'
            f"{escape(c.name)}</option>"
            for c in COURIERS
        )
    )

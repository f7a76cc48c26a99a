"""What the rows of both order desks share, rendered in Python.

A desk page shows 50 rows. Through Jinja each row cost 0.1–0.25 ms — an attribute lookup,
an escape and often a call per expression, about 60 of them a row — and the rows were most of
the page's time (BENCHMARKS.md, issue 15). Each role's row is a function that builds its HTML
from these pieces, with every value through `escape`, its words translated once per process
and its URLs built once per page (the `d` each role's row context builds). The list
templates call the role's row function (`merchant_order_row`, `supplier_order_row` template
globals) once per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from portal.domain.formatting import local_time
from portal.domain.orders.lines import GoodsLine

__all__ = ["Markup", "deadline_cell", "escape", "flag_mark", "goods_cell", "hx_vals", "local_time"]


def escape(value: object) -> str:
    """markupsafe.escape for the rows' f-strings: the same entities, as a plain str. A page
    escapes ~1 500 values; markupsafe makes a Markup of each first, this only for values that
    are markup already (which pass unchanged)."""
    if type(value) is not str:
        if hasattr(value, "__html__"):
            return value.__html__()  # type: ignore[no-any-return]
        value = str(value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def goods_cell(lines: Sequence[GoodsLine], codes: Sequence[str] = (), code_label: str = "") -> str:
    """The goods cell of both desks: one line per item (DESIGN §10.2), compact when there are
    several — a count on top, then 商品 规格 ×数量 · 编码 per line. `codes` gives the factory's
    own code per line (厂家编码), `code_label` its word."""
    out = []
    if len(lines) > 1:
        count = _("%(n)d 种商品，共 %(q)d 件", n=len(lines), q=sum(line.quantity for line in lines))
        out.append(
            f'<div class="goods-count muted nowrap" data-lines="{len(lines)}">{escape(count)}</div>'
        )
    label = escape(code_label)
    for index, line in enumerate(lines):
        sku = (
            f' · <span class="mono nowrap">{escape(line.sku_code)}</span>' if line.sku_code else ""
        )
        code = codes[index] if index < len(codes) else ""
        own = (
            f' · <span class="mono nowrap supplier-code" title="{label}">{label} {escape(code)}'
            "</span>"
            if code
            else ""
        )
        out.append(
            f'<div class="goods-line"><div>{escape(line.goods_name)}</div>'
            f'<div class="muted">{escape(line.spec)} × {line.quantity}{sku}{own}</div></div>'
        )
    return "".join(out)


def flag_mark(flag: int, flag_labels: Sequence[tuple[int, Any]]) -> str:
    """The row's flag (⚑ in its colour), nothing for grey."""
    if not flag:
        return ""
    return (
        f'<span class="flag-mark flag-{int(flag)}" title="{escape(flag_labels[flag][1])}" '
        f'data-flag="{int(flag)}">⚑</span>'
    )


def deadline_cell(promise_ship_at: datetime | None, deadline: str, text: Mapping[str, str]) -> str:
    """承诺发货时间 with the 已超时 / 即将超时 badge of both desks."""
    badge = ""
    if deadline == "danger":
        badge = f'<div><span class="badge badge-danger">{escape(text["overdue"])}</span></div>'
    elif deadline == "warn":
        badge = f'<div><span class="badge badge-warning">{escape(text["due_soon"])}</span></div>'
    return f'<td class="nowrap">{escape(local_time(promise_ship_at))}{badge}</td>'


def hx_vals(values: Mapping[str, str]) -> str:
    """An hx-vals attribute value (single-quoted in the row), as the `tojson` filter writes it."""
    return htmlsafe_json_dumps(values, dumps=current_app.json.dumps)

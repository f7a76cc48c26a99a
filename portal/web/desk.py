"""One order desk for both roles: tabs, filters, selection, pagination and batch outcomes.

The merchant desk (订单) and the factory desk (代发订单) are the same desk with different
columns, actions and masks. What they share lives here and in `templates/_macros/desk.html`;
each role's module keeps only its filters, its rows and its actions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

from flask import Response, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select

from portal.domain.errors import message_for
from portal.extensions import db, htmx
from portal.web.args import date_arg, text_arg
from portal.web.htmx import is_targeted_htmx, no_swap, notify, render, with_trigger

PER_PAGE = 50
# A batch over thousands of orders may refuse thousands: the panel lists the first ones.
MAX_SHOWN_REFUSALS = 200
# htmx event that makes the tab counts fetch themselves again.
ORDERS_CHANGED = "ordersChanged"

F = TypeVar("F")
# A path segment as werkzeug's converters quote it (url-path-segment-string).
SEGMENT_SAFE = "!$&'()*+,/:;=@"
URL_SLOT = "__slot__"

# Words every row of either desk repeats: translated once per page, not once per row. The ones
# with a value are %-formats the template fills (`|format`), still one translation per page.
ROW_WORDS = {
    "select_order": _l("选择订单 %(no)s"),
    "overdue": _l("已超时"),
    "due_soon": _l("即将超时"),
}


# The platform's holds on an order, as both desks name them (badges, refusals, confirmations).
HOLD_LABELS = {"after_sale": _l("售后中"), "audit_hold": _l("审核中")}

# Flag colours a desk's owner marks its orders with (0 is grey: no flag), for the filter's
# select and the row's badge (class flag-N in portal.css).
FLAG_LABELS = (
    (0, _l("灰旗（无）")),
    (1, _l("红旗")),
    (2, _l("黄旗")),
    (3, _l("绿旗")),
    (4, _l("蓝旗")),
    (5, _l("紫旗")),
)


def flag_arg(value: str | None) -> int | None:
    """A flag colour from a query argument or form; anything else is "any flag"."""
    text = text_arg(value, 1)
    return int(text) if text in {str(flag) for flag, _label in FLAG_LABELS} else None


# Translated word tables by (locale, tables): module constants, translated once per process.
_WORDS: dict[tuple[str, tuple[int, ...]], Mapping[str, str]] = {}


def translated(*tables: Mapping[str, Any]) -> Mapping[str, str]:
    """Constant tables of (lazy) words merged, as plain strings for this request's locale.

    `tables` are module constants (their identity is the cache key): the answer is read-only
    and made once per locale, not on every page (a page's ~40 lazy strings cost 0.5 ms)."""
    key = (str(get_locale()), tuple(id(table) for table in tables))
    words = _WORDS.get(key)
    if words is None:
        made: dict[str, str] = {}
        for table in tables:
            made.update((k, str(value)) for k, value in table.items())
        words = _WORDS[key] = MappingProxyType(made)
    return words


def row_words(*tables: Mapping[str, Any]) -> Mapping[str, str]:
    """The words every row of either desk repeats plus a role's own."""
    return translated(ROW_WORDS, *tables)


class UrlTemplate:
    """url_for once per page for a link every row has: the URL with one value left open."""

    def __init__(self, endpoint: str, key: str, **values: Any) -> None:
        self.head, _slot, self.tail = url_for(endpoint, **{key: URL_SLOT}, **values).partition(
            URL_SLOT
        )

    def __call__(self, value: object) -> str:
        return f"{self.head}{quote(str(value), safe=SEGMENT_SAFE)}{self.tail}"


class Refused(Protocol):
    order_no: str
    code: str


@dataclass(frozen=True)
class RefusalLine:
    order_no: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What the last batch action did: a summary, every refusal with its reason, and whatever
    the role adds (a print job, warnings, a hint on what to do about the refusals)."""

    summary: str
    level: str
    done_count: int = 0
    refused_count: int = 0
    reasons: list[tuple[str, int]] = field(default_factory=list)
    refusals: list[RefusalLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hint: str = ""
    job: Any = None  # the factory's print job, when the action made one
    # When the batch's own orders still need a next step: the merchant's dispatch time, whose
    # batch-shipping file the platform needs.
    dispatched_at: datetime | None = None


def outcome_for(
    summary: str,
    done: int,
    refused: Sequence[Refused],
    *,
    message: Callable[[str], str] = message_for,
    warnings: Sequence[str] = (),
    hint: str = "",
    job: Any = None,
    dispatched_at: datetime | None = None,
) -> Outcome:
    """The outcome panel of a batch: refusals counted by reason, the first ones listed."""
    messages = {code: str(message(code)) for code in {r.code for r in refused}}
    reasons = Counter(messages[r.code] for r in refused)
    return Outcome(
        summary=summary,
        level="warning" if refused or warnings else "success" if done else "error",
        done_count=done,
        refused_count=len(refused),
        reasons=reasons.most_common(),
        refusals=[RefusalLine(r.order_no, messages[r.code]) for r in refused[:MAX_SHOWN_REFUSALS]],
        warnings=list(warnings)[:MAX_SHOWN_REFUSALS],
        hint=hint,
        job=job,
        dispatched_at=dispatched_at,
    )


@dataclass(frozen=True)
class TabLink:
    tab: str
    label: str
    url: str
    count: int | None  # None: not counted in this request, the tab bar loads it


@dataclass(frozen=True)
class Desk(Generic[F]):
    """One role's desk: where it lives, its tabs, and how its filters travel in URLs."""

    endpoint: str  # the list view
    counts_endpoint: str  # the tab bar alone (polled)
    tabs: tuple[tuple[str, Any], ...]  # (tab, label)
    filter_args: Callable[[F], dict[str, object]]  # filters without tab and page, for links
    count_tones: Mapping[str, str]  # tab → class of its count when it is not zero
    page_template: str  # the whole page; its #order-desk and #order-list have partials
    partials: Mapping[str, str]  # HX-Target → partial template

    @classmethod
    def of(
        cls,
        role: str,
        tabs: tuple[tuple[str, Any], ...],
        filter_args: Callable[[F], dict[str, object]],
        count_tones: Mapping[str, str],
    ) -> Desk[F]:
        """A role's desk by the one naming both follow: `<role>.order_list` and
        `<role>.order_counts`, `<role>/orders.html` with `_orders_desk` and `_orders_list`."""
        return cls(
            endpoint=f"{role}.order_list",
            counts_endpoint=f"{role}.order_counts",
            tabs=tabs,
            filter_args=filter_args,
            count_tones=count_tones,
            page_template=f"{role}/orders.html",
            partials={
                "order-desk": f"{role}/_orders_desk.html",
                "order-list": f"{role}/_orders_list.html",
            },
        )

    def url(self, filters: F, page: int = 1) -> str:
        return url_for(
            self.endpoint,
            tab=filters.tab,  # type: ignore[attr-defined]
            page=page if page > 1 else None,
            **self.filter_args(filters),
        )

    def tab_links(self, filters: F, counts: Mapping[str, int]) -> list[TabLink]:
        """The tab bar: every URL built here once, not per tab in the template."""
        args = self.filter_args(filters)
        return [
            TabLink(tab, str(label), url_for(self.endpoint, tab=tab, **args), counts.get(tab))
            for tab, label in self.tabs
        ]

    def tabs_context(self, filters: F, counts: Mapping[str, int]) -> dict[str, object]:
        """What the tab bar (`_macros/desk.html` tabs) renders from."""
        return {
            "filters": filters,
            "args": self.filter_args(filters),
            "tab_links": self.tab_links(filters, counts),
            "count_tones": self.count_tones,
            # A list answer counts only its own tab: the bar fetches the rest once it is shown.
            "counts_pending": any(tab not in counts for tab, _label in self.tabs),
            "counts_url": url_for(
                self.counts_endpoint,
                tab=filters.tab,  # type: ignore[attr-defined]
                **self.filter_args(filters),
            ),
        }

    def list_response(self, filters: F, page: int, context: Mapping[str, object]) -> Response:
        """The desk, or the part of it an htmx request targets."""
        response = render(self.page_template, self.partials, **context)
        if is_targeted_htmx():
            if htmx.target == "order-list":
                # A refresh of the rows at the same address: the counts follow.
                return with_trigger(response, ORDERS_CHANGED)
            # The filter form sends empty fields too: history gets the tidy address instead.
            response.headers["HX-Push-Url"] = self.url(filters, page)
        return response

    def batch_response(
        self, filters: F, outcome: Outcome, context: Mapping[str, object]
    ) -> Response:
        """After a batch action: a toast, the list on page 1 with the outcome panel."""
        notify(outcome.summary, outcome.level)
        response = render(self.page_template, self.partials, **context)
        # The list is back on page 1: keep the address bar in step with it.
        response.headers["HX-Replace-Url"] = self.url(filters)
        return with_trigger(response, ORDERS_CHANGED)


def date_range(values: Mapping[str, str], start: str, end: str) -> tuple[date | None, date | None]:
    """Two date filters; reversed dates are swapped rather than refused."""
    first, last = date_arg(values.get(start)), date_arg(values.get(end))
    if first and last and first > last:
        first, last = last, first
    return first, last


def selected_order_nos(all_matching: Callable[[], Select[Any]]) -> list[str]:
    """The orders a batch acts on: the ticked rows, or every order the list's filters match
    ("select all N matching", resolved by the server from the same filters)."""
    if request.form.get("all_matching") == "1":
        return list(db.session.scalars(all_matching()))
    return [n for n in (text_arg(v, 64) for v in request.form.getlist("order_no")) if n]


def refuse(message: str) -> Response:
    """A batch refused as a whole (nothing selected …): a toast, nothing swapped."""
    notify(message, "error")
    return no_swap(422)

"""Rules over a model's columns written once: each yields its SQL condition and its Python check.

A `Rule` is a list of `Must` conditions, each naming the refusal code of a row that fails it.
`rule.sql()` is the WHERE a query or a compare-and-set UPDATE filters by (constants written into
the SQL text, so partial indexes built from the same rule match), `rule.blocker(obj)` and
`rule.blockers(obj)` are the same conditions read from a loaded object or row. A `Window` is a
time condition (`now + after < column <= now + until`) in the same two forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, literal_column, or_
from sqlalchemy.orm import InstrumentedAttribute


def _constant(value: object) -> ColumnElement[Any]:
    """A code constant in the SQL text rather than bound: a partial index is used only by a
    query whose WHERE repeats its condition as written."""
    if not isinstance(value, str) or "'" in value:
        raise ValueError(f"not a code constant: {value!r}")
    return literal_column(f"'{value}'")


@dataclass(frozen=True)
class Must:
    """`column` must hold one of `values` (with `negate`: none of them). A row that does not is
    refused with `codes[its value]` where that value has its own code, else with `code`."""

    column: InstrumentedAttribute[Any]
    values: tuple[object, ...]
    code: str = ""
    codes: Mapping[object, str] = field(default_factory=dict)
    negate: bool = False

    def sql(self) -> ColumnElement[bool]:
        column, values = self.column, self.values
        if len(values) == 1 and isinstance(values[0], bool):
            return column.is_not(values[0]) if self.negate else column.is_(values[0])
        if len(values) == 1:
            value = _constant(values[0])
            return column != value if self.negate else column == value
        constants = [_constant(v) for v in values]
        return column.not_in(constants) if self.negate else column.in_(constants)

    def holds(self, obj: Any) -> bool:
        value = getattr(obj, self.column.key)
        if value is None:  # NULL satisfies no comparison in SQL, but IS NOT TRUE/FALSE holds
            return self.negate and isinstance(self.values[0], bool) and len(self.values) == 1
        return (value not in self.values) if self.negate else (value in self.values)

    def refusal(self, obj: Any) -> str:
        return self.codes.get(getattr(obj, self.column.key), self.code)

    @property
    def all_codes(self) -> tuple[str, ...]:
        return tuple(c for c in dict.fromkeys((*self.codes.values(), self.code)) if c)


@dataclass(frozen=True)
class Rule:
    """All of `parts` (conditions or other rules) must hold; with `when`, the rule applies only
    to rows where `when` holds (the others pass)."""

    parts: tuple[Must | Rule, ...]
    when: Must | None = None

    def sql(self) -> ColumnElement[bool]:
        condition = and_(*(part.sql() for part in self.parts))
        if self.when is None:
            return condition
        otherwise = Must(self.when.column, self.when.values, negate=not self.when.negate)
        return or_(otherwise.sql(), condition)

    def blockers(self, obj: Any) -> list[str]:
        """Every code standing against `obj` now, in the rule's order; empty when it passes."""
        if self.when is not None and not self.when.holds(obj):
            return []
        codes: list[str] = []
        for part in self.parts:
            if isinstance(part, Rule):
                codes += part.blockers(obj)
            elif not part.holds(obj):
                codes.append(part.refusal(obj))
        return list(dict.fromkeys(codes))

    def blocker(self, obj: Any) -> str | None:
        """The first code standing against `obj`, or None when it passes."""
        blockers = self.blockers(obj)
        return blockers[0] if blockers else None

    def allows(self, obj: Any) -> bool:
        return not self.blockers(obj)

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code this rule can refuse with (the API's enums)."""
        codes = (
            code
            for part in self.parts
            for code in (part.codes if isinstance(part, Rule) else part.all_codes)
        )
        return tuple(dict.fromkeys(codes))


@dataclass(frozen=True)
class Window:
    """`column` within (now + after, now + until]; `after` None: no lower bound. NULL: never.

    Another column holding the same moment (a copy kept elsewhere, e.g. the analytics facts'
    open_promise_at) is judged by the same window with `sql(now, column)`, and a moment read
    on its own by `contains(moment, now)`: the edge stays written here once.
    """

    column: InstrumentedAttribute[Any]
    until: timedelta
    after: timedelta | None = None

    def sql(self, now: datetime, column: Any = None) -> ColumnElement[bool]:
        column = self.column if column is None else column
        upper = column <= now + self.until
        if self.after is None:
            return upper
        return and_(column > now + self.after, upper)

    def contains(self, moment: datetime | None, now: datetime) -> bool:
        if moment is None:
            return False
        return (self.after is None or moment > now + self.after) and moment <= now + self.until

    def holds(self, obj: Any, now: datetime) -> bool:
        return self.contains(getattr(obj, self.column.key), now)

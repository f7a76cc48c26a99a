"""Allocation rules (自动分配, DESIGN §10.3): new eligible orders find their factory by themselves.

A merchant chooses `manual` (everything by hand), `shop` (every new eligible order to one factory)
or `sku` (an order whose SKU codes all map to one factory goes there, otherwise to the fallback
factory when one is set, otherwise it waits for a person). Rules act on orders as they arrive or
become eligible — the order upsert calls `assign_arrived` for them, whichever way they came — and
on the current 待分配 orders when the merchant presses 立即执行 (`apply_rules`). They assign
through `allocation.assign_orders`, the one compare-and-set, so a rule never moves an assigned
order and a rule racing a person's assignment leaves one factory. A rule naming a factory whose
binding ended assigns nothing to it (`stopped_suppliers` says so on the desk).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import joinedload

from portal.domain import allocation
from portal.domain.bindings import find_supplier_by_shop_id
from portal.domain.errors import DomainError
from portal.domain.orders.rules import assign_blocker
from portal.extensions import db
from portal.models import (
    AllocationRule,
    Merchant,
    Order,
    OrderLine,
    SkuAllocationRule,
    Supplier,
    User,
)
from portal.models.allocation import RULE_MANUAL, RULE_MODES, RULE_SHOP, RULE_SKU
from portal.models.base import utcnow
from portal.models.orders import (
    ASSIGNABLE,
    EVENT_AUTO_ASSIGNED,
    STAGE_ASSIGNED,
    STAGE_UNASSIGNED,
)

MAX_SKU_RULES = 5000
MAX_SKU_CODE = 64

# The rule behind an automatic assignment, recorded as the history event's reason.
REASON_SHOP = "rule_shop"
REASON_SKU = "rule_sku"
REASON_SKU_FALLBACK = "rule_sku_fallback"


@dataclass(frozen=True)
class SkuRuleInput:
    sku_code: str
    supplier_shop_id: str


@dataclass(frozen=True)
class RulesInput:
    mode: str
    supplier_shop_id: str | None = None
    sku_rules: Sequence[SkuRuleInput] = ()


@dataclass
class Rules:
    """A merchant's saved rules: its mode, the (fallback) factory and the SKU map (by id)."""

    mode: str = RULE_MANUAL
    supplier_id: int | None = None
    sku: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.mode != RULE_MANUAL

    def target_for(self, sku_codes: Iterable[str]) -> tuple[int | None, str]:
        """The factory an order with these SKU codes goes to, and the rule that says so.

        `sku`: every code maps, and all to one factory; otherwise the fallback, else none.
        """
        if self.mode == RULE_SHOP:
            return self.supplier_id, REASON_SHOP
        if self.mode == RULE_SKU:
            targets = {self.sku.get(code.strip()) for code in sku_codes}
            if len(targets) == 1 and None not in targets:
                return targets.pop(), REASON_SKU
            if self.supplier_id is not None:
                return self.supplier_id, REASON_SKU_FALLBACK
        return None, ""

    def supplier_ids(self) -> set[int]:
        """Every factory the rules can send orders to in their mode."""
        ids = {self.supplier_id} if self.supplier_id is not None and self.active else set()
        if self.mode == RULE_SKU:
            ids.update(self.sku.values())
        return ids


def load_rules(merchant: Merchant) -> Rules:
    row = db.session.get(AllocationRule, merchant.id)
    if row is None or (row.mode == RULE_MANUAL and row.supplier_id is None):
        rules = Rules()
    else:
        rules = Rules(row.mode, row.supplier_id)
    rules.sku = dict(
        db.session.execute(
            select(SkuAllocationRule.sku_code, SkuAllocationRule.supplier_id).where(
                SkuAllocationRule.merchant_id == merchant.id
            )
        ).all()
    )
    return rules


def _bound_supplier(merchant: Merchant, shop_id: str | None, field_name: str) -> Supplier:
    """The factory of this shop ID if actively bound to the merchant; else 422 not_bound."""
    supplier = find_supplier_by_shop_id(shop_id or "")
    if supplier is None or not allocation.is_bound(merchant, supplier):
        raise DomainError("not_bound", status=422, field=field_name)
    return supplier


def save_rules(merchant: Merchant, rules: RulesInput, actor: User | None) -> Rules:
    """Replace the merchant's rules. Every named factory must be actively bound (422 not_bound).

    The SKU map is kept whatever the mode, so switching to `shop` and back loses nothing.
    """
    if rules.mode not in RULE_MODES:
        raise DomainError("invalid_rule_mode", field="mode")
    fallback: Supplier | None = None
    if rules.supplier_shop_id:
        fallback = _bound_supplier(merchant, rules.supplier_shop_id, "supplier_shop_id")
    elif rules.mode == RULE_SHOP:
        raise DomainError("field_required", field="supplier_shop_id")
    if len(rules.sku_rules) > MAX_SKU_RULES:
        raise DomainError("too_many_sku_rules", field="sku_rules")
    suppliers: dict[str, Supplier] = {}
    sku_map: dict[str, int] = {}
    for index, item in enumerate(rules.sku_rules):
        code = (item.sku_code or "").strip()
        if not code or len(code) > MAX_SKU_CODE:
            raise DomainError("invalid_sku_code", field=f"sku_rules[{index}].sku_code")
        if code in sku_map:
            raise DomainError("duplicate_sku_rule", field=f"sku_rules[{index}].sku_code")
        shop_id = (item.supplier_shop_id or "").strip()
        if shop_id not in suppliers:
            suppliers[shop_id] = _bound_supplier(
                merchant, shop_id, f"sku_rules[{index}].supplier_shop_id"
            )
        sku_map[code] = suppliers[shop_id].id
    row = db.session.get(AllocationRule, merchant.id)
    if row is None:
        row = AllocationRule(merchant_id=merchant.id)
        db.session.add(row)
    row.mode = rules.mode
    row.supplier_id = fallback.id if fallback else None
    row.updated_by = actor.id if actor else None
    row.updated_at = utcnow()
    db.session.execute(
        delete(SkuAllocationRule).where(SkuAllocationRule.merchant_id == merchant.id)
    )
    if sku_map:
        db.session.execute(
            SkuAllocationRule.__table__.insert(),
            [
                {"merchant_id": merchant.id, "sku_code": code, "supplier_id": supplier_id}
                for code, supplier_id in sku_map.items()
            ],
        )
    db.session.flush()
    return load_rules(merchant)


def rules_for_display(merchant: Merchant, rules: Rules | None = None) -> dict[str, object]:
    """The rules with shop IDs and names instead of ids: the API answer and the settings form."""
    rules = rules or load_rules(merchant)
    ids = set(rules.sku.values()) | ({rules.supplier_id} if rules.supplier_id else set())
    suppliers = suppliers_by_id(ids)
    fallback = suppliers.get(rules.supplier_id) if rules.supplier_id else None
    return {
        "mode": rules.mode,
        "supplier_shop_id": fallback.shop_id if fallback else None,
        "supplier_name": fallback.factory_name if fallback else None,
        "sku_rules": [
            {
                "sku_code": code,
                "supplier_shop_id": suppliers[supplier_id].shop_id,
                "supplier_name": suppliers[supplier_id].factory_name,
            }
            for code, supplier_id in sorted(rules.sku.items())
        ],
    }


def suppliers_by_id(ids: Iterable[int]) -> dict[int, Supplier]:
    ids = list(ids)
    if not ids:
        return {}
    return {
        supplier.id: supplier
        for supplier in db.session.scalars(
            select(Supplier).options(joinedload(Supplier.user)).where(Supplier.id.in_(ids))
        )
    }


def stopped_suppliers(merchant: Merchant, rules: Rules | None = None) -> list[Supplier]:
    """Factories the rules send orders to whose binding is no longer active: those rules stop
    (nothing goes to them) until the merchant binds again or changes the rule."""
    rules = rules or load_rules(merchant)
    suppliers = suppliers_by_id(rules.supplier_ids())
    return sorted(
        (s for s in suppliers.values() if not allocation.is_bound(merchant, s)),
        key=lambda s: s.factory_name,
    )


# --- running the rules ------------------------------------------------------------------------


@dataclass
class RunResult:
    assigned: Counter[int] = field(default_factory=Counter)  # supplier id → orders assigned
    refused: list[allocation.Refusal] = field(default_factory=list)
    waiting: int = 0  # eligible orders no rule sends anywhere (or whose factory's rule stopped)

    @property
    def assigned_total(self) -> int:
        return sum(self.assigned.values())

    def merge(self, other: RunResult) -> None:
        self.assigned.update(other.assigned)
        self.refused += other.refused
        self.waiting += other.waiting


Groups = dict[tuple[int, str], list[str]]  # (factory id, rule) → order numbers
Placed = dict[str, tuple[int, str]]  # order number → (factory id, rule)


Coded = tuple[str, list[str]]  # order number, the SKU codes of all its lines


def with_line_codes(merchant: Merchant, rows: Sequence[Any]) -> list[Coded]:
    """(order_no, every line's sku_code) of rows carrying id, order_no, sku_code, line_count:
    the lines of orders with several are read in one query, single-line orders need none."""
    several = [row.id for row in rows if row.line_count > 1]
    codes: dict[int, list[str]] = {}
    if several:
        for order_id, code in db.session.execute(
            select(OrderLine.order_id, OrderLine.sku_code)
            .where(OrderLine.merchant_id == merchant.id, OrderLine.order_id.in_(several))
            .order_by(OrderLine.order_id, OrderLine.line_no)
        ):
            codes.setdefault(order_id, []).append(code)
    return [(row.order_no, codes.get(row.id) or [row.sku_code]) for row in rows]


def _plan(rules: Rules, rows: Iterable[Coded]) -> tuple[Groups, int]:
    """Group (order_no, SKU codes) rows by (factory, rule); count those that go nowhere.

    DESIGN §10.3: an order goes by SKU only when all its lines' codes map to one factory.
    """
    groups: dict[tuple[int, str], list[str]] = {}
    waiting = 0
    for order_no, sku_codes in rows:
        target, reason = rules.target_for(sku_codes)
        if target is None:
            waiting += 1
        else:
            groups.setdefault((target, reason), []).append(order_no)
    return groups, waiting


def _run(merchant: Merchant, rules: Rules, rows: Sequence[Coded], actor: User | None) -> RunResult:
    result = RunResult()
    groups, result.waiting = _plan(rules, rows)
    suppliers = suppliers_by_id({supplier_id for supplier_id, _reason in groups})
    for (supplier_id, reason), order_nos in groups.items():
        supplier = suppliers[supplier_id]
        if not allocation.is_bound(merchant, supplier):
            result.waiting += len(order_nos)  # the rule stopped: they wait, the desk says why
            continue
        done = allocation.assign_orders(
            merchant, order_nos, supplier, actor, event=EVENT_AUTO_ASSIGNED, reason=reason
        )
        result.assigned[supplier_id] += len(done.done)
        # Taken by a person or held by the platform meanwhile: the compare-and-set says why.
        result.refused += done.refused
    return result


def preassign(
    merchant: Merchant,
    new_orders: list[dict[str, Any]],
    now: datetime,
    lines: Mapping[str, Sequence[Any]] | None = None,
) -> Placed:
    """The upsert's hook for new orders: those the rules send to an actively bound factory are
    inserted already assigned (their values get stage, supplier and time), so an import with
    rules on writes each order once instead of inserting and then updating it. Nobody else can
    assign an order that is not inserted yet; the binding rows are locked (PostgreSQL) so ending
    a binding waits for us. Call `record_preassigned` once the rows are inserted. `lines`
    gives each order number's goods lines (their sku_code) when it has several."""
    rules = load_rules(merchant)
    if not rules.active or not new_orders:
        return {}
    wanted: dict[str, tuple[int, str]] = {}
    for values in new_orders:
        values.update(stage=STAGE_UNASSIGNED, supplier_id=None, assigned_at=None)
        state = SimpleNamespace(
            stage=STAGE_UNASSIGNED,
            address_change_pending=False,
            **{
                name: values[name]
                for name in (
                    "platform_status",
                    "after_sale_active",
                    "audit_hold",
                    "address_complete",
                )
            },
        )
        if assign_blocker(state) is None:
            order_lines = (lines or {}).get(str(values["order_no"]))
            codes = (
                [line.sku_code for line in order_lines]
                if order_lines
                else [str(values["sku_code"])]
            )
            target, reason = rules.target_for(codes)
            if target is not None:
                wanted[str(values["order_no"])] = (target, reason)
    suppliers = suppliers_by_id({target for target, _reason in wanted.values()})
    bound = {
        supplier_id
        for supplier_id, supplier in sorted(suppliers.items())
        if allocation.is_bound(merchant, supplier, lock=True)
    }
    placed: Placed = {}
    for values in new_orders:
        hit = wanted.get(str(values["order_no"]))
        if hit is not None and hit[0] in bound:
            values.update(stage=STAGE_ASSIGNED, supplier_id=hit[0], assigned_at=now)
            placed[str(values["order_no"])] = hit
    return placed


def record_preassigned(
    merchant: Merchant, placed: Placed, ids: Mapping[str, int], now: datetime
) -> None:
    """Assignment rows and 「自动分配」 history lines of the orders `preassign` placed, once
    inserted (`ids`: their ids by order number, as the INSERT returned them)."""
    groups: dict[tuple[int, str], list[int]] = {}
    for order_no, hit in placed.items():
        groups.setdefault(hit, []).append(ids[order_no])
    for (supplier_id, reason), order_ids in groups.items():
        allocation.record_assignments(
            merchant.id, order_ids, supplier_id, None, now, event=EVENT_AUTO_ASSIGNED, reason=reason
        )


def assign_arrived(merchant: Merchant, order_nos: Sequence[str]) -> RunResult:
    """The upsert's hook: orders just created or just become eligible go where the rules say.

    Costs one primary-key read when the merchant assigns by hand.
    """
    rules = load_rules(merchant)
    if not rules.active or not order_nos:
        return RunResult()
    result = RunResult()
    for chunk in allocation.chunks(list(order_nos)):
        rows = db.session.execute(
            select(Order.id, Order.order_no, Order.sku_code, Order.line_count).where(
                Order.merchant_id == merchant.id, Order.order_no.in_(chunk), ASSIGNABLE
            )
        ).all()
        result.merge(_run(merchant, rules, with_line_codes(merchant, rows), None))
    return result


def _assignable_pages(merchant: Merchant) -> Iterable[list[Coded]]:
    """The merchant's 待分配 orders as (order_no, SKU codes), a chunk at a time by id."""
    after = 0
    while True:
        rows = db.session.execute(
            select(Order.id, Order.order_no, Order.sku_code, Order.line_count)
            .where(Order.merchant_id == merchant.id, ASSIGNABLE, Order.id > after)
            .order_by(Order.id)
            .limit(allocation.CHUNK)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        yield with_line_codes(merchant, rows)


def apply_rules(merchant: Merchant, actor: User | None) -> RunResult:
    """立即执行: run the saved rules over the current 待分配 orders, committing each chunk.

    The answer (DESIGN §10.3: `{assigned, refused}`) is the whole run's, so it runs in the
    request; each chunk is one set-based compare-and-set (`allocation.assign_orders`) committed
    at once, so a large backlog never holds SQLite's write lock or PostgreSQL's row locks for
    the whole run, and what was assigned stays if the request is cut short (a rerun goes on)."""
    rules = load_rules(merchant)
    result = RunResult()
    if not rules.active:
        return result
    for rows in _assignable_pages(merchant):
        result.merge(_run(merchant, rules, rows, actor))
        db.session.commit()
    return result


@dataclass(frozen=True)
class PreviewLine:
    supplier: Supplier
    orders: int
    stopped: bool  # its binding ended: nothing will go there


@dataclass
class Preview:
    lines: list[PreviewLine]
    waiting: int

    @property
    def total(self) -> int:
        return sum(line.orders for line in self.lines if not line.stopped)


def preview_rules(merchant: Merchant) -> Preview:
    """How many of the current 待分配 orders the rules would send to each factory (one grouped
    query by SKU code, nothing changed)."""
    rules = load_rules(merchant)
    counts: Counter[int] = Counter()
    waiting = 0
    if rules.active:
        grouped = db.session.execute(
            select(Order.sku_code, func.count())
            .where(Order.merchant_id == merchant.id, ASSIGNABLE, Order.line_count == 1)
            .group_by(Order.sku_code)
        ).all()
        several = db.session.execute(
            select(Order.id, Order.order_no, Order.sku_code, Order.line_count).where(
                Order.merchant_id == merchant.id, ASSIGNABLE, Order.line_count > 1
            )
        ).all()
        coded = [(codes, 1) for _no, codes in with_line_codes(merchant, several)]
        for sku_codes, count in [([code], count) for code, count in grouped] + coded:
            target, _reason = rules.target_for(sku_codes)
            if target is None:
                waiting += count
            else:
                counts[target] += count
    suppliers = suppliers_by_id(counts)
    lines = [
        PreviewLine(s, counts[s.id], not allocation.is_bound(merchant, s))
        for s in sorted(suppliers.values(), key=lambda s: s.factory_name)
    ]
    return Preview(lines, waiting + sum(line.orders for line in lines if line.stopped))

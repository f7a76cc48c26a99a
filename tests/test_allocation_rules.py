"""Allocation rules (自动分配, DESIGN §10.3) through the upsert (service rows and export files).

Rules act on orders created or becoming eligible after they are saved, never move an assigned
order, record `auto_assigned` with the rule, and stop (saying so) when their factory's binding
ends. The race against a person assigning by hand is in tests/test_allocation_rules_race.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.domain import allocation_rules, bindings
from portal.domain.allocation_rules import Rules, RulesInput, SkuRuleInput
from portal.domain.errors import DomainError
from portal.extensions import db
from portal.models import Order, OrderEvent, Supplier
from portal.models.allocation import RULE_MANUAL, RULE_SHOP, RULE_SKU
from tests import test_order_rules
from tests.factories import demo_order
from tests.test_order_rules import (
    HOLDS,
    NO,
    Platform,
    Shop,
    assign,
    events_of,
    load_order,
    second_supplier,
)

shop = test_order_rules.shop  # fixtures: a bound pair, and the two ways orders arrive
platform = test_order_rules.platform


def save(shop: Shop, mode: str, fallback: Supplier | None = None, **sku: Supplier) -> Rules:
    rules = allocation_rules.save_rules(
        shop.merchant,
        RulesInput(
            mode,
            fallback.shop_id if fallback else None,
            [SkuRuleInput(code, s.shop_id) for code, s in sku.items()],
        ),
        shop.actor,
    )
    db.session.commit()
    return rules


def auto_events(order: Order) -> list[tuple[str, int | None, str]]:
    return [
        (e.kind, e.supplier_id, e.reason)
        for e in events_of(order)
        if e.kind in ("assigned", "auto_assigned", "assignment_cancelled")
    ]


def no(index: int) -> str:
    return f"261121-7{index:014d}"


def test_manual_mode_assigns_nothing(shop: Shop, platform: Platform) -> None:
    save(shop, RULE_MANUAL)
    platform.push(demo_order(NO))
    assert load_order(shop.merchant, NO).stage == "unassigned"


def test_shop_rule_assigns_new_eligible_orders_and_records_the_rule(
    shop: Shop, platform: Platform
) -> None:
    save(shop, RULE_SHOP, shop.supplier)
    held = demo_order(no(2), audit_hold=True)
    result = platform.push(demo_order(no(1)), held, demo_order(no(3), district=""))
    assert result.created == 3
    order = load_order(shop.merchant, no(1))
    assert (order.stage, order.supplier_id) == ("assigned", shop.supplier.id)
    assert auto_events(order) == [("auto_assigned", shop.supplier.id, "rule_shop")]
    assert order.supplier_id == shop.supplier.id
    # Held or incomplete orders wait; the rule takes them when they become eligible.
    assert load_order(shop.merchant, no(2)).stage == "unassigned"
    assert load_order(shop.merchant, no(3)).stage == "unassigned"
    platform.push(demo_order(no(2)), demo_order(no(3)))
    for number in (no(2), no(3)):
        lifted = load_order(shop.merchant, number)
        assert (lifted.stage, lifted.supplier_id) == ("assigned", shop.supplier.id)
        assert auto_events(lifted) == [("auto_assigned", shop.supplier.id, "rule_shop")]


def test_rules_act_only_on_orders_arriving_after_they_are_saved(
    shop: Shop, platform: Platform
) -> None:
    platform.push(demo_order(NO))
    save(shop, RULE_SHOP, shop.supplier)
    # An unrelated change to an order that was already waiting does not fire the rule.
    assert platform.push(demo_order(NO, buyer_note="改个留言")).updated == 1
    assert load_order(shop.merchant, NO).stage == "unassigned"
    # 立即执行 does.
    result = allocation_rules.apply_rules(shop.merchant, shop.actor)
    db.session.commit()
    assert (result.assigned_total, result.refused, result.waiting) == (1, [], 0)
    assert load_order(shop.merchant, NO).supplier_id == shop.supplier.id


def test_rules_never_move_an_assigned_order(shop: Shop, platform: Platform, factory: Any) -> None:
    other = second_supplier(factory, shop)
    platform.push(demo_order(NO))
    assert assign(shop, NO, supplier=other).done == [NO]
    save(shop, RULE_SHOP, shop.supplier)
    platform.push(demo_order(NO, buyer_note="新留言"))
    assert allocation_rules.apply_rules(shop.merchant, shop.actor).assigned_total == 0
    db.session.commit()
    order = load_order(shop.merchant, NO)
    assert order.supplier_id == other.id
    assert auto_events(order) == [("assigned", other.id, "")]


def test_a_hold_that_cancelled_an_assignment_is_lifted_and_the_rule_assigns_again(
    shop: Shop, platform: Platform
) -> None:
    save(shop, RULE_SHOP, shop.supplier)
    platform.push(demo_order(NO))
    platform.push(demo_order(NO, **HOLDS["after_sale"].changes))
    assert load_order(shop.merchant, NO).stage == "unassigned"
    platform.push(demo_order(NO))
    order = load_order(shop.merchant, NO)
    assert (order.stage, order.supplier_id) == ("assigned", shop.supplier.id)
    assert auto_events(order) == [
        ("auto_assigned", shop.supplier.id, "rule_shop"),
        ("assignment_cancelled", shop.supplier.id, "after_sale"),
        ("auto_assigned", shop.supplier.id, "rule_shop"),
    ]


def test_sku_rules_with_and_without_a_fallback(
    shop: Shop, platform: Platform, factory: Any
) -> None:
    other = second_supplier(factory, shop)
    save(shop, RULE_SKU, None, **{"MUG-1": other, "BLK-150-GRY": shop.supplier})
    platform.push(
        demo_order(no(1), sku_code="MUG-1"),
        demo_order(no(2)),  # BLK-150-GRY
        demo_order(no(3), sku_code="UNMAPPED"),
        demo_order(no(4), sku_code=""),
    )
    placed = {n: load_order(shop.merchant, n).supplier_id for n in map(no, range(1, 5))}
    assert placed == {no(1): other.id, no(2): shop.supplier.id, no(3): None, no(4): None}
    assert auto_events(load_order(shop.merchant, no(1))) == [
        ("auto_assigned", other.id, "rule_sku")
    ]

    # With a fallback factory the orders no SKU rule maps go there.
    save(shop, RULE_SKU, other, **{"MUG-1": other, "BLK-150-GRY": shop.supplier})
    preview = allocation_rules.preview_rules(shop.merchant)
    assert [(line.supplier.id, line.orders, line.stopped) for line in preview.lines] == [
        (other.id, 2, False)
    ]
    result = allocation_rules.apply_rules(shop.merchant, shop.actor)
    db.session.commit()
    assert (dict(result.assigned), result.waiting) == ({other.id: 2}, 0)
    assert auto_events(load_order(shop.merchant, no(3))) == [
        ("auto_assigned", other.id, "rule_sku_fallback")
    ]


def test_an_order_whose_codes_map_to_two_factories_goes_to_the_fallback() -> None:
    """Orders with several lines: all their SKU codes must map to one factory."""
    rules = Rules(RULE_SKU, None, {"A": 1, "B": 1, "C": 2})
    assert rules.target_for(["A", "B"]) == (1, "rule_sku")
    assert rules.target_for(["A", "C"]) == (None, "")
    assert rules.target_for(["A", "Z"]) == (None, "")
    with_fallback = Rules(RULE_SKU, 9, {"A": 1, "C": 2})
    assert with_fallback.target_for(["A", "C"]) == (9, "rule_sku_fallback")
    assert with_fallback.target_for([" A "]) == (1, "rule_sku")


def test_saving_rules_needs_actively_bound_factories(shop: Shop, factory: Any) -> None:
    db.session.commit()
    stranger = factory.supplier()
    for rules, field in (
        (RulesInput(RULE_SHOP, stranger.shop_id), "supplier_shop_id"),
        (RulesInput(RULE_SHOP, "123"), "supplier_shop_id"),
        (
            RulesInput(RULE_SKU, None, [SkuRuleInput("A", stranger.shop_id)]),
            "sku_rules[0].supplier_shop_id",
        ),
    ):
        with pytest.raises(DomainError) as caught:
            allocation_rules.save_rules(shop.merchant, rules, shop.actor)
        assert (caught.value.code, caught.value.status) == ("not_bound", 422)
        assert caught.value.details["field"] == field
    for rules, code in (
        (RulesInput("auto"), "invalid_rule_mode"),
        (RulesInput(RULE_SHOP), "field_required"),
        (
            RulesInput(RULE_SKU, None, [SkuRuleInput(" ", shop.supplier.shop_id)]),
            "invalid_sku_code",
        ),
        (
            RulesInput(
                RULE_SKU,
                None,
                [
                    SkuRuleInput("A", shop.supplier.shop_id),
                    SkuRuleInput("A ", shop.supplier.shop_id),
                ],
            ),
            "duplicate_sku_rule",
        ),
    ):
        with pytest.raises(DomainError) as caught:
            allocation_rules.save_rules(shop.merchant, rules, shop.actor)
        assert caught.value.code == code
    assert allocation_rules.load_rules(shop.merchant) == Rules()


def test_a_rule_whose_binding_ended_stops_and_says_so(shop: Shop, platform: Platform) -> None:
    save(shop, RULE_SHOP, shop.supplier)
    bindings.end_binding(shop.binding, "merchant")
    db.session.commit()
    assert [s.id for s in allocation_rules.stopped_suppliers(shop.merchant)] == [shop.supplier.id]
    platform.push(demo_order(NO))
    assert load_order(shop.merchant, NO).stage == "unassigned"
    preview = allocation_rules.preview_rules(shop.merchant)
    assert [(line.orders, line.stopped) for line in preview.lines] == [(1, True)]
    assert (preview.total, preview.waiting) == (0, 1)
    result = allocation_rules.apply_rules(shop.merchant, shop.actor)
    assert (result.assigned_total, result.waiting) == (0, 1)


def test_rules_are_per_merchant(shop: Shop, platform: Platform, factory: Any) -> None:
    save(shop, RULE_SHOP, shop.supplier)
    db.session.commit()
    other_user = factory.merchant()
    other = db.session.get(type(shop.merchant), other_user.merchant.id)
    assert allocation_rules.load_rules(other) == Rules()
    platform.merchant = other
    platform.push(demo_order(NO))
    assert load_order(other, NO).stage == "unassigned"


def test_a_big_import_with_a_rule_assigns_every_order_once(shop: Shop, platform: Platform) -> None:
    save(shop, RULE_SHOP, shop.supplier)
    platform.push(*(demo_order(no(i)) for i in range(1500)))
    stages = db.session.scalars(
        select(Order.stage).where(Order.merchant_id == shop.merchant.id)
    ).all()
    assert stages == ["assigned"] * 1500
    events = db.session.scalars(
        select(OrderEvent.kind).where(OrderEvent.merchant_id == shop.merchant.id)
    ).all()
    assert events.count("auto_assigned") == 1500

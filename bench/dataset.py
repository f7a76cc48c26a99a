"""Build the benchmark database fast: accounts through the services, orders by bulk load.

Accounts, profiles, bindings and return addresses go through the portal's own services, so they
are exactly what the app would have written. Orders and everything hanging off them
(assignments, order events, parcels, prices) are bulk-loaded: `executemany` in one transaction
on SQLite, `COPY` on PostgreSQL, with the secondary indexes dropped during the load and rebuilt
after it, then ANALYZE.

Buyer data stays real: every order's name, phone and detail address are encrypted with the
portal's own `privacy.encrypt` under the order's own associated data (merchant id, order
number, column), so any page the benchmark shows decrypts. What is shared is the rest of the
receiver work: a pool of generated receivers is normalised, masked and indexed once per
merchant (`privacy.protect_receiver`), and orders draw receivers from that pool. content_hash is
a stand-in digest (it only matters to a re-import of the same order, which the benchmark's
import does not do for these orders).

Shape (see BENCHMARKS.md): 5 merchants with a skewed share of the orders, 10 suppliers all bound
to every merchant, each merchant favouring a different supplier. Order ids follow time; the
newest ~10 % are unassigned, then assigned (~8 %), returned (~7 %) and dispatched (the rest,
spread over 180 days). After-sales, audit holds, cancellations, incomplete addresses, cancelled
assignments, printed labels and multi-parcel orders appear at realistic rates.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, inspect, text

from portal.domain import accounts, bindings
from portal.domain.demo_data import SHANGHAI, generate_orders
from portal.domain.keyring import current_keyring
from portal.domain.orders.upsert import sku_key_for
from portal.domain.privacy.keys import KeyRing
from portal.domain.privacy.lookups import blind_index, receiver_key
from portal.domain.privacy.masks import mask_detail, mask_name, mask_phone
from portal.domain.privacy.normalize import normalize_text
from portal.domain.privacy.phones import normalize_phone
from portal.domain.privacy.receiver import reveal_receiver
from portal.domain.regions import is_complete_address, validate_region
from portal.extensions import db
from portal.models import Assignment, Order, OrderEvent, OrderLine, OrderParcel, Parcel, Price

DATASET_VERSION = 4  # bump when the generated data changes (invalidates cached templates)
PASSWORD = "bench-pass-2026"  # noqa: S105  (benchmark accounts in a throwaway database)
MERCHANT_WEIGHTS = (0.40, 0.25, 0.15, 0.12, 0.08)
SUPPLIER_WEIGHTS = (0.35, 0.20, 0.12, 0.09, 0.07, 0.06, 0.04, 0.03, 0.02, 0.02)
RECEIVER_POOL = 30_000
HISTORY_DAYS = 180
LOAD_CHUNK = 20_000

# Stage by age rank r (0 = newest order, 1 = oldest).
UNASSIGNED_UNTIL = 0.10
ASSIGNED_UNTIL = 0.18
RETURNED_UNTIL = 0.25
COURIERS = (("SF", "SF", 13), ("YTO", "YT", 13), ("ZTO", "7", 13), ("JT", "JT", 13))


@dataclass
class Accounts:
    """Ids of the benchmark's accounts, by position (merchant 0 is the biggest)."""

    merchant_ids: list[int] = field(default_factory=list)
    merchant_user_ids: list[int] = field(default_factory=list)
    merchant_usernames: list[str] = field(default_factory=list)
    supplier_ids: list[int] = field(default_factory=list)
    supplier_user_ids: list[int] = field(default_factory=list)
    supplier_usernames: list[str] = field(default_factory=list)
    return_address_ids: list[int] = field(default_factory=list)


@dataclass
class BuildReport:
    orders: int = 0
    reserve_added: int = 0
    assignments: int = 0
    events: int = 0
    parcels: int = 0
    prices: int = 0
    seconds: float = 0.0
    stages: dict[str, int] = field(default_factory=dict)


def supplier_rank(merchant_index: int, rank: int, supplier_count: int) -> int:
    """Which supplier is a merchant's `rank`-th favourite: each merchant prefers another one."""
    return (rank + 2 * merchant_index) % supplier_count


# --- accounts --------------------------------------------------------------------------------


def create_accounts(merchants: int, suppliers: int) -> Accounts:
    """Users, profiles, active bindings (every pair) and a default return address per merchant."""
    found = Accounts()
    supplier_users = []
    for n in range(1, suppliers + 1):
        user = accounts.create_user(f"bench_s{n}", PASSWORD)
        supplier = accounts.become_supplier(user, f"基准工厂{n}", "李厂长", "13900139000")
        supplier_users.append(user)
        found.supplier_ids.append(supplier.id)
        found.supplier_user_ids.append(user.id)
        found.supplier_usernames.append(user.username)
    for n in range(1, merchants + 1):
        user = accounts.create_user(f"bench_m{n}", PASSWORD)
        merchant = accounts.become_merchant(
            user,
            accounts.MerchantProfileInput(
                shop_name=f"基准店铺{n}",
                sender_name="王发货",
                sender_phone="13800138000",
                province="浙江省",
                city="杭州市",
                district="余杭区",
                detail="文一西路 1 号",
            ),
        )
        address = accounts.add_return_address(
            merchant,
            accounts.AddressInput(
                "王退货", "13800138000", "浙江省", "杭州市", "余杭区", "良睦路 88 号"
            ),
            make_default=True,
        )
        for supplier_user in supplier_users:
            binding = bindings.apply_for_binding(merchant, supplier_user.shop_id, "")
            bindings.accept_binding(supplier_user.supplier, binding.id)
        found.merchant_ids.append(merchant.id)
        found.merchant_user_ids.append(user.id)
        found.merchant_usernames.append(user.username)
        found.return_address_ids.append(address.id)
    db.session.commit()
    return found


def load_accounts() -> Accounts:
    """The accounts of an already built database (ids in creation order)."""
    found = Accounts()
    rows = db.session.execute(
        text(
            "SELECT u.id, u.username, m.id AS merchant_id, s.id AS supplier_id FROM users u "
            "LEFT JOIN merchants m ON m.user_id = u.id LEFT JOIN suppliers s ON s.user_id = u.id "
            "WHERE u.username LIKE 'bench\\_%' ESCAPE '\\' ORDER BY u.id"
        )
    ).all()
    merchants = sorted(
        (r for r in rows if r.merchant_id), key=lambda r: int(r.username.removeprefix("bench_m"))
    )
    suppliers = sorted(
        (r for r in rows if r.supplier_id), key=lambda r: int(r.username.removeprefix("bench_s"))
    )
    for row in merchants:
        found.merchant_ids.append(row.merchant_id)
        found.merchant_user_ids.append(row.id)
        found.merchant_usernames.append(row.username)
        found.return_address_ids.append(
            db.session.scalar(
                text("SELECT id FROM return_addresses WHERE merchant_id = :m AND is_default"),
                {"m": row.merchant_id},
            )
        )
    for row in suppliers:
        found.supplier_ids.append(row.supplier_id)
        found.supplier_user_ids.append(row.id)
        found.supplier_usernames.append(row.username)
    return found


# --- receivers and goods -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """A generated order's receiver (normalised, as the upsert stores it) and goods line."""

    name: str
    phone: str
    detail: str
    raw: tuple[str, str, str, str, str, str]  # name, phone, province, city, district, detail
    province: str
    city: str
    district: str
    complete: bool
    masks: tuple[str, str, str]  # name, phone, detail
    goods: tuple[str, str, str, str, int, str]  # goods_id, name, spec, sku_code, qty, sku_key
    goods_total_fen: int
    paid_fen: int
    buyer_note: str
    merchant_note: str


def build_pool(size: int, seed: int) -> list[PoolEntry]:
    pool = []
    for order in generate_orders(size, seed=seed, now=datetime(2026, 1, 1, tzinfo=UTC)):
        receiver = order["receiver"]
        street, detail = receiver.get("street") or "", receiver.get("detail") or ""
        detail = detail if detail.startswith(street) else street + detail
        phone = normalize_phone(receiver["phone"])
        recognised = phone.kind in ("mobile", "landline")
        phone_text = phone.canonical if recognised else normalize_text(receiver["phone"])
        province, city, district = (
            normalize_text(v)
            for v in (receiver["province"], receiver["city"], receiver["district"])
        )
        complete = is_complete_address(province, city, district, detail) and (
            validate_region(province, city, district) is None
        )
        line = order["lines"][0]
        sku_code = line.get("sku_code") or ""
        pool.append(
            PoolEntry(
                name=normalize_text(receiver["name"]),
                phone=phone_text,
                detail=normalize_text(detail),
                raw=(
                    receiver["name"],
                    receiver["phone"],
                    receiver["province"],
                    receiver["city"],
                    receiver["district"],
                    detail,
                ),
                province=province,
                city=city,
                district=district,
                complete=complete,
                masks=(
                    mask_name(receiver["name"]),
                    mask_phone(receiver["phone"]),
                    mask_detail(detail),
                ),
                goods=(
                    line["goods_id"],
                    line["goods_name"],
                    line["spec"],
                    sku_code,
                    line["quantity"],
                    sku_key_for(sku_code, line["goods_id"], line["spec"]),
                ),
                goods_total_fen=order["goods_total_fen"],
                paid_fen=order["paid_fen"],
                buyer_note=order["buyer_note"],
                merchant_note=order["merchant_note"],
            )
        )
    return pool


class ReceiverIndex:
    """Blind index and receiver_key of a pool receiver for one merchant, made once."""

    def __init__(self, keyring: KeyRing, pool: Sequence[PoolEntry]) -> None:
        self.keyring = keyring
        self.pool = pool
        self._cache: dict[tuple[int, int], tuple[str, str]] = {}

    def get(self, merchant_id: int, index: int) -> tuple[str, str]:
        key = (merchant_id, index)
        found = self._cache.get(key)
        if found is None:
            name, phone, province, city, district, detail = self.pool[index].raw
            found = self._cache[key] = (
                blind_index(self.keyring, merchant_id, phone),
                receiver_key(
                    self.keyring, merchant_id, name, phone, province, city, district, detail
                ),
            )
        return found


class FastSealer:
    """privacy.encrypt with the AES-GCM object kept and the associated data built directly.

    Only for generated order numbers (digits and dashes), whose JSON needs no escaping; the
    build checks a sample of orders with privacy.reveal_receiver afterwards, so any drift from
    the portal's token format or associated data fails the build instead of the benchmark.
    """

    def __init__(self, keyring: KeyRing) -> None:
        self.version = keyring.current_version
        self.aead = AESGCM(keyring.keys[self.version])
        self.prefix = f"v{self.version}:"

    def seal(self, plaintext: str, merchant_id: int, order_no: str, field: str) -> str:
        if not plaintext:
            return ""
        aad = f'["order-receiver", 1, {merchant_id}, "{order_no}", "{field}"]'.encode("ascii")
        nonce = os.urandom(12)
        sealed = self.aead.encrypt(nonce, plaintext.encode("utf-8"), aad)
        return self.prefix + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


# --- orders ------------------------------------------------------------------------------------

ORDER_COLUMNS = tuple(c.name for c in Order.__table__.columns)
# Columns added since the generator was written take their model default (None without one),
# so a new column never stops the build.
ORDER_DEFAULTS = {
    c.name: c.default.arg if c.default is not None and c.default.is_scalar else None
    for c in Order.__table__.columns
}
LINE_COLUMNS = tuple(c.name for c in OrderLine.__table__.columns)
ASSIGNMENT_COLUMNS = tuple(c.name for c in Assignment.__table__.columns)
EVENT_COLUMNS = tuple(c.name for c in OrderEvent.__table__.columns if c.name != "id")
PARCEL_COLUMNS = tuple(c.name for c in Parcel.__table__.columns)
ORDER_PARCEL_COLUMNS = tuple(c.name for c in OrderParcel.__table__.columns)
PRICE_COLUMNS = tuple(c.name for c in Price.__table__.columns if c.name != "id")


def naive(moment: datetime) -> datetime:
    """Stored form of a UTCDateTime: naive UTC."""
    return moment.replace(tzinfo=None)


@dataclass
class OrderPlan:
    """What one order is: who, when, which stage (decided before any row is written)."""

    merchant: int  # index
    supplier: int | None  # index
    stage: str
    age: float  # seconds before `now`


def _age_seconds(rank: float) -> float:
    # The newest quarter of the orders arrived within three days, the rest over HISTORY_DAYS.
    day = 86_400.0
    if rank < 0.25:
        return rank / 0.25 * 3 * day
    return 3 * day + (rank - 0.25) / 0.75 * (HISTORY_DAYS - 3) * day


def _pick(rand: Callable[[], float], cumulative: Sequence[float]) -> int:
    r = rand() * cumulative[-1]
    for index, bound in enumerate(cumulative):
        if r < bound:
            return index
    return len(cumulative) - 1


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


class OrderWriter:
    """Turns plans into rows for orders, assignments, events and parcels."""

    def __init__(
        self,
        keyring: KeyRing,
        pool: Sequence[PoolEntry],
        found: Accounts,
        now: datetime,
        seed: int,
    ) -> None:
        self.keyring = keyring
        self.pool = pool
        self.receivers = ReceiverIndex(keyring, pool)
        self.sealer = FastSealer(keyring)
        self.accounts = found
        self.now = now
        self.rng = random.Random(seed)
        self.next_assignment_id = 1
        self.next_parcel_id = 1
        self.stage_counts: dict[str, int] = {}

    def rows(
        self, order_id: int, plan: OrderPlan
    ) -> tuple[tuple, list[tuple], list[tuple], list[tuple], list[tuple]]:
        rand = self.rng.random
        acc = self.accounts
        merchant_id = acc.merchant_ids[plan.merchant]
        merchant_user = acc.merchant_user_ids[plan.merchant]
        supplier_id = acc.supplier_ids[plan.supplier] if plan.supplier is not None else None
        pool_index = int(rand() * len(self.pool))
        entry = self.pool[pool_index]
        name_mask, phone_mask, detail_mask = entry.masks
        phone_index, receiver_key = self.receivers.get(merchant_id, pool_index)
        paid_at = self.now - timedelta(seconds=plan.age)
        local_day = paid_at.astimezone(SHANGHAI)
        order_no = f"{local_day:%y%m%d}-{300_000_000_000_000 + order_id * 7919:015d}"
        stage = plan.stage
        self.stage_counts[stage] = self.stage_counts.get(stage, 0) + 1

        platform_status, status_text, after_sale, after_sale_active = (
            "awaiting_shipment",
            "待发货",
            "",
            False,
        )
        audit_hold = False
        complete = entry.complete
        address_change_pending = False
        r = rand()
        if stage == "unassigned":
            if r < 0.025:
                after_sale, after_sale_active = "买家申请退款，待商家处理", True
            elif r < 0.035:
                audit_hold = True
            elif r < 0.045:
                platform_status, status_text, after_sale = (
                    "cancelled",
                    "未发货，退款成功",
                    "退款成功",
                )
            elif r < 0.055:
                platform_status, status_text = "pending_payment", "待支付"
            elif r < 0.06:
                complete = False
        elif stage == "assigned":
            address_change_pending = r < 0.005
        elif stage == "returned":
            if r < 0.015:
                after_sale, after_sale_active = "退款中", True
        else:
            platform_status, status_text = (
                ("shipped", "已发货，待签收") if r < 0.45 else ("completed", "已签收")
            )
            if rand() < 0.02:
                after_sale, after_sale_active = "退款中", True
        unpaid = platform_status == "pending_payment"
        paid = None if unpaid else naive(paid_at)
        promise = None if unpaid else naive(paid_at + timedelta(hours=48))

        assigned_at = returned_at = dispatched_at = last_printed_at = None
        print_count = 0
        courier = tracking_no = ""
        assignments: list[tuple] = []
        events: list[tuple] = []
        parcels: list[tuple] = []
        order_parcels: list[tuple] = []
        if stage != "unassigned":
            assigned = paid_at + timedelta(seconds=1800 + rand() * 5 * 3600)
            assigned_at = naive(assigned)
            if rand() < 0.03:
                # Assigned once to another factory and taken back first (its 已取消 tab).
                other = (plan.supplier + 1) % len(acc.supplier_ids)
                assignments.append(
                    self._assignment(
                        order_id,
                        merchant_id,
                        acc.supplier_ids[other],
                        naive(paid_at),
                        merchant_user,
                        cancelled=assigned_at,
                    )
                )
                events.append(
                    self._event(
                        order_id,
                        merchant_id,
                        "assignment_cancelled",
                        merchant_user,
                        acc.supplier_ids[other],
                        "manual",
                        assigned_at,
                    )
                )
            assignments.append(
                self._assignment(order_id, merchant_id, supplier_id, assigned_at, merchant_user)
            )
            events.append(
                self._event(
                    order_id, merchant_id, "assigned", merchant_user, supplier_id, "", assigned_at
                )
            )
            if stage == "assigned":
                if rand() < 0.5:
                    print_count, last_printed_at = 1, naive(assigned + timedelta(hours=1))
            else:
                print_count, last_printed_at = 1, naive(assigned + timedelta(hours=1))
                returned = assigned + timedelta(seconds=2 * 3600 + rand() * 18 * 3600)
                returned_at = naive(returned)
                code, prefix, digits = COURIERS[order_id % len(COURIERS)]
                courier = code
                tracking_no = f"{prefix}{10**12 + order_id:0{digits}d}"
                numbers = [tracking_no]
                if rand() < 0.01:
                    numbers.append(f"{prefix}{2 * 10**12 + order_id:0{digits}d}")
                for position, number in enumerate(numbers):
                    parcel_id = self.next_parcel_id
                    self.next_parcel_id += 1
                    parcels.append(
                        (
                            parcel_id,
                            number,
                            code,
                            merchant_id,
                            supplier_id,
                            receiver_key,
                            returned_at,
                        )
                    )
                    order_parcels.append((order_id, parcel_id, position == 0))
                if stage == "dispatched":
                    dispatched_at = naive(returned + timedelta(seconds=600 + rand() * 8 * 3600))
                    events.append(
                        self._event(
                            order_id,
                            merchant_id,
                            "dispatched",
                            merchant_user,
                            supplier_id,
                            "",
                            dispatched_at,
                        )
                    )
        elif rand() < 0.01:
            # Taken back from a factory: unassigned again, listed under that factory's 已取消.
            other = acc.supplier_ids[int(rand() * len(acc.supplier_ids))]
            when = naive(paid_at + timedelta(minutes=30))
            assignments.append(
                self._assignment(order_id, merchant_id, other, when, merchant_user, cancelled=when)
            )
            events.append(
                self._event(
                    order_id,
                    merchant_id,
                    "assignment_cancelled",
                    merchant_user,
                    other,
                    "manual",
                    when,
                )
            )

        goods_id, goods_name, spec, sku_code, quantity, sku_key = entry.goods
        seal = self.sealer.seal
        values = {
            "id": order_id,
            "merchant_id": merchant_id,
            "order_no": order_no,
            "platform_status": platform_status,
            "platform_status_text": status_text,
            "after_sale_status": after_sale,
            "after_sale_active": after_sale_active,
            "audit_hold": audit_hold,
            "paid_at": paid,
            "promise_ship_at": promise,
            "buyer_note": entry.buyer_note,
            "merchant_note": entry.merchant_note,
            "name_enc": seal(entry.name, merchant_id, order_no, "name"),
            "phone_enc": seal(entry.phone, merchant_id, order_no, "phone"),
            "detail_enc": seal(entry.detail, merchant_id, order_no, "detail"),
            "name_mask": name_mask,
            "phone_mask": phone_mask,
            "detail_mask": detail_mask,
            "province": entry.province,
            "city": entry.city,
            "district": entry.district if complete or not entry.complete else "",
            "phone_index": phone_index,
            "receiver_key": receiver_key,
            "platform_receiver_key": receiver_key,
            "address_complete": complete,
            "goods_id": goods_id,
            "goods_name": goods_name,
            "spec": spec,
            "style_id": "",
            "sku_code": sku_code,
            "goods_code": "",
            "quantity": quantity,
            "sku_key": sku_key,
            "goods_total_fen": entry.goods_total_fen,
            "paid_fen": entry.paid_fen,
            "merchant_received_fen": None,
            "platform_tracking_no": "",
            "platform_courier": "",
            "content_hash": hashlib.sha256(order_no.encode()).hexdigest(),
            "stage": stage,
            "supplier_id": supplier_id,
            "assigned_at": assigned_at,
            "address_change_pending": address_change_pending,
            "print_count": print_count,
            "last_printed_at": last_printed_at,
            "courier": courier,
            "tracking_no": tracking_no,
            "returned_at": returned_at,
            "dispatched_at": dispatched_at,
            "dispatched_by": merchant_user if dispatched_at else None,
            "return_address_id": acc.return_address_ids[plan.merchant] if dispatched_at else None,
            "created_at": naive(paid_at),
            "updated_at": dispatched_at or returned_at or assigned_at or naive(paid_at),
            # Columns added since the generator was written: their defaults (no name search).
            "name_index": "",
            "tracking_corrections": 0,
            "region_unverified": False,
            "line_count": 1,
        }
        order_row = tuple(values.get(c, ORDER_DEFAULTS[c]) for c in ORDER_COLUMNS)
        # Its one goods line (order_lines): prices, statements and 备货汇总 read lines.
        line = {**values, "id": order_id, "order_id": order_id, "line_no": 1}
        line_row = tuple(line[c] for c in LINE_COLUMNS)
        return order_row, line_row, assignments, events, parcels, order_parcels

    def _assignment(
        self,
        order_id: int,
        merchant_id: int,
        supplier_id: int,
        assigned_at: datetime,
        actor: int,
        cancelled: datetime | None = None,
    ) -> tuple:
        assignment_id = self.next_assignment_id
        self.next_assignment_id += 1
        values = {
            "id": assignment_id,
            "order_id": order_id,
            "merchant_id": merchant_id,
            "supplier_id": supplier_id,
            "status": "cancelled" if cancelled else "active",
            "assigned_at": assigned_at,
            "assigned_by": actor,
            "cancelled_at": cancelled,
            "cancel_reason": "manual" if cancelled else None,
            "cancelled_by": actor if cancelled else None,
        }
        return tuple(values[c] for c in ASSIGNMENT_COLUMNS)

    @staticmethod
    def _event(
        order_id: int,
        merchant_id: int,
        kind: str,
        actor: int,
        supplier_id: int | None,
        reason: str,
        at: datetime,
    ) -> tuple:
        values = {
            "order_id": order_id,
            "merchant_id": merchant_id,
            "kind": kind,
            "actor_id": actor,
            "supplier_id": supplier_id,
            "reason": reason,
            "note": "",
            "created_at": at,
        }
        return tuple(values[c] for c in EVENT_COLUMNS)


def plan_orders(count: int, merchants: int, suppliers: int, seed: int) -> Iterator[OrderPlan]:
    """Plans in id order (oldest first), with the stage decided by age."""
    rng = random.Random(seed)
    rand = rng.random
    merchant_cum = _cumulative(MERCHANT_WEIGHTS[:merchants])
    supplier_cum = _cumulative(SUPPLIER_WEIGHTS[:suppliers])
    for i in range(count):
        rank = 1.0 - (i + rand()) / count
        merchant = _pick(rand, merchant_cum)
        if rank < UNASSIGNED_UNTIL:
            stage = "unassigned"
        elif rank < ASSIGNED_UNTIL:
            stage = "assigned"
        elif rank < RETURNED_UNTIL:
            stage = "returned"
        else:
            stage = "dispatched"
        supplier = (
            None
            if stage == "unassigned"
            else supplier_rank(merchant, _pick(rand, supplier_cum), suppliers)
        )
        yield OrderPlan(merchant, supplier, stage, _age_seconds(max(rank, 0.0)))


# --- bulk loading -------------------------------------------------------------------------------


LOAD_ORDER = (
    "orders",
    "order_lines",
    "assignments",
    "order_events",
    "parcels",
    "order_parcels",
    "prices",
)


class BulkLoader:
    """executemany in one transaction (SQLite) or COPY (PostgreSQL) on one raw connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.raw = engine.raw_connection()
        self.cursor = self.raw.cursor()
        self.buffers: dict[str, list[tuple]] = {}
        self.columns: dict[str, Sequence[str]] = {}
        if self.dialect == "sqlite":
            self.cursor.execute("PRAGMA synchronous=OFF")
            self.cursor.execute("BEGIN")
        else:
            # Rows are consistent by construction: skip the per-row foreign-key triggers.
            self.cursor.execute("SET session_replication_role = replica")

    def add(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        self.columns[table] = columns
        buffer = self.buffers.setdefault(table, [])
        buffer.extend(rows)
        if len(buffer) >= LOAD_CHUNK:
            self.flush()

    def flush(self) -> None:
        """Every table, parents first, so each foreign key finds its row (SQLite checks them
        as rows go in)."""
        for name in sorted(self.buffers, key=LOAD_ORDER.index):
            rows = self.buffers.get(name)
            if not rows:
                continue
            columns = self.columns[name]
            column_list = ", ".join(columns)
            if self.dialect == "sqlite":
                marks = ", ".join("?" * len(columns))
                self.cursor.executemany(
                    f"INSERT INTO {name} ({column_list}) VALUES ({marks})",  # noqa: S608
                    rows,
                )
            else:
                with self.cursor.copy(f"COPY {name} ({column_list}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            rows.clear()

    def finish(self) -> None:
        self.flush()
        if self.dialect == "sqlite":
            self.cursor.execute("COMMIT")
            self.cursor.execute("PRAGMA synchronous=NORMAL")
        else:
            self.cursor.execute("SET session_replication_role = DEFAULT")
            self.raw.commit()
        self.cursor.close()
        self.raw.close()


BULK_TABLES = LOAD_ORDER[:6]


def _droppable_indexes(engine: Engine) -> list[tuple[str, str]]:
    """(name, DDL) of the secondary indexes of the bulk-loaded tables (not constraints)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "  # noqa: S608
                    f"AND tbl_name IN ({', '.join(repr(t) for t in BULK_TABLES)})"
                )
            ).all()
        else:
            rows = conn.execute(
                text(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = "
                    "current_schema() AND i.tablename = ANY(:tables) AND NOT EXISTS ("
                    "SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
                ),
                {"tables": list(BULK_TABLES)},
            ).all()
    return [(name, ddl) for name, ddl in rows]


def _set_sequences(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in ("orders", "order_lines", "assignments", "parcels", "order_events", "prices"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
            )


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        # Outside any transaction (the app's engine would open one): a raw autocommit connection.
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement in ("ANALYZE", "PRAGMA optimize", "PRAGMA wal_checkpoint(TRUNCATE)"):
                cursor.execute(statement)
            cursor.close()
        finally:
            raw.close()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def prices(found: Accounts, pool: Sequence[PoolEntry], now: datetime, seed: int) -> list[tuple]:
    """A price per (pair, SKU) for most SKUs; a third changed price 60 days ago; 5% missing."""
    rng = random.Random(seed)
    skus = sorted({entry.goods[5]: entry.goods for entry in pool}.items())
    rows = []
    first = naive(now - timedelta(days=400))
    second = naive(now - timedelta(days=60))
    for merchant_id in found.merchant_ids:
        for supplier_id, supplier_user in zip(
            found.supplier_ids, found.supplier_user_ids, strict=True
        ):
            for sku_key, goods in skus:
                if rng.random() < 0.05:
                    continue
                base = 500 + (zlib.crc32(goods[0].encode()) % 40) * 100
                history = [(first, base)]
                if rng.random() < 0.33:
                    history.append((second, base + 200))
                for effective_from, price in history:
                    values = {
                        "supplier_id": supplier_id,
                        "merchant_id": merchant_id,
                        "sku_key": sku_key,
                        "price_fen": price,
                        "effective_from": effective_from,
                        "created_by": supplier_user,
                        "created_at": first,
                    }
                    rows.append(tuple(values[c] for c in PRICE_COLUMNS))
    return rows


def build(
    count: int,
    *,
    merchants: int = 5,
    suppliers: int = 10,
    reserve: int = 0,
    seed: int = 2026,
    progress: Callable[[str], None] = print,
) -> tuple[Accounts, BuildReport]:
    """Create accounts and load `count` orders (plus a reserve of assignable orders for merchant
    0, when its own unassigned ones are fewer than `reserve`). Call in an app context on an
    empty, migrated database."""
    started = time.perf_counter()
    report = BuildReport()
    found = create_accounts(merchants, suppliers)
    keyring = current_keyring()
    now = datetime.now(UTC)
    progress(f"receiver pool of {RECEIVER_POOL:,} …")
    pool = build_pool(RECEIVER_POOL, seed)
    writer = OrderWriter(keyring, pool, found, now, seed + 1)
    engine = db.engine
    db.session.remove()
    dropped = _droppable_indexes(engine)
    with engine.begin() as conn:
        for name, _ddl in dropped:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    loader = BulkLoader(engine)
    plans = list(plan_orders(count, merchants, suppliers, seed))
    eligible = sum(1 for p in plans if p.merchant == 0 and p.stage == "unassigned")
    # About 94% of unassigned orders are assignable (holds, cancellations, bad addresses).
    shortfall = max(0, int(reserve / 0.93) + 50 - eligible)
    plans += [OrderPlan(0, None, "unassigned", 60.0 * (shortfall - i)) for i in range(shortfall)]
    report.reserve_added = shortfall
    tick = time.perf_counter()
    for order_id, plan in enumerate(plans, start=1):
        order_row, line_row, assignments, events, parcels, order_parcels = writer.rows(
            order_id, plan
        )
        loader.add("orders", ORDER_COLUMNS, [order_row])
        loader.add("order_lines", LINE_COLUMNS, [line_row])
        loader.add("assignments", ASSIGNMENT_COLUMNS, assignments)
        loader.add("order_events", EVENT_COLUMNS, events)
        loader.add("parcels", PARCEL_COLUMNS, parcels)
        loader.add("order_parcels", ORDER_PARCEL_COLUMNS, order_parcels)
        report.assignments += len(assignments)
        report.events += len(events)
        report.parcels += len(parcels)
        if order_id % 100_000 == 0:
            rate = order_id / (time.perf_counter() - tick)
            progress(f"  {order_id:,}/{len(plans):,} orders ({rate:,.0f}/s)")
    price_rows = prices(found, pool, now, seed + 2)
    loader.add("prices", PRICE_COLUMNS, price_rows)
    loader.finish()
    report.orders = len(plans)
    report.prices = len(price_rows)
    progress(f"rebuilding {len(dropped)} indexes …")
    with engine.begin() as conn:
        for _name, ddl in dropped:
            conn.exec_driver_sql(ddl)
    _set_sequences(engine)
    progress("analyze …")
    analyze(engine)
    verify_sample(engine, keyring, pool, seed)
    report.stages = dict(writer.stage_counts)
    report.seconds = time.perf_counter() - started
    return found, report


def verify_sample(engine: Engine, keyring: KeyRing, pool: Sequence[PoolEntry], seed: int) -> None:
    """Decrypt a sample of the loaded orders with the portal's own code; refuse a bad build."""
    names = {entry.name for entry in pool}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT merchant_id, order_no, name_enc, phone_enc, detail_enc FROM orders "
                "WHERE id % 997 = :r LIMIT 200"
            ),
            {"r": seed % 997},
        ).all()
        conn.rollback()
    for row in rows:
        name, _phone, _detail = reveal_receiver(keyring, *row)
        if name not in names:
            raise SystemExit(f"order {row.order_no}: decrypted name not from the pool")


def check_schema_matches(engine: Engine) -> None:
    """The bulk loader writes the model's columns: refuse a database that has others."""
    inspector = inspect(engine)
    for table, columns in (
        ("orders", ORDER_COLUMNS),
        ("order_lines", LINE_COLUMNS),
        ("assignments", ASSIGNMENT_COLUMNS),
        ("parcels", PARCEL_COLUMNS),
    ):
        actual = {c["name"] for c in inspector.get_columns(table)}
        if actual != set(columns):
            raise SystemExit(
                f"table {table}: columns differ from the models ({actual ^ set(columns)})"
            )


def shanghai_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(SHANGHAI).date()


def encode_datetime_for_sqlite() -> None:
    """sqlite3 gets naive datetimes in SQLAlchemy's own storage format (string comparisons in
    queries depend on it). The app never hands datetimes to sqlite3 itself: SQLAlchemy formats
    them first, so this adapter only ever sees the bulk loader's and the raw-SQL section's."""
    import sqlite3

    sqlite3.register_adapter(datetime, lambda d: d.isoformat(" ", "microseconds"))


def summarize(report: BuildReport) -> dict[str, Any]:
    return {
        "orders": report.orders,
        "reserve_added": report.reserve_added,
        "stages": report.stages,
        "assignments": report.assignments,
        "order_events": report.events,
        "parcels": report.parcels,
        "prices": report.prices,
        "build_seconds": round(report.seconds, 1),
    }

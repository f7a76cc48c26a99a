"""ERP webhooks: what a dispatch (or a tracking correction) sends, signed and delivered.

Webhooks. When a merchant has a webhook URL, every dispatch batch stores one WebhookDelivery
per 500 orders in the dispatch's own transaction; the deliveries are enqueued once that
transaction commits (a session `after_commit` hook, so every caller gets it), and a sweeper
re-enqueues whatever is due (retries, or a message the queue lost). Each attempt POSTs the
stored payload bytes unchanged with these headers:

    Content-Type: application/json
    X-Portal-Event: orders.dispatched            (or "ping" for the test event)
    webhook-id: msg_<delivery id>                (the same on every retry: deduplicate on it)
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256(secret, id + "." + timestamp + "." + body)>

That is the Standard Webhooks scheme (standardwebhooks library, `whsec_` secrets): the id is
signed too, so a captured delivery cannot be replayed under a new id. For 24 h after the
merchant rotates the secret, webhook-signature carries both signatures, space-separated.
verify_signature checks as a receiver should (raw bytes, constant time, stale timestamps).
The URL's name is resolved once per attempt; every address must be public (IPv6 forms that
embed or reach IPv4 — ::a.b.c.d, ::ffff:a.b.c.d, NAT64, 6to4, Teredo — and site-local fec0::/10
included) and the connection goes to the address that was checked, with the name kept for
the Host header and TLS (SNI and certificate), so DNS rebinding cannot reach the intranet. Any 2xx
answer is delivered; anything else (or no answer within 10 s, redirects included) is retried
after 1 min, 5 min, 30 min, 2 h and 6 h, and given up after the 6th attempt. Payloads carry
order and tracking numbers only, never buyer data; neither payloads nor secrets are logged.
"""

from __future__ import annotations

import base64
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, event, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, SessionTransaction
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from portal.domain.allocation import chunks
from portal.domain.authz import get_or_404
from portal.domain.couriers import platform_courier_name
from portal.domain.errors import DomainError
from portal.extensions import db
from portal.jobs import queue
from portal.models import Merchant, OrderParcel, Parcel, WebhookDelivery
from portal.models.base import utcnow
from portal.models.dispatch import DELIVERY_DELIVERED, DELIVERY_FAILED, DELIVERY_PENDING

log = logging.getLogger(__name__)

EVENT_ORDERS_DISPATCHED = "orders.dispatched"
EVENT_TRACKING_CHANGED = "orders.tracking_changed"  # a factory corrected a dispatched number
EVENT_PING = "ping"
WEBHOOK_BATCH = 500  # orders per delivery
DELIVER_WEBHOOK = "dispatch.deliver_webhook"
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 6
# Wait after the 1st, 2nd … 5th failed attempt; the 6th failure gives up.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
# A claimed attempt that has not reported back after this long was lost with its worker.
ATTEMPT_LEASE = timedelta(minutes=2)
SWEEP_LIMIT = 500  # deliveries re-enqueued per sweep (the next sweep takes the rest)
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept between timestamp and now
SECRET_OVERLAP = timedelta(hours=24)  # after a rotation, deliveries carry both signatures
RECENT_DELIVERIES = 20
SECRET_PREFIX = "whsec_"  # noqa: S105  (a marker, not a secret)
MAX_URL_LENGTH = 300


# --- webhooks: what is sent --------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _extra_tracking_nos(order_ids: Sequence[int]) -> dict[int, list[str]]:
    """The extra parcels' numbers per order (the primary one is Order.tracking_no)."""
    extras: dict[int, list[str]] = {}
    for chunk in chunks(list(order_ids)):
        rows = db.session.execute(
            select(OrderParcel.order_id, Parcel.tracking_no)
            .join(Parcel, Parcel.id == OrderParcel.parcel_id)
            .where(OrderParcel.order_id.in_(chunk), OrderParcel.is_primary.is_(False))
            .order_by(OrderParcel.order_id, Parcel.id)
        )
        for order_id, tracking_no in rows:
            extras.setdefault(order_id, []).append(tracking_no)
    return extras


def store_dispatch_webhooks(merchant: Merchant, rows: Sequence[Row], now: datetime) -> list[int]:
    if not merchant.webhook_url:
        return []
    extras = _extra_tracking_nos([row.id for row in rows])
    payloads = []
    for chunk in chunks(list(rows), WEBHOOK_BATCH):
        payloads.append(
            {
                "event": EVENT_ORDERS_DISPATCHED,
                "merchant_shop_id": merchant.shop_id,
                "dispatched_at": _iso(now),
                "orders": [
                    {
                        "order_no": row.order_no,
                        "courier": row.courier,
                        "courier_name": platform_courier_name(row.courier),
                        "tracking_no": row.tracking_no,
                        "extra_tracking_nos": extras.get(row.id, []),
                    }
                    for row in chunk
                ],
            }
        )
    return _store_deliveries(merchant, EVENT_ORDERS_DISPATCHED, payloads, now)


def store_tracking_changed_webhook(
    merchant: Merchant,
    order_id: int,
    order_no: str,
    previous: tuple[str, str],
    current: tuple[str, str],
    now: datetime,
) -> list[int]:
    """orders.tracking_changed: the number the platform must be told instead, (courier, number)
    before and after; sent like a dispatch, signed, once the caller's transaction commits."""
    if not merchant.webhook_url:
        return []
    payload = {
        "event": EVENT_TRACKING_CHANGED,
        "merchant_shop_id": merchant.shop_id,
        "changed_at": _iso(now),
        "orders": [
            {
                "order_no": order_no,
                "courier": current[0],
                "courier_name": platform_courier_name(current[0]),
                "tracking_no": current[1],
                "extra_tracking_nos": _extra_tracking_nos([order_id]).get(order_id, []),
                "previous_courier": previous[0],
                "previous_tracking_no": previous[1],
            }
        ],
    }
    return _store_deliveries(merchant, EVENT_TRACKING_CHANGED, [payload], now)


def _store_deliveries(
    merchant: Merchant, event_name: str, payloads: Sequence[dict[str, Any]], now: datetime
) -> list[int]:
    ids = list(
        db.session.scalars(
            insert(WebhookDelivery).returning(WebhookDelivery.id, sort_by_parameter_order=True),
            [
                {
                    "merchant_id": merchant.id,
                    "event": event_name,
                    "url": merchant.webhook_url,
                    "payload": _json(payload),
                    "status": DELIVERY_PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": "",
                    "created_at": now,
                }
                for payload in payloads
            ],
        )
    )
    _enqueue_after_commit(ids)
    return ids


# Deliveries stored in the session's current transaction, enqueued once it commits: a worker
# must never look for a row that is not committed yet (or that a rollback took away).
_PENDING_KEY = "portal.domain.dispatch.webhooks_to_enqueue"


def _enqueue_after_commit(delivery_ids: Iterable[int]) -> None:
    db.session.info.setdefault(_PENDING_KEY, []).extend(delivery_ids)


@event.listens_for(db.session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released: the outer transaction is still open
    for delivery_id in session.info.pop(_PENDING_KEY, ()):
        queue_webhook(delivery_id)


@event.listens_for(db.session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


def queue_webhook(delivery_id: int, attempts: int = 0) -> None:
    """Hand a delivery attempt to the workers; if the queue is down, a sweep enqueues it."""
    try:
        queue.enqueue(DELIVER_WEBHOOK, delivery_id, attempts)
    except Exception as exc:
        log.warning(
            "webhook delivery %s not enqueued (%s); a sweep will retry",
            delivery_id,
            type(exc).__name__,
        )


# --- webhooks: signing and sending -----------------------------------------------------------


def sign(secret: str, msg_id: str, timestamp: str | int, body: bytes | str) -> str:
    """One Standard Webhooks signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">."""
    moment = datetime.fromtimestamp(int(timestamp), UTC)
    return Webhook(secret).sign(msg_id, moment, body)


def signature_header(secrets_: Sequence[str], msg_id: str, timestamp: str, body: bytes) -> str:
    """webhook-signature: one signature per secret in force, space-separated."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: int | None = SIGNATURE_TOLERANCE,
    now: datetime | None = None,
) -> bool:
    """Check a webhook as a receiver should: the signature over id, timestamp and the raw body,
    compared in constant time, and a timestamp no more than `tolerance` seconds away from now
    (None: no check). Any of the space-separated signatures may match (secret rotation)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    msg_id, stamp, signatures = (
        (lowered.get(name) or "").strip()
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not (secret and msg_id and signatures and stamp.isascii() and stamp.isdigit()):
        return False
    if tolerance is not None:
        current = (now or utcnow()).timestamp()
        if abs(current - int(stamp)) > tolerance:
            return False
    try:
        expected = sign(secret, msg_id, stamp, body).encode()
    except (ValueError, TypeError, EmptyWebhookSecretError):  # not a base64 secret
        return False
    return any(hmac.compare_digest(expected, given.encode()) for given in signatures.split())


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    final: bool = False  # no point retrying (the webhook was switched off)


# Besides what ipaddress calls not global: IPv6 ranges that embed or route to IPv4 addresses
# (the IPv4 inside may be private or loopback) and the old site-local range.
_FORBIDDEN_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # IPv4-compatible (::127.0.0.1)
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",  # local-use NAT64
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "fec0::/10",  # site-local
    )
)


def is_forbidden_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address a webhook must never reach: anything not public, in any of its forms."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_forbidden_address(address.ipv4_mapped)
        if any(address in network for network in _FORBIDDEN_V6):
            return True
    return not address.is_global


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked; the URL's name stays in the Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address; SNI and the certificate check use the URL's name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def _allow_local() -> bool:
    """http:// to this machine, and non-public addresses: development and tests only."""
    configured = current_app.config.get("WEBHOOK_ALLOW_LOCAL")
    if configured is None:
        return bool(current_app.debug or current_app.testing)
    return bool(configured)


def _is_loopback_name(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_public_literal(host: str) -> bool:
    """False for an IP literal that is not a public address; names are checked when sent."""
    try:
        return not is_forbidden_address(ipaddress.ip_address(host))
    except ValueError:
        return not (_is_loopback_name(host) or host.endswith((".local", ".internal")))


def validate_webhook_url(raw: str | None) -> str:
    """The normalised URL, or "" for none. https only; http:// only to 127.0.0.1/localhost
    where local webhooks are allowed (development, tests)."""
    url = unicodedata.normalize("NFKC", raw or "").strip()
    if not url:
        return ""
    invalid = DomainError("invalid_webhook_url", field="webhook_url")
    if len(url) > MAX_URL_LENGTH or not url.isascii() or any(c.isspace() for c in url):
        raise invalid
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise invalid from None
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise invalid
    if parts.fragment:
        raise invalid
    local = _allow_local()
    if scheme == "http" and not (local and _is_loopback_name(host)):
        raise invalid
    if not local and not _is_public_literal(host):
        raise invalid
    return url


def _checked_address(url: str) -> tuple[str, str]:
    """(address to connect to, "") or ("", why this URL must not be called now).

    The name is resolved once: the address connected to is the one checked here."""
    parts = urlsplit(url)
    local = _allow_local()
    if parts.scheme != "https" and not local:
        return "", _("回调地址必须使用 https")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname or "", port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    except (OSError, UnicodeError, ValueError):
        return "", _("无法解析回调地址的域名")
    if not addresses:
        return "", _("无法解析回调地址的域名")
    if not local and any(is_forbidden_address(address) for address in addresses):
        return "", _("回调地址指向内网或本机地址，已拒绝发送")
    return str(addresses[0]), ""


def _destination_refusal(url: str) -> str:
    """Why this URL must not be called now (its name may resolve to a private address)."""
    return _checked_address(url)[1]


def _post(url: str, headers: dict[str, str], body: bytes) -> _Outcome:
    address, refusal = _checked_address(url)
    if refusal:
        return _Outcome(False, None, refusal)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    pinned = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    connection = pinned(parts.hostname or "", port, address, TIMEOUT_SECONDS)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        # http.client never follows a redirect: a 3xx is an answer (not delivered).
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        response.read(64 * 1024)
    except TimeoutError:
        return _Outcome(False, None, _("%(n)d 秒内无应答", n=TIMEOUT_SECONDS))
    except (OSError, HTTPException, ValueError) as error:
        return _Outcome(False, None, _("无法连接：%(kind)s", kind=type(error).__name__))
    finally:
        connection.close()
    if 200 <= status < 300:
        return _Outcome(True, status)
    return _Outcome(False, status, f"HTTP {status}")


def secrets_in_force(
    secret: str, previous: str, rotated_at: datetime | None, now: datetime
) -> list[str]:
    """The current secret, and for SECRET_OVERLAP after a rotation the previous one too."""
    overlap = previous and rotated_at is not None and now - rotated_at < SECRET_OVERLAP
    return [secret, previous] if overlap else [secret]


def _send(
    delivery_id: int,
    event_name: str,
    url: str,
    signing: Sequence[str],
    payload: str,
    now: datetime,
) -> _Outcome:
    if not url:
        return _Outcome(False, None, _("接口回调已关闭，不再发送"), final=True)
    if not signing or not signing[0]:
        return _Outcome(False, None, _("未设置签名密钥"))
    body = payload.encode("utf-8")
    timestamp = str(int(now.timestamp()))
    msg_id = f"msg_{delivery_id}"
    try:
        signature = signature_header(signing, msg_id, timestamp, body)
    except (ValueError, TypeError, EmptyWebhookSecretError):
        return _Outcome(False, None, _("签名密钥无效，请重新生成"))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "daifa-portal-webhook/2",
        "X-Portal-Event": event_name,
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    return _post(url, headers, body)


def attempt_delivery(delivery_id: int, attempts: int, now: datetime | None = None) -> str | None:
    """Make attempt number `attempts + 1` of a delivery; the new status, or None when another
    worker already made that attempt (or the delivery is finished).

    The claim is a compare-and-set on (status pending, attempts): duplicate queue messages and
    concurrent sweepers send each attempt once. No transaction stays open during the POST.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    found = db.session.execute(
        select(
            WebhookDelivery.event,
            WebhookDelivery.payload,
            Merchant.webhook_url,
            Merchant.webhook_secret,
            Merchant.webhook_previous_secret,
            Merchant.webhook_secret_rotated_at,
        )
        .join(Merchant, Merchant.id == WebhookDelivery.merchant_id)
        .where(WebhookDelivery.id == delivery_id)
    ).first()
    if found is None:
        db.session.rollback()
        return None
    started = clock()
    values: dict[str, Any] = {"attempts": attempts + 1, "next_attempt_at": started + ATTEMPT_LEASE}
    if found.webhook_url:
        values["url"] = found.webhook_url  # a corrected URL applies to pending retries too
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DELIVERY_PENDING,
            WebhookDelivery.attempts == attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return None
    signing = secrets_in_force(
        found.webhook_secret,
        found.webhook_previous_secret,
        found.webhook_secret_rotated_at,
        started,
    )
    outcome = _send(delivery_id, found.event, found.webhook_url, signing, found.payload, started)
    attempt = attempts + 1
    finished = clock()
    if outcome.ok:
        log.info("webhook delivery %s delivered (attempt %s)", delivery_id, attempt)
        status = DELIVERY_DELIVERED
        result: dict[str, Any] = {"delivered_at": finished, "next_attempt_at": None}
    elif outcome.final or attempt >= MAX_ATTEMPTS:
        log.warning("webhook delivery %s failed for good after %s attempts", delivery_id, attempt)
        status, result = DELIVERY_FAILED, {"next_attempt_at": None}
    else:
        log.info("webhook delivery %s attempt %s failed; will retry", delivery_id, attempt)
        status = DELIVERY_PENDING
        result = {"next_attempt_at": finished + BACKOFF[attempt - 1]}
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DELIVERY_PENDING,
            WebhookDelivery.attempts == attempt,
        )
        .values(
            status=status,
            last_status_code=outcome.status_code,
            last_error=outcome.error[:300],
            **result,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return status


@queue.task(DELIVER_WEBHOOK)
def deliver_webhook(delivery_id: int, attempts: int = 0) -> None:
    """The task body: one attempt (a duplicate message for the same attempt does nothing)."""
    attempt_delivery(delivery_id, attempts)


@queue.sweeper
def requeue_due_webhooks(now: datetime | None = None) -> list[int]:
    """Enqueue the deliveries whose next attempt is due: retries, lost messages, and attempts
    whose worker died. Each is moved forward with a compare-and-set first, so two sweepers
    running at once enqueue it once."""
    now = now or utcnow()
    due = db.session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .where(
            WebhookDelivery.status == DELIVERY_PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(SWEEP_LIMIT)
    ).all()
    requeued: list[tuple[int, int]] = []
    for delivery_id, attempts in due:
        still_due = and_(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DELIVERY_PENDING,
            WebhookDelivery.attempts == attempts,
            WebhookDelivery.next_attempt_at <= now,
        )
        if attempts >= MAX_ATTEMPTS:
            # Its last attempt was claimed and never reported back: give up as it would have.
            values: dict[str, Any] = {
                "status": DELIVERY_FAILED,
                "next_attempt_at": None,
                "last_error": _("发送中断"),
            }
        else:
            values = {"next_attempt_at": now + ATTEMPT_LEASE}
        moved = db.session.execute(
            update(WebhookDelivery)
            .where(still_due)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved == 1 and attempts < MAX_ATTEMPTS:
            requeued.append((delivery_id, attempts))
    db.session.commit()
    for delivery_id, attempts in requeued:
        queue_webhook(delivery_id, attempts)
    return [delivery_id for delivery_id, _attempts in requeued]


# --- webhooks: the merchant's settings -------------------------------------------------------


def new_webhook_secret() -> str:
    """whsec_ and 32 random bytes in base64 (the Standard Webhooks secret format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def set_webhook_url(merchant: Merchant, url: str | None) -> str | None:
    """Save (or with "" switch off) the webhook URL. Returns a newly generated signing secret
    when the merchant had none yet (to be shown once), else None."""
    merchant.webhook_url = validate_webhook_url(url)
    if merchant.webhook_url and not merchant.webhook_secret:
        merchant.webhook_secret = new_webhook_secret()
        db.session.flush()
        return merchant.webhook_secret
    db.session.flush()
    return None


def rotate_webhook_secret(merchant: Merchant, now: datetime | None = None) -> str:
    """A new signing secret, in force from the next attempt on (retries included); for
    SECRET_OVERLAP deliveries are signed with the old one as well, while receivers switch."""
    merchant.webhook_previous_secret = merchant.webhook_secret
    merchant.webhook_secret_rotated_at = now or utcnow()
    merchant.webhook_secret = new_webhook_secret()
    db.session.flush()
    return merchant.webhook_secret


def masked_secret(secret: str) -> str:
    return f"{SECRET_PREFIX}…{secret[-4:]}" if secret else ""


def send_test_event(merchant: Merchant, now: datetime | None = None) -> int:
    """Queue a signed "ping" to the merchant's URL (sent after the caller commits)."""
    if not merchant.webhook_url:
        raise DomainError("webhook_not_configured", field="webhook_url")
    now = now or utcnow()
    payload = {"event": EVENT_PING, "merchant_shop_id": merchant.shop_id, "sent_at": _iso(now)}
    [delivery_id] = _store_deliveries(merchant, EVENT_PING, [payload], now)
    return delivery_id


def recent_deliveries(merchant: Merchant, limit: int = RECENT_DELIVERIES) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.merchant_id == merchant.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def retry_delivery(merchant: Merchant, delivery_id: int, now: datetime | None = None) -> None:
    """Send a failed delivery again, with a fresh round of attempts (after the commit)."""
    delivery = get_or_404(WebhookDelivery, merchant, id=delivery_id)
    if not merchant.webhook_url:
        raise DomainError("webhook_not_configured", field="webhook_url")
    changed = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == DELIVERY_FAILED)
        .values(status=DELIVERY_PENDING, attempts=0, next_attempt_at=now or utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise DomainError("webhook_delivery_not_failed")
    db.session.refresh(delivery)
    _enqueue_after_commit([delivery.id])

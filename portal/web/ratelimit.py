"""Per-token API rate limit: API_RATE_LIMIT requests a second, bursts of API_RATE_BURST.

The generic cell rate algorithm (GCRA): each token has a theoretical arrival time (TAT); a
request is allowed when max(TAT, now) + interval − now ≤ interval × burst, and moves the TAT
on by one interval. One compare-and-set per request, kept where every process sees it:

- in the database (the default): `UPDATE api_tokens SET rate_tat = … WHERE token_hash = …
  AND <live> AND <fits>`, in the request's own transaction: a writing request holds the write
  lock anyway; a read writes it first (transactions.write_first), reads its token in the same
  transaction and ends it (one transaction for both, /api/v1/me ~0.1 ms less than a short
  transaction of its own for the count);
- in Redis when API_RATE_LIMIT_REDIS_URL is set: the same arithmetic in one Lua script, keyed
  by the token's hash.

The request is counted before its token is read, by the token's hash: on SQLite a write by
another connection empties the page cache of the one that reads, and a deferred transaction
that writes before it reads waits for the lock like BEGIN IMMEDIATE (one that read first could
not). An unknown token matches no row (nothing is written); in Redis its hash is counted and
expires with the window.

A refused request is told how many seconds until one more fits (429, Retry-After). When the
store cannot be reached the request is let through (logged): the limit protects the service,
it must not take it down.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import redis
from flask import current_app
from sqlalchemy import Update, bindparam, case, func, update

from portal.domain.errors import DomainError
from portal.extensions import db
from portal.models import ApiToken
from portal.transactions import may_write, write_first

log = logging.getLogger(__name__)

MICROS = 1_000_000
# KEYS[1] the token's TAT; ARGV now, interval, window (all µs). Returns 0, or µs to wait.
GCRA_SCRIPT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > window then return new_tat - window - now end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(window / 1000) + 1000)
return 0
"""


@dataclass(frozen=True)
class Limit:
    interval: int  # µs between two requests, sustained
    window: int  # µs of requests that may come at once (interval × burst)


def current_limit() -> Limit | None:
    rate = float(current_app.config.get("API_RATE_LIMIT") or 0)
    if rate <= 0:
        return None
    interval = max(1, round(MICROS / rate))
    burst = max(1, int(current_app.config.get("API_RATE_BURST") or 1))
    return Limit(interval, interval * burst)


@dataclass(frozen=True)
class Counted:
    """One request counted: whether it fits, and when it does not, the µs until one more
    does (None: the database refused it, the token's rate_tat read after tells)."""

    fits: bool
    wait: int | None = None
    now_us: int = 0
    limit: Limit | None = None
    # Counted by a write in the read-only request's own transaction (transactions.write_first):
    # the caller ends that transaction once it has read the token.
    in_transaction: bool = False


FITS = Counted(fits=True)


def count_api_request(token_hash: str, now: datetime) -> Counted:
    """Count one request of the token with this hash (before the token is read)."""
    limit = current_limit()
    if limit is None:
        return FITS
    now_us = int(now.timestamp() * MICROS)
    url = current_app.config.get("API_RATE_LIMIT_REDIS_URL")
    if url:
        wait = _redis_wait(url, token_hash, now_us, limit)
        return FITS if wait <= 0 else Counted(fits=False, wait=wait, now_us=now_us)
    taken = _db_take(token_hash, now_us, limit)
    in_transaction = taken is not None and not may_write()
    if taken is None or taken:
        return Counted(fits=True, in_transaction=in_transaction)
    return Counted(fits=False, now_us=now_us, limit=limit, in_transaction=in_transaction)


def check_api_rate(counted: Counted, rate_tat: int | None) -> None:
    """Refuse a request that did not fit (429, Retry-After); `rate_tat`: the token's, as read
    after the count."""
    if counted.fits:
        return
    wait, limit, now_us = counted.wait, counted.limit, counted.now_us
    if wait is None and limit is not None:
        # A read transaction may see the TAT from before the refused write: at least a µs.
        wait = max(1, max(rate_tat or 0, now_us) + limit.interval - limit.window - now_us)
    raise DomainError("api_rate_limited", retry_after=max(1, math.ceil((wait or 1) / MICROS)))


def _take_statement() -> Update:
    """The compare-and-set, built once with bound values (every API request runs it: building
    and compiling it anew cost five times what SQLite takes to run it)."""
    tat = func.coalesce(ApiToken.rate_tat, 0)
    now = bindparam("now_us")
    start = case((tat > now, tat), else_=now)
    return (
        update(ApiToken)
        .where(
            ApiToken.token_hash == bindparam("hash"),
            ApiToken.revoked_at.is_(None),
            start + bindparam("interval") - now <= bindparam("window"),
        )
        .values(rate_tat=start + bindparam("interval"))
        .execution_options(synchronize_session=False)
    )


TAKE = _take_statement()


def _db_take(token_hash: str, now_us: int, limit: Limit) -> bool | None:
    """Whether the request fits (then it is counted); False also for no such live token, None
    when the database was busy (the request is let through, uncounted)."""
    params = {
        "hash": token_hash,
        "now_us": now_us,
        "interval": limit.interval,
        "window": limit.window,
    }
    if may_write():
        # This request holds the write lock already: count it in its own transaction.
        taken = db.session.execute(TAKE, params).rowcount
    else:
        result = write_first(TAKE, "API rate limit", params)
        if result is None:
            return None  # the database is busy: let it through
        taken = result.rowcount
    return bool(taken)


@cache
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _redis_wait(url: str, token_hash: str, now_us: int, limit: Limit) -> int:
    try:
        client = _redis_client(url)
        return int(
            client.eval(
                GCRA_SCRIPT,
                1,
                f"portal:api-rate:{token_hash}",
                now_us,
                limit.interval,
                limit.window,
            )
        )
    except redis.RedisError as error:
        log.warning("API rate limit not counted (Redis: %s)", type(error).__name__)
        return 0

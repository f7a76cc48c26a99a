"""Per-token API rate limit: API_RATE_LIMIT requests a second, bursts of API_RATE_BURST.

The generic cell rate algorithm (GCRA): each token has a theoretical arrival time (TAT); a
request is allowed when max(TAT, now) + interval − now ≤ interval × burst, and moves the TAT
on by one interval. One compare-and-set per request, kept where every process sees it:

- in the database (the default): `UPDATE api_tokens SET rate_tat = … WHERE id = … AND <fits>`,
  in the request's own transaction when it writes anyway, else in a short one of its own;
- in Redis when API_RATE_LIMIT_REDIS_URL is set: the same arithmetic in one Lua script.

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
from sqlalchemy import Update, bindparam, case, func, select, update

from portal.domain.errors import DomainError
from portal.extensions import db
from portal.models import ApiToken
from portal.transactions import may_write, write_apart

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


def check_api_rate(token_id: int, now: datetime) -> None:
    """Count one request of this token; refuse it (429, Retry-After) when over the limit."""
    limit = current_limit()
    if limit is None:
        return
    now_us = int(now.timestamp() * MICROS)
    url = current_app.config.get("API_RATE_LIMIT_REDIS_URL")
    wait = _redis_wait(url, token_id, now_us, limit) if url else _db_wait(token_id, now_us, limit)
    if wait > 0:
        raise DomainError("api_rate_limited", retry_after=max(1, math.ceil(wait / MICROS)))


def _take_statement() -> Update:
    """The compare-and-set, built once with bound values (every API request runs it: building
    and compiling it anew cost five times what SQLite takes to run it)."""
    tat = func.coalesce(ApiToken.rate_tat, 0)
    now = bindparam("now_us")
    start = case((tat > now, tat), else_=now)
    return (
        update(ApiToken)
        .where(
            ApiToken.id == bindparam("token_id"),
            start + bindparam("interval") - now <= bindparam("window"),
        )
        .values(rate_tat=start + bindparam("interval"))
        .execution_options(synchronize_session=False)
    )


TAKE = _take_statement()


def _db_wait(token_id: int, now_us: int, limit: Limit) -> int:
    params = {
        "token_id": token_id,
        "now_us": now_us,
        "interval": limit.interval,
        "window": limit.window,
    }
    if may_write():
        # This request holds the write lock already: count it in its own transaction.
        taken = db.session.execute(TAKE, params).rowcount
    else:
        result = write_apart(TAKE, "API rate limit", params)
        if result is None:
            return 0  # the database is busy: let it through
        taken = result.rowcount
    if taken:
        return 0
    current = db.session.scalar(select(ApiToken.rate_tat).where(ApiToken.id == token_id)) or 0
    # A read transaction may see the TAT from before the refused write: it waits at least a µs.
    return max(1, max(current, now_us) + limit.interval - limit.window - now_us)


@cache
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _redis_wait(url: str, token_id: int, now_us: int, limit: Limit) -> int:
    try:
        client = _redis_client(url)
        return int(
            client.eval(
                GCRA_SCRIPT, 1, f"portal:api-rate:{token_id}", now_us, limit.interval, limit.window
            )
        )
    except redis.RedisError as error:
        log.warning("API rate limit not counted (Redis: %s)", type(error).__name__)
        return 0

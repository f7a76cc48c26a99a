"""Upkeep the worker does by itself: the SQLite query planner's statistics.

PostgreSQL's autovacuum analyses tables as they change. SQLite never does: without
`sqlite_stat1` its planner guesses from the index shapes, and it guessed wrong for the desk's
待分配 count under a supplier filter (the 6-column partial index looked most selective: 36 ms
at a million orders, against 0.07 ms on the (merchant, supplier, stage) index it takes once it
has statistics). A sampled ANALYZE (`analysis_limit`) takes milliseconds at any size, so the
worker runs one when it starts and then every hour.
"""

from __future__ import annotations

import threading
import time

from flask import current_app

from portal.extensions import db
from portal.jobs import queue

EVERY_SECONDS = 3600
# rows ANALYZE samples per index; SQLite's documented range for this use is 100–1000
ANALYSIS_LIMIT = 1000

STATE_KEY = "portal.domain.maintenance"


def refresh_statistics() -> bool:
    """Refresh the planner's statistics; False where the database does it itself."""
    if db.engine.dialect.name != "sqlite":
        return False
    with db.engine.connect() as connection:
        connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        connection.exec_driver_sql("ANALYZE")
        connection.exec_driver_sql("PRAGMA analysis_limit=0")
        connection.commit()
    return True


@queue.sweeper
def keep_statistics_fresh() -> None:
    """Sweepers run at worker start-up and every minute; the statistics need an hourly pass."""
    state = current_app.extensions.setdefault(STATE_KEY, {"lock": threading.Lock(), "next": 0.0})
    now = time.monotonic()
    with state["lock"]:
        if now < state["next"]:
            return
        state["next"] = now + EVERY_SECONDS
    refresh_statistics()

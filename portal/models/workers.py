"""Job workers' heartbeats: whether anything is consuming the queue right now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, UTCDateTime

WORKER_EMBEDDED = "embedded"  # the worker thread of a web process (SQLite queue)
WORKER_CONSUMER = "consumer"  # `flask --app wsgi portal worker`


class WorkerHeartbeat(Base):
    """One row per worker process, stamped every few seconds while it runs."""

    __tablename__ = "worker_heartbeats"

    # host:pid:kind, so a restarted worker gets a row of its own and old rows simply age.
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)

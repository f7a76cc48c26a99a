"""Background jobs on Huey: an embedded SQLite queue with an in-process worker, or Redis workers.

Embedded default (no ``QUEUE_URL``): a SqliteHuey file (``QUEUE_FILE``, else
``<instance>/queue.db``) consumed by one worker thread inside each web process, started lazily
by the process's first request (``EMBEDDED_WORKER``, on by default): under any server, and under
the debug reloader only in the serving child, since the watching parent serves no request.
Scale-out (``PORTAL_QUEUE_URL=redis://…``): RedisHuey, consumed by separate
``flask --app wsgi portal worker`` processes; web processes only enqueue.

Every worker (the embedded thread, each `portal worker` process) stamps a heartbeat row every
few seconds: a job queued for over a minute with no live heartbeat is a queue nobody consumes,
and the import and statement pages and `portal check` say so (``worker_missing``).

Tasks carry only integer ids, never buyer data: the task body loads what it needs from the
database inside its own app context. Task bodies must be idempotent, because a job left
behind by a crashed worker is enqueued again by the sweepers (run on worker start-up and
every minute), and a task may be delivered more than once.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask, current_app
from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey, TaskWrapper
from huey.consumer import Scheduler, Worker

from portal.extensions import db, dialect_insert
from portal.models.base import utcnow
from portal.models.workers import WORKER_CONSUMER, WORKER_EMBEDDED, WorkerHeartbeat

log = logging.getLogger(__name__)

EXTENSION_KEY = "portal.queue"
SWEEP_TASK = "portal.sweep"
# An idle embedded worker polls the SQLite queue at most this often (seconds).
EMBEDDED_MAX_POLL_DELAY = 1.0
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# A worker stamps its heartbeat this often; one not stamped for WORKER_STALE is gone.
HEARTBEAT_INTERVAL = 15.0  # seconds
WORKER_STALE = timedelta(seconds=90)
# A job queued this long without a live worker is worth a word on its page.
QUEUE_WAIT_WARNING = timedelta(minutes=1)
HEARTBEATS_KEPT = timedelta(days=1)  # older rows (workers long stopped) are deleted


@dataclass
class _AppQueue:
    """One app's Huey instance (built on first use) and its embedded worker, if any."""

    app: Flask
    registry: JobQueue
    lock: threading.Lock = field(default_factory=threading.Lock)
    huey: Huey | None = None
    tasks: dict[str, TaskWrapper] = field(default_factory=dict)
    worker: EmbeddedWorker | None = None
    worker_pid: int | None = None


class JobQueue:
    """Registry of job functions and sweepers; bound to each app with init_app."""

    def __init__(self) -> None:
        self._functions: dict[str, Callable[..., None]] = {}
        self._sweepers: list[Callable[[], object]] = []

    # --- registration (module import time) -------------------------------------------------

    def task(self, name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Register a job body under a stable name; it runs in an app context with int ids."""

        def decorator(func: Callable[..., None]) -> Callable[..., None]:
            if name in self._functions:
                raise ValueError(f"job {name!r} is registered twice")
            self._functions[name] = func
            return func

        return decorator

    def sweeper(self, func: Callable[[], object]) -> Callable[[], object]:
        """Register a function that re-enqueues abandoned jobs (worker start-up, every minute)."""
        self._sweepers.append(func)
        return func

    # --- per app -----------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION_KEY] = _AppQueue(app, self)
        if app.config.get("EMBEDDED_WORKER") and is_embedded(app):

            @app.before_request
            def start_embedded_worker_once() -> None:
                start_embedded_worker(app)

    def _state(self, app: Flask | None = None) -> _AppQueue:
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        return app.extensions[EXTENSION_KEY]

    def huey(self, app: Flask | None = None) -> Huey:
        """The app's Huey, created on first use (so tests that never enqueue touch no file)."""
        state = self._state(app)
        with state.lock:
            if state.huey is None:
                state.huey = self._build(state)
            return state.huey

    def _build(self, state: _AppQueue) -> Huey:
        app = state.app
        name = str(app.config.get("QUEUE_NAME") or "portal")
        url = app.config.get("QUEUE_URL")
        if is_embedded(app):
            if app.testing and not app.config.get("QUEUE_FILE"):
                # Never let a test enqueue into the developer's real instance queue.
                raise RuntimeError("tests using the job queue must set QUEUE_FILE to a temp file")
            path = Path(app.config.get("QUEUE_FILE") or Path(app.instance_path) / "queue.db")
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            huey: Huey = SqliteHuey(name, filename=str(path), results=False)
        elif str(url).startswith(REDIS_SCHEMES):
            huey = RedisHuey(name, url=str(url), results=False)
        else:
            raise RuntimeError("PORTAL_QUEUE_URL must be a redis:// URL (or unset: embedded queue)")
        for job_name, func in self._functions.items():
            state.tasks[job_name] = huey.task(name=job_name)(_in_app_context(app, job_name, func))
        sweep = _in_app_context(app, SWEEP_TASK, self._sweep_all)
        huey.periodic_task(crontab(), name=SWEEP_TASK)(sweep)
        huey.on_startup(SWEEP_TASK)(sweep)
        return huey

    def enqueue(self, name: str, *ids: int, app: Flask | None = None) -> None:
        """Queue job `name` for these ids. Only ints travel through the queue."""
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise TypeError("jobs carry only integer ids")
        self.huey(app)
        self._state(app).tasks[name](*ids)

    def pending_count(self, app: Flask | None = None) -> int:
        return self.huey(app).pending_count()

    def run_pending(self, app: Flask | None = None, *, limit: int | None = None) -> int:
        """Run queued tasks in this thread until the queue is empty (tests, `worker --burst`)."""
        huey = self.huey(app)
        count = 0
        while limit is None or count < limit:
            task = huey.dequeue()
            if task is None:
                break
            huey.execute(task)
            count += 1
        return count

    def sweep(self, app: Flask) -> None:
        """Run every sweeper now, in a fresh app context (as the worker does)."""
        with app.app_context():
            self._sweep_all()

    def _sweep_all(self) -> None:
        for sweeper in self._sweepers:
            sweeper()

    def run_consumer(self, app: Flask, *, workers: int = 2) -> None:
        """Consume in the foreground until SIGINT/SIGTERM (the `portal worker` command)."""
        huey = self.huey(app)
        consumer = huey.create_consumer(
            workers=workers,
            worker_type="thread",
            periodic=True,
            max_delay=EMBEDDED_MAX_POLL_DELAY,
            check_worker_health=True,
        )
        heartbeat = Heartbeat(app, WORKER_CONSUMER, threading.Event())
        heartbeat.start()
        try:
            consumer.run()
        finally:
            heartbeat.stop()


def is_embedded(app: Flask) -> bool:
    return app.config.get("QUEUE_URL") in (None, "", "sqlite")


def _in_app_context(app: Flask, name: str, func: Callable[..., object]) -> Callable[..., None]:
    """Run a job body in a fresh app context (its own session), never leaking its error text."""

    def run(*ids: int) -> None:
        with app.app_context():
            try:
                func(*ids)
            except Exception as exc:
                db.session.rollback()
                # The type only: messages (SQL parameters, cell values) may carry buyer data.
                log.error("job %s%s failed: %s", name, ids, type(exc).__name__)
            finally:
                db.session.remove()

    run.__module__ = __name__
    run.__qualname__ = run.__name__ = name.replace(".", "_")
    return run


# --- heartbeats ------------------------------------------------------------------------------


class Heartbeat:
    """Stamps this worker's row every HEARTBEAT_INTERVAL until `stop_flag` is set."""

    def __init__(self, app: Flask, kind: str, stop_flag: threading.Event) -> None:
        self.app, self.kind, self.stop_flag = app, kind, stop_flag
        self.name = f"{socket.gethostname()}:{os.getpid()}:{kind}"[:200]
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="portal-heartbeat", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_flag.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self) -> None:
        while True:  # at least one beat, even when stopped at once
            self.beat()
            if self.stop_flag.wait(HEARTBEAT_INTERVAL):
                return

    def beat(self, now: datetime | None = None) -> None:
        """One stamp in its own short transaction; a busy database only skips this one."""
        with self.app.app_context():
            try:
                now = now or utcnow()
                stamp = dialect_insert(WorkerHeartbeat).values(
                    name=self.name, kind=self.kind, beat_at=now
                )
                db.session.execute(
                    stamp.on_conflict_do_update(
                        index_elements=[WorkerHeartbeat.name], set_={"beat_at": now}
                    )
                )
                db.session.execute(
                    db.delete(WorkerHeartbeat).where(
                        WorkerHeartbeat.beat_at < now - HEARTBEATS_KEPT
                    )
                )
                db.session.commit()
            except Exception as exc:
                db.session.rollback()
                log.warning("worker heartbeat not written: %s", type(exc).__name__)
            finally:
                db.session.remove()


def worker_alive(now: datetime) -> bool:
    """Whether some worker stamped its heartbeat lately (any host, any kind)."""
    return (
        db.session.scalar(
            db.select(WorkerHeartbeat.name)
            .where(WorkerHeartbeat.beat_at >= now - WORKER_STALE)
            .limit(1)
        )
        is not None
    )


def worker_missing(oldest_queued_at: datetime | None, now: datetime) -> bool:
    """A job has waited over QUEUE_WAIT_WARNING and no worker is alive to take it."""
    if oldest_queued_at is None or oldest_queued_at > now - QUEUE_WAIT_WARNING:
        return False
    return not worker_alive(now)


# --- the embedded worker ---------------------------------------------------------------------


class EmbeddedWorker:
    """Huey's worker and scheduler loops on two daemon threads of this process.

    Huey's Consumer installs signal handlers, which only the main thread may do and which
    would fight gunicorn's; the loops themselves are all we need.
    """

    def __init__(self, huey: Huey, app: Flask | None = None) -> None:
        self.stop_flag = threading.Event()
        # Stamps the worker's heartbeat while its loops run (they share the stop flag).
        self.heartbeat = Heartbeat(app, WORKER_EMBEDDED, self.stop_flag) if app else None
        self._loops = [
            Worker(
                huey,
                self.stop_flag,
                default_delay=0.1,
                max_delay=EMBEDDED_MAX_POLL_DELAY,
                backoff=1.15,
            ),
            Scheduler(huey, self.stop_flag, interval=1, periodic=True),
        ]
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for loop in self._loops:
            thread = threading.Thread(
                target=self._run, args=(loop,), name=f"portal-{loop.process_name}", daemon=True
            )
            thread.start()
            self.threads.append(thread)
        if self.heartbeat is not None:
            self.heartbeat.start()
            self.threads.append(self.heartbeat.thread)  # type: ignore[arg-type]

    def _run(self, loop: Worker | Scheduler) -> None:
        try:
            loop.initialize()
            while not self.stop_flag.is_set():
                loop.loop()
        except Exception as exc:
            log.error("embedded %s stopped: %s", loop.process_name, type(exc).__name__)
        finally:
            loop.shutdown()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the task in hand; an unfinished import is picked up again by a sweep."""
        self.stop_flag.set()
        for thread in self.threads:
            thread.join(timeout)

    @property
    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.threads)


def start_embedded_worker(app: Flask) -> EmbeddedWorker | None:
    """Start this process's one embedded worker (idempotent; None for the Redis queue)."""
    if not is_embedded(app):
        return None
    state = queue._state(app)
    pid = os.getpid()
    if state.worker is not None and state.worker_pid == pid:
        return state.worker
    huey = queue.huey(app)
    with state.lock:
        # After a fork the parent's threads are gone: the child starts its own worker.
        if state.worker is None or state.worker_pid != pid:
            worker = EmbeddedWorker(huey, app)
            worker.start()
            atexit.register(worker.stop, 2.0)
            state.worker, state.worker_pid = worker, pid
        return state.worker


def stop_embedded_worker(app: Flask) -> None:
    state = queue._state(app)
    with state.lock:
        worker, state.worker, state.worker_pid = state.worker, None, None
    if worker is not None:
        worker.stop()


queue = JobQueue()

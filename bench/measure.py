"""Measuring helpers: timers, percentiles, SQL statement counts, peak memory, profiles."""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import statistics
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 200 samples is the 190th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
    }


@dataclass
class QueryCount:
    statements: int = 0


@contextlib.contextmanager
def counting_statements(engine: Engine) -> Iterator[QueryCount]:
    """How many SQL statements (executemany counts once) the block sent."""
    counter = QueryCount()

    def before(*_args: Any) -> None:
        counter.statements += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except OSError:
        return 0


@dataclass
class RssPeak:
    """Peak resident memory above the level at the start, sampled every few milliseconds."""

    start: int = 0
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def delta_mb(self) -> float:
        return round(max(0, self.peak - self.start) / 2**20, 1)


@contextlib.contextmanager
def sampling_rss(interval: float = 0.005) -> Iterator[RssPeak]:
    peak = RssPeak(start=rss_bytes())
    peak.peak = peak.start

    def sample() -> None:
        while not peak._stop.wait(interval):
            peak.peak = max(peak.peak, rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        peak._stop.set()
        thread.join()
        peak.peak = max(peak.peak, rss_bytes())


@contextlib.contextmanager
def traced_peak() -> Iterator[dict[str, float]]:
    """Peak Python heap of the block (tracemalloc: slow, so never around a timed run)."""
    result: dict[str, float] = {}
    tracemalloc.start()
    try:
        yield result
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["peak_mb"] = round(peak / 2**20, 2)


class Profiler:
    """Optional cProfile around named operations; writes the top functions per operation."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.directory is None:
            yield
            return
        profile = cProfile.Profile()
        profile.enable()
        try:
            yield
        finally:
            profile.disable()
            profile.dump_stats(self.directory / f"{name}.prof")
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out).strip_dirs()
            stats.sort_stats("cumulative").print_stats(40)
            stats.sort_stats("tottime").print_stats(25)
            (self.directory / f"{name}.txt").write_text(out.getvalue())


@contextlib.contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    result: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - started

"""Bounded HTTP load from its own process: N keep-alive connections, each sending its next GET
as soon as the previous answer is read (closed loop), for a fixed time. Standard library only.

    python bench/httpload.py --port 8123 --path /__bench/ping --concurrency 8 --duration 10

Prints one JSON object: requests, errors, statuses, requests per second, latency percentiles.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time


def percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def worker(
    args: argparse.Namespace,
    paths: list[str],
    offset: int,
    start_at: float,
    measure_from: float,
    stop_at: float,
    out: dict,
) -> None:
    headers = {"Connection": "keep-alive", "Accept": "text/html"}
    if args.cookie:
        headers["Cookie"] = args.cookie
    if args.bearer:
        headers["Authorization"] = f"Bearer {args.bearer}"
        headers["Accept"] = "application/json"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    conn = None
    n = offset
    while time.perf_counter() < start_at:
        time.sleep(0.001)
    while True:
        now = time.perf_counter()
        if now >= stop_at:
            break
        path = paths[n % len(paths)]
        n += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            errors += 1
            if conn is not None:
                conn.close()
            conn = None
            continue
        if started >= measure_from:
            latencies.append(elapsed)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    if conn is not None:
        conn.close()
    out["latencies"] = latencies
    out["statuses"] = statuses
    out["errors"] = errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", action="append", required=True, help="repeat to rotate paths")
    parser.add_argument("--cookie", default="")
    parser.add_argument("--bearer", default="", help="an API token (sent instead of a cookie)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    start_at = time.perf_counter() + 0.2
    measure_from = start_at + args.warmup
    stop_at = measure_from + args.duration
    results: list[dict] = [{} for _ in range(args.concurrency)]
    threads = [
        threading.Thread(
            target=worker,
            args=(args, args.path, i, start_at, measure_from, stop_at, results[i]),
            daemon=True,
        )
        for i in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.warmup + args.duration + args.timeout + 5)
    latencies = sorted(x for r in results for x in r.get("latencies", []))
    statuses: dict[str, int] = {}
    for r in results:
        for status, count in r.get("statuses", {}).items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    errors = sum(r.get("errors", 0) for r in results)
    ok = statuses.get("200", 0)
    json.dump(
        {
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "requests": len(latencies),
            "ok": ok,
            "errors": errors,
            "statuses": statuses,
            "rps": round(ok / args.duration, 1),
            "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()

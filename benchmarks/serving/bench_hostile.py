"""Hostile bodies: /health latency and worker RSS while one API worker is posted bodies made
to exhaust it, side by side with the same worker idle. Run inside a rendered project (run.py):

    uv run python <template>/benchmarks/serving/bench_hostile.py [--seconds 10] [--clients 2]
        [--compare before=/path/to/an/older/render]

`python -m src serve --prod --workers 1` is uvicorn without a supervisor: the server process
is the worker whose VmRSS is sampled. A thread probes GET /health for --seconds idle, then for
each body while --clients threads post it over and over. Writes benchmarks/results/hostile.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port, prepare_state, running_server, write_results

JSON = {"Content-Type": "application/json"}
Bodies = dict[str, tuple[str, bytes]]  # label -> (route, body)


def near_limit(build: Callable[[int], bytes], limit: int) -> bytes:
    """build(count) with the largest count (to 2 %) that stays under `limit` bytes."""
    count = limit * 1000 // len(build(1000))
    while len(body := build(count)) >= limit:
        count -= count // 50 + 1
    return body


def hostile_bodies(features: list[str], max_batch: int, limit: int) -> Bodies:
    """The issue's 100,000 empty instances, then bodies filled up to and over the limit."""
    empties = lambda count: b'{"instances": [' + b",".join([b"{}"] * count) + b"]}"  # noqa: E731
    unknown = lambda count: {f"x{i}": 1 for i in range(count)}  # noqa: E731

    def invalid(padding: int) -> bytes:  # every feature a string, unknown names padding them
        record = {"features": {**dict.fromkeys(features, "x"), **unknown(padding)}}
        return json.dumps({"instances": [record] * max_batch}).encode()

    unknown_body = near_limit(
        lambda count: json.dumps({"features": unknown(count)}).encode(), limit
    )
    return {
        "100,000 {} instances": ("/predict/batch", empties(100_000)),
        f"{unknown_body.count(b':') - 1:,} unknown features": ("/predict", unknown_body),
        f"{max_batch:,} invalid records": ("/predict/batch", near_limit(invalid, limit)),
        "twice the body limit": ("/predict/batch", empties(2 * limit // 3)),
    }


def post(port: int, route: str, body: bytes) -> tuple[str, int]:
    """Status and answer bytes; a connection the server closes mid-body counts as 'reset'."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", route, body, JSON)
        answer = connection.getresponse()
        return str(answer.status), len(answer.read())
    except ConnectionError:
        return "reset", 0
    finally:
        connection.close()


def probe_health(port: int, done: threading.Event) -> list[float]:
    """GET /health latencies (ms) over one keep-alive connection, every 10 ms until `done`."""
    connection, latencies = http.client.HTTPConnection("127.0.0.1", port, timeout=120), []
    while not done.wait(0.01):
        started = time.perf_counter()
        connection.request("GET", "/health")
        connection.getresponse().read()
        latencies.append((time.perf_counter() - started) * 1000)
    connection.close()
    return latencies


def measure(
    port: int, pid: int, attack: tuple[str, bytes] | None, seconds: float, clients: int
) -> dict:
    """/health and the worker's peak VmRSS while `clients` threads post `attack` (None: idle)."""
    done, deadline = threading.Event(), time.monotonic() + seconds

    def post_until_deadline() -> Counter[tuple[str, int]]:
        answers: Counter[tuple[str, int]] = Counter()
        while attack and time.monotonic() < deadline:
            answers[post(port, *attack)] += 1
        return answers

    with ThreadPoolExecutor(clients + 1) as pool:
        probe = pool.submit(probe_health, port, done)
        posting = [pool.submit(post_until_deadline) for _ in range(clients)]
        peak_kb = 0  # sampled here: a blocked event loop blocks the probe, not this thread
        while time.monotonic() < deadline or not all(future.done() for future in posting):
            status = Path(f"/proc/{pid}/status").read_text()
            peak_kb = max(peak_kb, int(status.split("VmRSS:")[1].split()[0]))
            time.sleep(0.005)
        done.set()
        answers = sum((future.result() for future in posting), Counter())
        latencies = probe.result()
    return {
        "answers": {f"{status} {size} B": count for (status, size), count in answers.items()},
        "posts": answers.total(), "probes": len(latencies),
        "health_p50_ms": statistics.median(latencies), "health_max_ms": max(latencies),
        "rss_peak_mb": peak_kb / 1024,
    }  # fmt: skip


def bench_server(project: Path, env: dict[str, str], bodies: Bodies, load: tuple) -> dict:
    """Idle, then each body in turn, on one worker (RSS peaks include what earlier bodies left)."""
    port = free_port()
    command = [str(project / ".venv" / "bin" / "python"), "-m", "src", "serve", "--prod",
               "--workers", "1", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    ready, open_env = f"http://127.0.0.1:{port}/ready", {**env, "API__ALLOW_OPEN": "true"}
    with running_server(command, project, open_env, ready) as server:
        phases: dict[str, tuple[str, bytes] | None] = {"idle": None, **bodies}
        return {label: measure(port, server.pid, body, *load) for label, body in phases.items()}


def report(measured: dict[str, dict[str, dict]], bodies: Bodies, args: argparse.Namespace) -> None:
    print(f"\nhostile bodies: {args.clients} clients, {args.seconds:.0f} s a body, one worker; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    print(f"{'':34} {'KB':>5} {'answers (status size: count)':>28} {'health p50':>10} "
          f"{'x idle':>6} {'max ms':>7} {'x idle':>6} {'RSS MB':>7} {'x idle':>6}")  # fmt: skip
    for server, rows in measured.items():
        for label, row in rows.items():
            size = f"{len(bodies[label][1]) // 1024}" if label in bodies else ""
            answers = ", ".join(f"{key}: {count}" for key, count in row["answers"].items())
            columns = [f"{row[key]:{width}.1f} {row[key] / rows['idle'][key]:6.2f}"
                       for key, width in (("health_p50_ms", 10), ("health_max_ms", 7),
                                          ("rss_peak_mb", 7))]  # fmt: skip
            print(f"{server + ' ' + label:34} {size:>5} {answers:>28} {' '.join(columns)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="Idle, and per body.")
    parser.add_argument("--clients", type=int, default=2, help="Threads posting a body.")
    parser.add_argument("--state", type=Path, help="Reuse this state folder (trained once).")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL=PROJECT")
    args = parser.parse_args()
    root = (args.state or Path(tempfile.mkdtemp(prefix="hostile-bench-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    env = prepare_state(Path.cwd(), root)
    projects = {"api": str(Path.cwd()), **dict(item.split("=", 1) for item in args.compare)}

    from src.context import build_context

    context = build_context()
    api = context.settings.api
    bodies = hostile_bodies(context.view.feature_names, api.max_batch_size, api.max_body_bytes)
    measured = {label: bench_server(Path(path).resolve(), env, bodies, (args.seconds, args.clients))
                for label, path in projects.items()}  # fmt: skip
    report(measured, bodies, args)
    sizes = {label: len(body) for label, (_, body) in bodies.items()}
    results = {"seconds": args.seconds, "clients": args.clients, "body_bytes": sizes,
               "load_average": os.getloadavg(), **measured}  # fmt: skip
    print(f"wrote {write_results('hostile', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

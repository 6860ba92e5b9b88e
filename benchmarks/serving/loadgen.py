"""HTTP load generators for the serving benchmark: wrk when installed, else pure Python.

Both keep `connections` keep-alive connections busy for `seconds` with one request body
and report requests/s, p50 and p99 latency and the non-2xx count.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
local f = io.open("{body_path}", "rb")
wrk.body = f:read("*a")
f:close()
"""


@dataclass(frozen=True)
class LoadResult:
    generator: str
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_load(
    url: str, body: bytes, connections: int, seconds: float, content_type: str = "application/json"
) -> LoadResult:
    if shutil.which("wrk"):
        return run_wrk(url, body, connections, seconds, content_type)
    return asyncio.run(run_python(url, body, connections, seconds, content_type))


def run_wrk(
    url: str, body: bytes, connections: int, seconds: float, content_type: str
) -> LoadResult:
    with tempfile.TemporaryDirectory() as folder:
        body_path = Path(folder) / "body"
        body_path.write_bytes(body)
        script = Path(folder) / "post.lua"
        script.write_text(WRK_SCRIPT.format(content_type=content_type, body_path=body_path))
        output = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
             "-s", str(script), url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    return LoadResult(
        generator="wrk",
        requests=requests,
        errors=errors,
        seconds=seconds,
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_wrk_ms(output, "50%"),
        p99_ms=_wrk_ms(output, "99%"),
    )


def _wrk_ms(output: str, percentile: str) -> float:
    value, unit = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def run_python(
    url: str, body: bytes, connections: int, seconds: float, content_type: str
) -> LoadResult:
    """A minimal keep-alive HTTP/1.1 client: enough to load a local server evenly."""
    parts = urlsplit(url)
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not status_line.split()[1].startswith(b"2"):
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        generator="python",
        requests=len(latencies),
        errors=errors,
        seconds=elapsed,
        requests_per_second=len(latencies) / elapsed,
        p50_ms=latencies[len(latencies) // 2] * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000,
    )

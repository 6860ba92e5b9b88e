"""Shared set-up of the serving and batch benchmarks: an isolated, trained project state."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# BENCH_RESULTS: where a run writes its figures (the template test keeps them out of results/).
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS", Path(__file__).resolve().parents[1] / "results"))


def isolated_env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "APP_ENV": "local",
        "DATA_DIR": str(root / "data"),
        "REPORTS_DIR": str(root / "reports"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": (root / "mlartifacts").as_uri(),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
    }


def prepare_state(project: Path, root: Path) -> dict[str, str]:
    """setup-lake, init-mlflow and train in `root` (skipped when a model is already there)."""
    env = isolated_env(root)
    if not (root / "mlflow.db").exists():
        for command in (["setup-lake"], ["init-mlflow"], ["train"]):
            print(f"  python -m src {command[0]}", flush=True)
            subprocess.run(
                [sys.executable, "-m", "src", *command],
                cwd=project,
                env=env,
                check=True,
                capture_output=True,
            )
    os.environ.update(env)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def running_server(
    command: list[str], cwd: Path, env: dict[str, str], ready: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A server answering `ready`, stopped afterwards (its whole process group)."""
    print(f"  {' '.join(command[1:4])}... in {cwd.name}", flush=True)
    server = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_up(ready, server)
        yield server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=120)


def write_results(name: str, results: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path

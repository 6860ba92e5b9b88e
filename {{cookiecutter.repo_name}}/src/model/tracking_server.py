"""A local `mlflow server` in the background: started once, found again by its state file.

`make mlflow-local` and `make mlflow-down` use this, and so do the tests that check the
registry over HTTP. The server runs in its own session so that stopping it stops its
worker processes too, and readiness is polled on /health with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # nosec B404  # starts mlflow with a fixed argument list, no shell
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from src.errors import ProjectError
from src.processes import is_group_alive, is_port_free, stop_group
from src.settings import LOCAL_ARTIFACTS_DIR, LOCAL_TRACKING_DB, Settings

STATE_FILE = "server.json"
LOG_FILE = "server.log"
POLL_SECONDS = 0.5
LOG_TAIL_LINES = 15
HTTP_OK = 200


@dataclass(frozen=True)
class TrackingServer:
    pid: int
    url: str
    log_file: str


@dataclass(frozen=True)
class ServedStore:
    backend_store_uri: str
    artifacts_dir: Path
    state_dir: Path


def served_store(settings: Settings) -> ServedStore:
    """What `make mlflow-local` serves: the store local commands write to, or the embedded
    default when MLFLOW_TRACKING_URI already points at a server (this one, usually)."""
    state_dir = settings.data_dir / "mlflow-server"
    uri = settings.resolved_tracking_uri
    if uri.startswith(("http://", "https://")):
        return ServedStore(f"sqlite:///{LOCAL_TRACKING_DB}", LOCAL_ARTIFACTS_DIR, state_dir)
    root = settings.resolved_artifact_root or ""
    artifacts = Path(urlparse(root).path) if root.startswith("file:") else LOCAL_ARTIFACTS_DIR
    return ServedStore(uri, artifacts, state_dir)


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310  # nosec B310  # http URL built here
            return bool(response.status == HTTP_OK)
    except (OSError, urllib.error.URLError):
        return False


def read_state(state_dir: Path) -> TrackingServer | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        return TrackingServer(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink()
        return None


def is_mlflow_process(server: TrackingServer) -> bool:
    """Whether the recorded pid is still this server, not a process that reused the pid
    after a reboot (which must never be signalled)."""
    cmdline = Path(f"/proc/{server.pid}/cmdline")
    if cmdline.exists():
        return b"mlflow" in cmdline.read_bytes()
    # No /proc (macOS), or the launcher is gone and its worker remains: ask the server.
    return is_healthy(server.url)


def running_server(state_dir: Path) -> TrackingServer | None:
    """The server this state directory started, when it is still alive; stale state is removed."""
    server = read_state(state_dir)
    if server is None:
        return None
    if is_group_alive(server.pid) and is_mlflow_process(server):
        return server
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return None


def log_tail(path: Path) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])


def server_command(
    backend_store_uri: str,
    artifacts_destination: Path,
    default_artifact_root: str | None,
    host: str,
    port: int,
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        str(artifacts_destination),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if default_artifact_root:
        command += ["--default-artifact-root", default_artifact_root]
    return command


def start_tracking_server(
    backend_store_uri: str,
    artifacts_destination: Path,
    state_dir: Path,
    host: str = "127.0.0.1",
    port: int = 5000,
    default_artifact_root: str | None = None,
    timeout_seconds: float = 180,
) -> TrackingServer:
    """Start `mlflow server` in the background and wait until it answers /health.

    Idempotent: when this state directory's server is already running, it is returned.
    `default_artifact_root` (a file:// URI) makes new experiments store artifacts where a
    client on this machine writes them directly, so runs logged through the server and runs
    logged straight to the SQLite file live side by side; without it artifacts go through
    the server (mlflow-artifacts:/), as they do for a remote server.
    """
    existing = running_server(state_dir)
    if existing is not None:
        return existing
    if not is_port_free(host, port):
        raise ProjectError(f"port {port} on {host} is in use; choose another with MLFLOW_PORT")
    state_dir.mkdir(parents=True, exist_ok=True)
    artifacts_destination.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / LOG_FILE
    command = server_command(
        backend_store_uri, artifacts_destination, default_artifact_root, host, port
    )
    # The job runner serves GenAI evaluation jobs with seven extra processes; not needed here.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603  # nosec B603  # fixed arguments, no shell
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = TrackingServer(pid=process.pid, url=f"http://{host}:{port}", log_file=str(log_path))
    (state_dir / STATE_FILE).write_text(json.dumps(asdict(server)))
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if is_healthy(server.url):
            return server
        if process.poll() is not None:
            (state_dir / STATE_FILE).unlink(missing_ok=True)
            raise ProjectError(
                f"mlflow server exited with code {process.returncode}:\n{log_tail(log_path)}"
            )
        time.sleep(POLL_SECONDS)
    stop_tracking_server(state_dir)
    raise ProjectError(
        f"mlflow server did not answer {server.url}/health within {timeout_seconds:.0f} s:\n"
        f"{log_tail(log_path)}"
    )


def stop_tracking_server(state_dir: Path, timeout_seconds: float = 30) -> TrackingServer | None:
    """Stop the server this state directory started (SIGTERM, then SIGKILL after the timeout).

    Returns the stopped server, or None when none was running.
    """
    server = running_server(state_dir)
    if server is None:
        return None
    stop_group(server.pid, ((signal.SIGTERM, timeout_seconds), (signal.SIGKILL, 5.0)))
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return server

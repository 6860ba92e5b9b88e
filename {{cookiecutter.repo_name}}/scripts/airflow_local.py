"""Run Airflow on this machine: `airflow standalone` in the background, for `make airflow-local`.

    python scripts/airflow_local.py start [--port 8080]   # start, wait until ready, print the login
    python scripts/airflow_local.py stop                  # stop it (make airflow-down)

AIRFLOW_HOME is the project's `airflow/` folder (its state is gitignored there): SQLite for
Airflow's own database, the DAGs of `airflow/dags`, no example DAGs, the API server and UI
on 127.0.0.1 only. Airflow's simple auth manager generates the `admin` password on the first
start and keeps it in `airflow/simple_auth_manager_passwords.json.generated`; this script
prints it once Airflow answers. The tasks read the project's settings (.env) like the CLI,
so they use the same lake and MLflow store as `make train-local`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess  # nosec B404  # starts the venv's own airflow executable
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.processes import is_group_alive, is_port_free, stop_group

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
USER = "admin"
START_TIMEOUT_SECONDS = 300.0
# SIGTERM to the whole group ends standalone and every component in a few seconds (SIGINT
# leaves the scheduler, triggerer and executor workers running); SIGKILL if one hangs.
STOP_SIGNALS = ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0))


@dataclass(frozen=True)
class Home:
    """AIRFLOW_HOME and the files this script and Airflow keep in it."""

    path: Path

    @property
    def dags(self) -> Path:
        return self.path / "dags"

    @property
    def pid_file(self) -> Path:
        return self.path / "standalone.pid"

    @property
    def log_file(self) -> Path:
        return self.path / "standalone.log"

    @property
    def password_file(self) -> Path:
        return self.path / "simple_auth_manager_passwords.json.generated"


class AirflowLocalError(Exception):
    """A failure to report as one line."""


def airflow_env(home: Home, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home.path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home.dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # LocalExecutor starts one worker process per parallel task slot (32 by default).
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://{HOST}:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }


def read_pid(home: Home) -> int | None:
    """The pid of a running standalone started here, or None (a stale pid file is removed)."""
    try:
        pid = int(home.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not is_group_alive(pid):
        home.pid_file.unlink(missing_ok=True)
        return None
    return pid


def request_json(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    """GET (or POST `body` to) a URL of the local API server and decode the JSON answer."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310  # http://127.0.0.1 only
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  # nosec B310
        return json.load(response)


def read_password(home: Home) -> str | None:
    try:
        passwords: dict[str, str] = json.loads(home.password_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return passwords.get(USER)


def is_healthy(base_url: str) -> bool:
    """The API answers and the scheduler and DAG processor heartbeat."""
    try:
        health = request_json(f"{base_url}/api/v2/monitor/health")
    except (urllib.error.URLError, OSError, json.JSONDecodeError):
        return False
    parts = ("metadatabase", "scheduler", "dag_processor")
    return all(health.get(part, {}).get("status") == "healthy" for part in parts)


def wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, home: Home
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready():
        if process.poll() is not None:
            raise AirflowLocalError(f"airflow standalone exited while {what}; see {home.log_file}")
        if time.monotonic() > deadline:
            raise AirflowLocalError(
                f"timed out after {START_TIMEOUT_SECONDS:.0f}s {what}; see {home.log_file}"
            )
        time.sleep(1)


def loaded_dags(base_url: str, password: str) -> tuple[list[str], list[str]]:
    """DAG ids the server knows, and the files that failed to import."""
    login = {"username": USER, "password": password}
    token = request_json(f"{base_url}/auth/token", body=login)["access_token"]
    dags = request_json(f"{base_url}/api/v2/dags", token)["dags"]
    errors = request_json(f"{base_url}/api/v2/importErrors", token)["import_errors"]
    return sorted(dag["dag_id"] for dag in dags), sorted(error["filename"] for error in errors)


def launch(home: Home, port: int) -> subprocess.Popen[bytes]:
    executable = Path(sys.executable).with_name("airflow")
    with home.log_file.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603  # nosec B603  # a fixed argument list
            [str(executable), "standalone"],
            cwd=PROJECT_ROOT,
            env=airflow_env(home, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: `stop` ends the scheduler, API server and the rest too.
            start_new_session=True,
        )
    home.pid_file.write_text(f"{process.pid}\n")
    return process


def start(home: Home, port: int) -> None:
    base_url = f"http://{HOST}:{port}"
    pid = read_pid(home)
    if pid is None:
        if not is_port_free(HOST, port):
            raise AirflowLocalError(
                f"port {port} is in use by another program; free it or run with AIRFLOW_PORT=<port>"
            )
        process = launch(home, port)
        print(f"starting airflow standalone (pid {process.pid}, log {home.log_file})", flush=True)
        try:
            wait_until(lambda: is_healthy(base_url), process, "waiting for the API server", home)
            wait_until(
                lambda: read_password(home) is not None, process, "waiting for the password", home
            )
        except AirflowLocalError:
            stop(home)
            raise
        pid = process.pid
    password = read_password(home)
    if password is None:
        raise AirflowLocalError(f"no password for {USER!r} in {home.password_file}")
    dags, errors = loaded_dags(base_url, password)
    print(f"Airflow is running (pid {pid}) on {base_url}")
    print(f"  log in as {USER!r} with password {password!r} (kept in {home.password_file})")
    print(f"  DAGs: {', '.join(dags) or 'none parsed yet, they appear within a minute'}")
    if errors:
        print(f"  import errors in: {', '.join(errors)} (see the UI's DAG import errors)")
    print("  DAGs start paused: switch one on or trigger it in the UI; make airflow-down stops it")


def stop(home: Home) -> None:
    pid = read_pid(home)
    if pid is None:
        print("airflow standalone is not running")
        return
    ended_by = stop_group(pid, STOP_SIGNALS)
    home.pid_file.unlink(missing_ok=True)
    if is_group_alive(pid):
        raise AirflowLocalError(f"airflow standalone (pid {pid}) outlived SIGKILL")
    after = f", after {ended_by.name}" if ended_by else ""
    print(f"airflow standalone stopped (pid {pid}{after})")


def main() -> int:
    parser = argparse.ArgumentParser(description="Run Airflow standalone for this project.")
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_PORT", "8080")))
    args = parser.parse_args()
    home = Home(PROJECT_ROOT / "airflow")
    try:
        if args.command == "start":
            start(home, args.port)
        else:
            stop(home)
    except AirflowLocalError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make airflow-local` / `make airflow-down`: the parts that need no running Airflow."""

import runpy
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from src.processes import is_group_alive

PROJECT_ROOT = Path(__file__).resolve().parents[2]
airflow_local = runpy.run_path(str(PROJECT_ROOT / "scripts" / "airflow_local.py"))
Home = airflow_local["Home"]
AirflowLocalError = airflow_local["AirflowLocalError"]


def test_the_project_airflow_home_keeps_its_state_out_of_git() -> None:
    ignored = (PROJECT_ROOT / "airflow" / ".gitignore").read_text().splitlines()
    home = Home(PROJECT_ROOT / "airflow")
    for path in (home.pid_file, home.log_file, home.password_file):
        assert f"/{path.name}" in ignored
    assert {"/airflow.db", "/airflow.cfg", "/logs/"} <= set(ignored)


def test_airflow_runs_with_the_project_dags_and_no_examples(tmp_path: Path) -> None:
    env = airflow_local["airflow_env"](Home(tmp_path), 8090)
    assert env["AIRFLOW_HOME"] == str(tmp_path)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8090/execution/"


def test_stop_with_nothing_running_says_so_and_drops_a_stale_pid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    home = Home(tmp_path)
    home.pid_file.write_text(finished.stdout)
    airflow_local["stop"](home)
    assert "not running" in capsys.readouterr().out
    assert not home.pid_file.exists()


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    # A parent with a child of its own, like standalone and its scheduler and API server.
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print(child.pid, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert leader.stdout is not None
    assert int(leader.stdout.readline()) > 0, "the child started"
    home = Home(tmp_path)
    home.pid_file.write_text(f"{leader.pid}\n")
    airflow_local["stop"](home)
    assert leader.poll() is not None
    # No process of the group is left: the child went with its parent.
    assert not is_group_alive(leader.pid)
    assert not home.pid_file.exists()


def test_start_refuses_a_port_another_program_holds(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(AirflowLocalError, match=f"port {port} is in use"):
            airflow_local["start"](Home(tmp_path), port)
    assert not Home(tmp_path).pid_file.exists()

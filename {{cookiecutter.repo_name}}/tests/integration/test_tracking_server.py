"""The registry over HTTP: a real `mlflow server` process on 127.0.0.1, started and stopped
by the tests, with artifacts uploaded through the server as a remote deployment does."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from src.context import ProjectContext
from src.errors import ProjectError
from src.model.mlflow_manager import DECISION_TAG, PRODUCTION_ALIAS, STAGING_ALIAS
from src.model.tracking_server import (
    STATE_FILE,
    TrackingServer,
    is_healthy,
    start_tracking_server,
    stop_tracking_server,
)
from src.pipelines.DS.training_pipeline.pipeline import run_training_pipeline
from src.processes import is_group_alive
from tests.conftest import free_port, isolated_settings
from tests.integration.test_training import quick

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TrackingServer, Path]]:
    root = tmp_path_factory.mktemp("server")
    state = root / "state"
    server = start_tracking_server(
        f"sqlite:///{root / 'mlflow.db'}", root / "artifacts", state, port=free_port()
    )
    try:
        yield server, root
    finally:
        stop_tracking_server(state)


def test_training_and_the_registry_work_over_http(
    server: tuple[TrackingServer, Path], trained_context: ProjectContext, tmp_path: Path
) -> None:
    tracking, root = server
    settings = isolated_settings(
        tmp_path,
        data_dir=trained_context.settings.data_dir,
        mlflow_tracking_uri=tracking.url,
        # mlflow-artifacts:/ makes the client upload artifacts through the server.
        mlflow_artifact_root="mlflow-artifacts:/http-test",
    )
    context = ProjectContext(settings)
    name, manager = settings.model_name, context.mlflow
    first = run_training_pipeline(
        context.lake, context.view, quick(context.training), manager, name
    )
    assert first.decision.promoted
    experiment = manager.client.get_experiment_by_name(settings.mlflow_experiment_name)
    assert experiment is not None
    assert experiment.artifact_location == "mlflow-artifacts:/http-test"
    uploaded = {path.name for path in (root / "artifacts" / "http-test").rglob("*.png")}
    assert {"feature_importance.png", "optimization_history.png"} <= uploaded

    predictor = manager.load_predictor(name, PRODUCTION_ALIAS)
    assert predictor.version == first.version == "1"
    rows = context.lake.read(context.view.table).to_pandas().head(5)
    assert list(predictor.predict_frame(rows).columns) == predictor.output_columns
    reference = manager.load_reference(predictor.run_id)
    assert {context.view.label.name, "prediction"} <= set(reference.columns)

    version = manager.client.get_model_version(name, first.version)
    assert version.tags[DECISION_TAG] == "production"
    assert (version.description or "").startswith("# Model card")
    assert manager.get_version(name, STAGING_ALIAS) is not None


def test_a_second_start_finds_the_running_server(server: tuple[TrackingServer, Path]) -> None:
    tracking, root = server
    again = start_tracking_server(
        "sqlite:///unused.db", root / "unused", root / "state", port=free_port()
    )
    assert again == tracking
    assert is_healthy(tracking.url)


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ProjectError, match=f"port {port} on 127.0.0.1 is in use"):
            start_tracking_server("sqlite:///x.db", tmp_path / "a", tmp_path / "state", port=port)
    assert not (tmp_path / "state" / STATE_FILE).exists()


def start_stand_in(tmp_path: Path, script: str) -> tuple[subprocess.Popen[bytes], Path]:
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    # Until the child has exec'd, /proc shows the parent's command line: wait for the script.
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 30
    while cmdline.exists() and script.encode() not in cmdline.read_bytes():
        if time.monotonic() > deadline:
            pytest.fail("the stand-in process did not start within 30 s")
        time.sleep(0.01)
    state = tmp_path / "state"
    state.mkdir()
    stand_in = TrackingServer(process.pid, "http://127.0.0.1:1", str(tmp_path / "log"))
    (state / STATE_FILE).write_text(json.dumps(asdict(stand_in)))
    return process, state


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    # A stand-in for mlflow's launcher and its uvicorn worker (its command line says mlflow).
    script = (
        "import subprocess, sys, time; mlflow = 'stand-in'; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        "time.sleep(120)"
    )
    process, state = start_stand_in(tmp_path, script)
    stopped = stop_tracking_server(state, timeout_seconds=20)
    assert stopped is not None and stopped.pid == process.pid
    assert not is_group_alive(process.pid)
    assert not (state / STATE_FILE).exists()
    assert stop_tracking_server(state) is None


def test_a_pid_reused_by_another_program_is_never_signalled(tmp_path: Path) -> None:
    process, state = start_stand_in(tmp_path, "import time; time.sleep(120)")
    try:
        assert stop_tracking_server(state) is None
        assert process.poll() is None, "the unrelated process must still run"
        assert not (state / STATE_FILE).exists(), "the stale state is dropped"
    finally:
        process.kill()
        process.wait(timeout=10)

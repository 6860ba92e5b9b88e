"""Moving the `production` alias swaps the served model under load without a failed request."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY

from src.context import ProjectContext
from src.inference.api import create_app
from src.model.mlflow_manager import PRODUCTION_ALIAS
from tests.serving import api_settings, running_server, sample_rows, serving_setup

pytestmark = pytest.mark.integration

RELOAD_INTERVAL = 0.05


@pytest.fixture
def second_version(trained_context: ProjectContext) -> Iterator[str]:
    """Version 2 of the production model (same artifacts); the alias is put back after."""
    manager, name = trained_context.mlflow, trained_context.settings.model_name
    first = manager.get_version(name, PRODUCTION_ALIAS)
    assert first is not None
    # The registry looks the logged model up through MLflow's process-wide tracking URI,
    # which other tests of this session point elsewhere.
    manager.activate()
    created = manager.client.create_model_version(name, str(first.source), run_id=first.run_id)
    yield str(created.version)
    manager.set_alias(name, PRODUCTION_ALIAS, str(first.version))


def poll_until(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_alias_move_swaps_the_model_without_failing_a_request(
    trained_context: ProjectContext, second_version: str, tmp_path: Path
) -> None:
    settings = api_settings(tmp_path, reload_interval_seconds=RELOAD_INTERVAL)
    app = create_app(serving_setup(trained_context, settings))
    body = {"features": sample_rows(trained_context, 1)[0]}
    versions: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()
    with running_server(app) as url:

        def client_loop() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    try:
                        response = session.post(f"{url}/predict", json=body, timeout=10)
                    except requests.RequestException as error:
                        failures.append(repr(error))
                        continue
                    if response.status_code != 200:
                        failures.append(f"{response.status_code}: {response.text}")
                    else:
                        versions[response.json()["model_version"]] += 1

        clients = [threading.Thread(target=client_loop) for _ in range(4)]
        for thread in clients:
            thread.start()
        try:
            poll_until(lambda: versions["1"] >= 20)
            trained_context.mlflow.set_alias(
                trained_context.settings.model_name, PRODUCTION_ALIAS, second_version
            )
            poll_until(lambda: versions[second_version] >= 20)
        finally:
            stop.set()
            for thread in clients:
                thread.join()
        ready = requests.get(f"{url}/ready", timeout=5).json()
        model = requests.get(f"{url}/model", timeout=5).json()
    assert failures == []
    assert ready["model_version"] == second_version
    assert model["version"] == second_version
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    reloads = [event for event in events if event["event"] == "model_reloaded"]
    assert [(r["previous_version"], r["model_version"]) for r in reloads] == [("1", second_version)]


def test_a_failed_load_keeps_the_old_model_serving(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    manager, name = trained_context.mlflow, trained_context.settings.model_name
    first = manager.get_version(name, PRODUCTION_ALIAS)
    assert first is not None
    broken = manager.client.create_model_version(name, str(tmp_path / "no-model-here"))
    settings = api_settings(tmp_path, reload_interval_seconds=RELOAD_INTERVAL)
    app = create_app(serving_setup(trained_context, settings))
    body = {"features": sample_rows(trained_context, 1)[0]}
    failures_before = REGISTRY.get_sample_value("model_load_failures_total") or 0.0
    try:
        with running_server(app) as url:
            manager.set_alias(name, PRODUCTION_ALIAS, str(broken.version))

            def reload_failed() -> bool:
                ready = requests.get(f"{url}/ready", timeout=5).json()
                return "reload_error" in ready

            poll_until(reload_failed)
            ready = requests.get(f"{url}/ready", timeout=5)
            answer = requests.post(f"{url}/predict", json=body, timeout=5)
    finally:
        manager.set_alias(name, PRODUCTION_ALIAS, str(first.version))
    assert ready.status_code == 200
    assert ready.json()["model_version"] == str(first.version)
    assert f"@{PRODUCTION_ALIAS} failed" in ready.json()["reload_error"]
    assert answer.status_code == 200
    assert answer.json()["model_version"] == str(first.version)
    assert (REGISTRY.get_sample_value("model_load_failures_total") or 0.0) > failures_before
    assert '"event":"model_load_failed"' in (tmp_path / "audit.jsonl").read_text()

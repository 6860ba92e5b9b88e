"""Moving the `production` alias swaps the served model under load without a failed request;
a version that fails to load leaves the old one serving."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from prometheus_client import REGISTRY

from src.context import ProjectContext
from src.inference.api import create_app
from src.model.mlflow_manager import PRODUCTION_ALIAS
from tests.serving import running_server, sample_rows, serving_settings, wait_for, wait_until_ready

pytestmark = pytest.mark.integration

RELOAD_INTERVAL = 0.05


@pytest.fixture
def alias_restored(trained_context: ProjectContext) -> Iterator[str]:
    """The version `production` points at; it points there again after the test."""
    manager, name = trained_context.mlflow, trained_context.settings.model_name
    first = manager.get_version(name, PRODUCTION_ALIAS)
    assert first is not None
    yield str(first.version)
    manager.set_alias(name, PRODUCTION_ALIAS, str(first.version))


def test_alias_move_swaps_the_model_without_failing_a_request(
    trained_context: ProjectContext, alias_restored: str
) -> None:
    manager, name = trained_context.mlflow, trained_context.settings.model_name
    first = manager.get_version(name, PRODUCTION_ALIAS)
    assert first is not None
    manager.activate()  # the registry resolves the logged model through MLflow's global URI
    second = str(manager.client.create_model_version(name, str(first.source), first.run_id).version)
    app = create_app(serving_settings(trained_context, reload_interval_seconds=RELOAD_INTERVAL))
    body = {"features": sample_rows(trained_context, 1)[0]}
    versions: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def client_loop(url: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(f"{url}/predict", json=body, timeout=10)
                if response.status_code == 200:
                    versions[response.json()["model_version"]] += 1
                else:
                    failures.append(f"{response.status_code}: {response.text}")

    with running_server(app) as url:
        wait_until_ready(url)
        clients = [threading.Thread(target=client_loop, args=(url,)) for _ in range(4)]
        for thread in clients:
            thread.start()
        try:
            wait_for(lambda: versions[alias_restored] >= 20, what="answers of the first version")
            manager.set_alias(name, PRODUCTION_ALIAS, second)
            wait_for(lambda: versions[second] >= 20, what="answers of the second version")
        finally:
            stop.set()
            for thread in clients:
                thread.join()
        assert requests.get(f"{url}/model", timeout=5).json()["version"] == second
    assert failures == []


def test_a_failed_load_keeps_the_old_model_serving(
    trained_context: ProjectContext, alias_restored: str, tmp_path: object
) -> None:
    manager, name = trained_context.mlflow, trained_context.settings.model_name
    broken = manager.client.create_model_version(name, f"{tmp_path}/no-model-here")
    app = create_app(serving_settings(trained_context, reload_interval_seconds=RELOAD_INTERVAL))
    body = {"features": sample_rows(trained_context, 1)[0]}
    with running_server(app) as url:
        wait_until_ready(url)
        failures_before = REGISTRY.get_sample_value("model_load_failures_total") or 0.0
        manager.set_alias(name, PRODUCTION_ALIAS, str(broken.version))
        ready = wait_for(
            lambda: "reload_error" in (r := requests.get(f"{url}/ready", timeout=5)).json() and r,
            what="a reload error in /ready",
        )
        answer = requests.post(f"{url}/predict", json=body, timeout=5)
    assert ready.status_code == 200
    assert ready.json()["model_version"] == alias_restored
    assert f"@{PRODUCTION_ALIAS} failed" in ready.json()["reload_error"]
    assert answer.status_code == 200
    assert answer.json()["model_version"] == alias_restored
    assert (REGISTRY.get_sample_value("model_load_failures_total") or 0.0) > failures_before

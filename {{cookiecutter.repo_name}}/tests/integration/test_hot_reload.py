"""Moving the `production` alias swaps the served model under load without a failed
request; a version that fails to load leaves the one before serving."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY

from src.context import ProjectContext
from src.inference.api import create_app
from src.names import PRODUCTION_ALIAS
from tests.serving import running_server, sample_rows, serving_settings, wait_for

pytestmark = pytest.mark.integration


def test_alias_moves_swap_the_model_and_a_broken_version_keeps_the_last_one(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    manager, name = trained_context.mlflow, trained_context.settings.model_name
    first = manager.get_version(name, PRODUCTION_ALIAS)
    assert first is not None
    manager.activate()  # the registry resolves the logged model through MLflow's global URI
    second = str(manager.client.create_model_version(name, str(first.source), first.run_id).version)
    broken = str(manager.client.create_model_version(name, str(tmp_path / "nothing")).version)
    app = create_app(serving_settings(trained_context, reload_interval_seconds=0.05))
    body = {"features": sample_rows(trained_context, 1)[0]}
    versions: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def client_loop(url: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(f"{url}/predict", json=body, timeout=10)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text}")
                else:
                    versions[response.json()["model_version"]] += 1

    try:
        with running_server(app) as url:
            clients = [threading.Thread(target=client_loop, args=(url,)) for _ in range(4)]
            for thread in clients:
                thread.start()
            wait_for(lambda: versions[str(first.version)] >= 20, what="answers of the first")
            manager.set_alias(name, PRODUCTION_ALIAS, second)
            wait_for(lambda: versions[second] >= 20, what="answers of the second version")
            loads_failed = REGISTRY.get_sample_value("model_load_failures_total") or 0.0
            manager.set_alias(name, PRODUCTION_ALIAS, broken)
            ready = wait_for(
                lambda: (
                    "reload_error" in (r := requests.get(f"{url}/ready", timeout=5)).json() and r
                ),
                what="a reload error in /ready",
            )
            served_after = sum(versions.values())
            wait_for(lambda: sum(versions.values()) >= served_after + 20, what="more answers")
            stop.set()
            for thread in clients:
                thread.join()
    finally:
        stop.set()
        manager.set_alias(name, PRODUCTION_ALIAS, str(first.version))
    assert failures == []
    assert ready.json()["model_version"] == second
    assert f"@{PRODUCTION_ALIAS} failed" in ready.json()["reload_error"]
    assert set(versions) == {str(first.version), second}  # never the broken one
    assert (REGISTRY.get_sample_value("model_load_failures_total") or 0.0) > loads_failed

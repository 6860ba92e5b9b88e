"""A real Pushgateway and Prometheus (the config of `make monitoring-local`): the gauges the
drift check pushes reach Prometheus with their labels, and its rules fire on them, which
promtool's rule tests on hand-written series cannot show.

Needs Debian's prometheus and prometheus-pushgateway: skips without them, fails in CI."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from src.monitoring.alerts import AlertTargets, deliver
from tests.conftest import free_port
from tests.unit.test_alerts import outcome
from tests.unit.test_monitoring_stack import PROMETHEUS, tool

pytestmark = pytest.mark.integration


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        return json.loads(response.read()) if url.endswith("alerts") else response.status == 200


def until(what: str, check: Any, timeout: float = 60) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if found := check():
                return found
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("prometheus")
    pushgateway, prometheus = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    config = yaml.safe_load((PROMETHEUS / "local.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    for job in config["scrape_configs"]:
        job["static_configs"] = [
            {"targets": [pushgateway if job["job_name"] == "pushgateway" else prometheus]}
        ]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    storage = f"--storage.tsdb.path={folder / 'data'}"
    commands = [
        [tool("prometheus-pushgateway"), "--persistence.file=",
         f"--web.listen-address={pushgateway}"],
        [tool("prometheus"), f"--config.file={folder / 'prometheus.yml'}", storage,
         f"--web.listen-address={prometheus}"],
    ]  # fmt: skip
    with ExitStack() as processes:
        for command in commands:
            log = processes.enter_context((folder / f"{Path(command[0]).name}.log").open("wb"))
            process = processes.enter_context(subprocess.Popen(command, stdout=log, stderr=log))
            processes.callback(process.terminate)
        for address in (pushgateway, prometheus):
            until(f"{address} ready", lambda a=address: get(f"http://{a}/-/ready"))
        yield f"http://{pushgateway}", f"http://{prometheus}"


def test_pushed_drift_reaches_prometheus_and_fires_its_alerts(stack: tuple[str, str]) -> None:
    pushgateway, prometheus = stack
    assert deliver(
        outcome(True), [], AlertTargets(pushgateway, None), datetime.now(UTC)
    ).startswith("metrics pushed")

    def firing() -> dict[str, dict[str, str]]:
        alerts = get(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
        found = {a["labels"]["alertname"]: a["labels"] for a in alerts if a["state"] == "firing"}
        return found if {"DataDriftDetected", "ModelPerformanceDegraded"} <= set(found) else {}

    alerts = until("the drift alerts firing", firing)
    assert alerts["DataDriftDetected"]["model_name"] == "demo_model"
    assert alerts["DataDriftDetected"]["job"] == "drift_check"
    assert "PredictionDriftDetected" not in alerts

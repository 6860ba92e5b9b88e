"""A real Prometheus scrapes the running API and a real Pushgateway fed by the drift job.

Needs Debian's prometheus and prometheus-pushgateway; skips, saying so, when absent.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from src.monitoring.local_stack import (
    Addresses,
    find_binary,
    run_prometheus,
    run_pushgateway,
    write_prometheus_config,
)

from src.context import ProjectContext
from src.inference.api import create_app
from src.model.mlflow_manager import PRODUCTION_ALIAS
from src.monitoring.check import deliver, run_monitoring_check
from src.monitoring.performance import training_metrics_from_tags
from tests.conftest import free_port
from tests.promql_names import all_expressions, metric_names
from tests.serving import api_settings, running_server, serving_setup

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        find_binary("prometheus") is None or find_binary("pushgateway") is None,
        reason="prometheus and prometheus-pushgateway are not installed (apt-get install them)",
    ),
]


@dataclass(frozen=True)
class Stack:
    api: str
    pushgateway: str
    prometheus: str


@pytest.fixture(scope="module")
def stack(
    trained_context: ProjectContext, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("prometheus")
    addresses = Addresses(
        api=f"127.0.0.1:{free_port()}",
        pushgateway=f"127.0.0.1:{free_port()}",
        prometheus=f"127.0.0.1:{free_port()}",
    )
    config = write_prometheus_config(
        folder, addresses, scrape_interval="1s", evaluation_interval="1s"
    )
    app = create_app(serving_setup(trained_context, api_settings(folder)))
    with ExitStack() as stack:
        stack.enter_context(running_server(app, port=int(addresses.api.split(":")[1])))
        stack.enter_context(run_pushgateway(addresses.pushgateway, folder / "pushgateway.log"))
        stack.enter_context(
            run_prometheus(config, folder / "data", addresses.prometheus, folder / "prometheus.log")
        )
        yield Stack(
            api=f"http://{addresses.api}",
            pushgateway=f"http://{addresses.pushgateway}",
            prometheus=f"http://{addresses.prometheus}",
        )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def query(stack: Stack, expression: str) -> list[dict[str, Any]]:
    encoded = urllib.parse.urlencode({"query": expression})
    answer = get_json(f"{stack.prometheus}/api/v1/query?{encoded}")
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def wait_for(stack: Stack, expression: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Poll Prometheus until `expression` returns series; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = query(stack, expression)
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"Prometheus returned nothing for {expression} within {timeout:.0f} s")


def predict(stack: Stack, features: dict[str, float]) -> None:
    request = urllib.request.Request(  # noqa: S310
        f"{stack.api}/predict",
        data=json.dumps({"features": features}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def push_a_drifted_check(context: ProjectContext, stack: Stack) -> None:
    """The drift job on shifted features with wrong labels, pushed to the real Pushgateway."""
    name, label = context.settings.model_name, context.view.label.name
    predictor = context.mlflow.load_predictor(name, PRODUCTION_ALIAS)
    version = context.mlflow.get_version(name, PRODUCTION_ALIAS)
    reference = context.mlflow.load_reference(predictor.run_id)
    current = reference.drop(columns=["prediction"]).copy()
    current[predictor.feature_names] = current[predictor.feature_names] * 2
    wrong = 1 - current[label] if predictor.task == "classification" else current[label] + 300
    current[label] = wrong
    outcome = run_monitoring_check(
        predictor, reference, current, label,
        training_metrics_from_tags(dict(version.tags) if version else {}),
        context.monitoring, "a shifted file",
    )  # fmt: skip
    assert outcome.drift.dataset_drift
    delivery = deliver(
        outcome, context.monitoring, [], datetime.now(UTC), "file", stack.pushgateway, None
    )
    assert delivery.failures == []


def test_prometheus_scrapes_the_api_and_the_drift_job(
    stack: Stack, trained_context: ProjectContext
) -> None:
    context = trained_context
    row: pd.Series = context.lake.read(context.view.table).to_pandas().iloc[0]
    for _ in range(5):
        predict(stack, {name: float(row[name]) for name in context.view.feature_names})
    push_a_drifted_check(context, stack)

    assert wait_for(stack, 'up{job="api"} == 1')
    served = wait_for(stack, 'api_requests_total{job="api",route="/predict",status="200"} >= 5')
    assert served[0]["metric"]["method"] == "POST"
    info = wait_for(stack, 'model_info{job="api",alias="production"}')
    assert info[0]["metric"]["model_version"] == "1"
    name = context.settings.model_name
    selector = '{job="drift_check",model_name="' + name + '"}'
    drift = wait_for(stack, f"drift_check_dataset_drift{selector}")
    assert drift[0]["value"][1] == "1"
    assert wait_for(stack, "model_concept_drift == 1")
    # The pushed group carries the checked version.
    assert wait_for(stack, 'drift_check_info{model_version="1",source="file"}')


def test_every_metric_of_the_dashboards_and_alerts_has_series(
    stack: Stack, trained_context: ProjectContext
) -> None:
    wait_for(stack, "model_live_performance")
    names = set().union(*(metric_names(expr) for _, expr in all_expressions()))
    missing = [n for n in sorted(names) if not query(stack, 'count({__name__="' + n + '"})')]
    assert missing == []


def test_the_drift_alert_fires_in_prometheus(stack: Stack, trained_context: ProjectContext) -> None:
    wait_for(stack, "drift_check_dataset_drift == 1")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        alerts = get_json(f"{stack.prometheus}/api/v1/alerts")["data"]["alerts"]
        firing = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
        if {"DataDriftDetected", "ModelPerformanceDegraded"} <= firing:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"drift alerts not firing within 60 s; firing: {sorted(firing)}")
    [drift] = [a for a in alerts if a["labels"]["alertname"] == "DataDriftDetected"]
    assert drift["annotations"]["runbook_url"] == "docs/runbooks/data-drift.md"
    assert drift["labels"]["model_name"] == trained_context.settings.model_name

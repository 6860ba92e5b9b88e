"""The monitoring job end to end on a trained project: its predictions and labels tables."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import SecretStr

from src.context import ProjectContext
from src.data.feature_store import INGEST_DATE
from src.data.predictions import PREDICTION_ID, read_prediction_window
from src.errors import DataValidationError
from src.monitoring.drift import DriftConfig, MonitoringConfig
from src.monitoring.performance import read_labels_file, record_labels
from src.names import LABELS_TABLE
from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference
from src.pipelines.DS.monitoring_pipeline import DriftCheckRun, run_drift_check
from tests.conftest import SAMPLE_END, HttpReceiver, other_labels

pytestmark = pytest.mark.integration

DAY = SAMPLE_END - timedelta(days=3)
ONE_DAY = MonitoringConfig(drift=DriftConfig(window_days=1))


@pytest.fixture(scope="module")
def labels(trained_context: ProjectContext) -> pd.DataFrame:
    """The day scored by batch inference, and its true labels as they would arrive later."""
    context = trained_context
    run_batch_inference(context, DAY)
    entity, label = context.view.entity.name, context.view.label.name
    gold = context.lake.read(context.view.table, where=f"{INGEST_DATE} = '{DAY.isoformat()}'")
    scored = read_prediction_window(context.lake, DAY, 1)[[PREDICTION_ID, entity]]
    return scored.merge(gold.to_pandas()[[entity, label]], on=entity)[[PREDICTION_ID, label]]


def check(
    context: ProjectContext, current: Path | date, config: MonitoringConfig, webhook: str = ""
) -> DriftCheckRun:
    """The check with `config`, alerting `webhook` if given (else the alert is printed)."""
    context = copy.copy(context)  # the module's context, with this check's config and route
    context.monitoring = config
    update = {"alert_webhook_url": SecretStr(webhook) if webhook else None}
    context.settings = context.settings.model_copy(update=update)
    return run_drift_check(context, current, datetime.now(UTC))


def test_labels_are_upserted_by_prediction_id(
    trained_context: ProjectContext, labels: pd.DataFrame, tmp_path: Path
) -> None:
    context, label = trained_context, trained_context.view.label.name
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    for _ in range(2):
        stamp = datetime.now(UTC)
        record_labels(context.lake, context.view, read_labels_file(path, context.view), stamp)
    corrected = labels.assign(**{label: other_labels(labels[label], context.training.task)})
    corrected = corrected.head(1)
    record_labels(context.lake, context.view, corrected, datetime.now(UTC))
    stored = context.lake.read(LABELS_TABLE).to_pandas().set_index(PREDICTION_ID)
    assert len(stored) == len(labels)
    assert stored.loc[corrected[PREDICTION_ID].iloc[0], label] == corrected[label].iloc[0]
    record_labels(context.lake, context.view, labels, datetime.now(UTC))
    pd.concat([labels, labels.head(1)]).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match="1 rows without"):
        read_labels_file(path, context.view)


def test_the_scored_window_with_its_true_labels_is_healthy(
    trained_context: ProjectContext, labels: pd.DataFrame
) -> None:
    record_labels(trained_context.lake, trained_context.view, labels, datetime.now(UTC))
    run = check(trained_context, DAY, ONE_DAY)
    assert run.outcome.problems == [], run.outcome.verdict()
    assert run.outcome.performance is not None
    assert run.outcome.performance.labelled_rows == run.outcome.drift.current_rows == len(labels)
    assert run.outcome.drift.prediction is not None
    assert [path.suffix for path in run.reports] == [".json", ".html"]
    assert run.delivery == "no alert: nothing found"


def test_a_sampled_window_keeps_each_rows_own_label(
    trained_context: ProjectContext, labels: pd.DataFrame
) -> None:
    record_labels(trained_context.lake, trained_context.view, labels, datetime.now(UTC))
    config = MonitoringConfig(drift=DriftConfig(window_days=1, max_current_rows=35, min_rows=30))
    run = check(trained_context, DAY, config)
    assert run.outcome.drift.current_rows == 35
    assert run.outcome.performance is not None and run.outcome.performance.labelled_rows == 35


def test_shifted_features_and_wrong_labels_alert_once(
    trained_context: ProjectContext,
    labels: pd.DataFrame,
    tmp_path: Path,
    http_receiver: HttpReceiver,
) -> None:
    context, label = trained_context, trained_context.view.label.name
    current = read_prediction_window(context.lake, DAY, 1).merge(labels, on=PREDICTION_ID)
    for name in context.view.numeric_features:
        current[name] = current[name] * 1.5 + current[name].std()
    current = current.assign(**{label: other_labels(current[label], context.training.task, 300)})
    path = tmp_path / "shifted.parquet"
    current.to_parquet(path)
    run = check(context, path, context.monitoring, http_receiver.url)
    assert {"data drift", "concept drift"} <= set(run.outcome.problems)
    assert run.delivery == "alert posted to the webhook"
    [post] = http_receiver.requests
    assert f"*Model {context.settings.model_name} v1: data drift" in post.body.decode()

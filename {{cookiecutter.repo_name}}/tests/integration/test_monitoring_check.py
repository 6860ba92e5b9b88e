"""The monitoring check on the real predictions and labels tables of a trained project."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from src.context import ProjectContext
from src.data.feature_store import INGEST_DATE
from src.data.predictions import PREDICTION_ID
from src.errors import DataValidationError
from src.model.mlflow_manager import PRODUCTION_ALIAS
from src.monitoring.check import (
    MonitoringOutcome,
    deliver,
    read_current_window,
    run_monitoring_check,
)
from src.monitoring.config import DriftConfig
from src.monitoring.drift import write_reports
from src.monitoring.labels import read_labels_file, record_labels
from src.monitoring.performance import training_metrics_from_tags
from src.names import LABELS_TABLE
from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference
from tests.conftest import SAMPLE_END, HttpReceiver

pytestmark = pytest.mark.integration

# Another day than the batch inference tests score, so the two never meet in the table.
DAY = SAMPLE_END - timedelta(days=3)


@pytest.fixture(scope="module")
def scored(trained_context: ProjectContext) -> pd.DataFrame:
    context = trained_context
    run_batch_inference(
        context.lake, context.store, context.view, context.mlflow, context.settings.model_name,
        DAY, context.settings.aws.s3.processed_prefix, context.monitoring.drift,
        context.settings.reports_dir,
    )  # fmt: skip
    return read_current_window(context.lake, context.view, DAY, 1)


def true_labels(context: ProjectContext, predictions: pd.DataFrame) -> pd.DataFrame:
    """The ground truth of the scored rows, as it would arrive later: from the gold layer."""
    entity, label = context.view.entity.name, context.view.label.name
    gold = context.lake.read(context.view.table, where=f"{INGEST_DATE} = '{DAY.isoformat()}'")
    truth = gold.to_pandas()[[entity, label]]
    return predictions[[PREDICTION_ID, entity]].merge(truth, on=entity)[[PREDICTION_ID, label]]


def check(context: ProjectContext, current: pd.DataFrame) -> MonitoringOutcome:
    name = context.settings.model_name
    predictor = context.mlflow.load_predictor(name, PRODUCTION_ALIAS)
    version = context.mlflow.get_version(name, PRODUCTION_ALIAS)
    assert version is not None
    return run_monitoring_check(
        predictor,
        context.mlflow.load_reference(predictor.run_id),
        current,
        context.view.label.name,
        training_metrics_from_tags(dict(version.tags)),
        context.monitoring,
        "a test window",
    )


def test_labels_are_upserted_by_prediction_id(
    trained_context: ProjectContext, scored: pd.DataFrame, tmp_path: Path
) -> None:
    context, label = trained_context, trained_context.view.label.name
    labels = true_labels(context, scored)
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    now = datetime(2025, 2, 1, tzinfo=UTC)
    for _ in range(2):
        record_labels(context.lake, context.view, read_labels_file(path, context.view), now)
    corrected = labels.head(1).assign(**{label: labels[label].iloc[0] + 1})
    record_labels(context.lake, context.view, corrected, now)
    stored = context.lake.read(LABELS_TABLE).to_pandas().set_index(PREDICTION_ID)
    assert len(stored) == len(labels)
    assert stored.loc[corrected[PREDICTION_ID].iloc[0], label] == corrected[label].iloc[0]
    # Back to the truth for the next tests.
    record_labels(context.lake, context.view, labels, now)


def test_a_labels_file_with_repeated_ids_is_refused(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    label = trained_context.view.label.name
    path = tmp_path / "bad.csv"
    pd.DataFrame({PREDICTION_ID: ["a", "a"], label: [1, 0]}).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match="1 repeated prediction_ids"):
        read_labels_file(path, trained_context.view)


def test_the_logged_window_with_its_labels_is_healthy(
    trained_context: ProjectContext, scored: pd.DataFrame
) -> None:
    context = trained_context
    record_labels(context.lake, context.view, true_labels(context, scored), datetime.now(UTC))
    current = read_current_window(context.lake, context.view, DAY, 1)
    outcome = check(context, current)
    assert outcome.problems == [], outcome.verdict()
    assert outcome.performance is not None
    assert outcome.performance.labelled_rows == len(current) > 0
    assert set(outcome.performance.live) == set(outcome.performance.training)
    assert outcome.prediction is not None


def test_wrong_labels_show_concept_drift_and_shifted_features_drift(
    trained_context: ProjectContext,
    scored: pd.DataFrame,
    tmp_path: Path,
    http_receiver: HttpReceiver,
) -> None:
    context, label = trained_context, trained_context.view.label.name
    current = scored.copy()
    features = context.view.feature_names
    current[features] = current[features] * 1.5 + current[features].std()
    truth = true_labels(context, scored).set_index(PREDICTION_ID)[label]
    wrong = 1 - truth if context.training.task == "classification" else truth + 300
    current[label] = current[PREDICTION_ID].map(wrong)
    outcome = check(context, current.drop(columns=["prediction"]))
    assert {"data drift", "concept drift"} <= set(outcome.problems)
    now = datetime.now(UTC)
    reports = write_reports(
        outcome.drift, outcome.evidence, tmp_path, now, html=True, sections=outcome.sections()
    )
    assert [path.suffix for path in reports] == [".json", ".html"]
    delivery = deliver(
        outcome, context.monitoring, reports, now, "file", http_receiver.url, http_receiver.url
    )
    assert delivery.failures == []
    push, post = http_receiver.requests
    assert (push.method, push.path) == (
        "PUT",
        f"/metrics/job/drift_check/model_name/{context.settings.model_name}",
    )
    pushed = push.body.decode()
    assert "drift_check_dataset_drift 1.0" in pushed
    assert "model_concept_drift 1.0" in pushed
    assert 'drift_check_column_drifted{column="' + features[0] + '"} 1.0' in pushed
    assert post.method == "POST"
    assert "concept drift" in post.body.decode()


def test_the_window_is_a_bounded_seeded_sample_with_its_labels(
    trained_context: ProjectContext, scored: pd.DataFrame
) -> None:
    context, label = trained_context, trained_context.view.label.name
    record_labels(context.lake, context.view, true_labels(context, scored), datetime.now(UTC))
    full = read_current_window(context.lake, context.view, DAY, 1)
    bound = DriftConfig(max_current_rows=25, sample_seed=7)
    first, again = (
        read_current_window(context.lake, context.view, DAY, 1, drift=bound) for _ in range(2)
    )
    other = read_current_window(
        context.lake, context.view, DAY, 1, drift=DriftConfig(max_current_rows=25, sample_seed=8)
    )
    assert len(full) > 25 and len(first) == 25
    assert set(first[PREDICTION_ID]) == set(again[PREDICTION_ID]) <= set(full[PREDICTION_ID])
    assert set(first[PREDICTION_ID]) != set(other[PREDICTION_ID])
    # Each sampled row keeps its own label, joined from the streamed labels table.
    expected = full.set_index(PREDICTION_ID)[label]
    assert first.set_index(PREDICTION_ID)[label].equals(expected.loc[first[PREDICTION_ID]])
    assert first[label].notna().all()

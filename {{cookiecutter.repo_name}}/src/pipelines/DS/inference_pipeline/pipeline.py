"""The six batch inference steps in order for one run date.

The day's rows stream through in record batches: each batch is checked, scored and
written to a local Parquet file before the next is read, so memory follows the batch,
not the day. Only when every batch has passed does anything reach the object store or
the table; a bad batch stops the run with nothing written.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.data.predictions import scored_rows_table
from src.errors import DataValidationError
from src.model.mlflow_manager import MlflowManager
from src.model.predictor import Predictor
from src.monitoring.config import MonitoringConfig
from src.monitoring.drift import DriftResult
from src.pipelines.DS.inference_pipeline.features import prepare_features
from src.pipelines.DS.inference_pipeline.loading import (
    load_scoring_table,
    stream_scoring_rows,
    validate_schema,
)
from src.pipelines.DS.inference_pipeline.model_loading import (
    check_model_features,
    load_production_model,
)
from src.pipelines.DS.inference_pipeline.monitoring import check_batch_drift
from src.pipelines.DS.inference_pipeline.prediction import ScoringSummary, predict_batch
from src.pipelines.DS.inference_pipeline.storage import PredictionFile, store_predictions

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.parquet"


@dataclass(frozen=True)
class BatchInferenceOutcome:
    rows: int
    model_version: str
    output_uri: str
    drift: DriftResult | None
    drift_skipped_reason: str | None


def score_batches(
    predictor: Predictor,
    batches: Iterable[pa.Table],
    view: FeatureView,
    day: date,
    output: PredictionFile,
) -> ScoringSummary:
    """Steps 1 to 4 for each batch: schema check, features, predictions to `output`."""
    predicted_at = datetime.now(UTC)
    summary = ScoringSummary(predictor.is_regression)
    for table in batches:
        validate_schema(
            table, view.feature_names, view.categorical_features, view.nullable_features
        )
        matrix = prepare_features(table, view)
        scored = predict_batch(predictor, table, matrix, view, day, predicted_at, summary.rows)
        output.write(scored_rows_table([scored], view))
        summary.add(scored.predictions)
    return summary


def run_batch_inference(
    lake: Lake,
    store: pafs.FileSystem,
    view: FeatureView,
    manager: MlflowManager,
    model_name: str,
    day: date,
    processed_prefix: str,
    monitoring: MonitoringConfig,
    reports_dir: Path,
    input_file: Path | None = None,
) -> BatchInferenceOutcome:
    batches: Iterable[pa.Table] = (
        [load_scoring_table(input_file)] if input_file else stream_scoring_rows(lake, view, day)
    )
    predictor = load_production_model(manager, model_name)
    check_model_features(predictor.feature_names, view)
    with tempfile.TemporaryDirectory(prefix="batch-inference-") as folder:
        path = Path(folder) / PREDICTIONS_FILE
        with PredictionFile(path, view) as output:
            summary = score_batches(predictor, batches, view, day, output)
        logger.info("scored %d rows with v%s: %s", summary.rows, predictor.version,
                    summary.describe())  # fmt: skip
        output_uri = store_predictions(
            lake, store, view, path, processed_prefix, day, predictor.model_name
        )
        drift: DriftResult | None = None
        skipped: str | None = None
        try:
            drift, _ = check_batch_drift(manager, predictor, view, path, monitoring, reports_dir)
        except DataValidationError as error:
            skipped = str(error)
    return BatchInferenceOutcome(
        rows=summary.rows,
        model_version=predictor.version,
        output_uri=output_uri,
        drift=drift,
        drift_skipped_reason=skipped,
    )

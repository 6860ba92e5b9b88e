"""The six batch inference steps in order for one run date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from src.data.aws_integration import ObjectStore
from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.errors import DataValidationError
from src.model.mlflow_manager import MlflowManager
from src.monitoring.config import DriftConfig
from src.monitoring.drift import DriftResult
from src.pipelines.DS.inference_pipeline.features import prepare_features
from src.pipelines.DS.inference_pipeline.loading import (
    load_scoring_rows,
    load_scoring_table,
    validate_schema,
)
from src.pipelines.DS.inference_pipeline.model_loading import (
    check_model_features,
    load_production_model,
)
from src.pipelines.DS.inference_pipeline.monitoring import check_batch_drift
from src.pipelines.DS.inference_pipeline.prediction import predict_batch
from src.pipelines.DS.inference_pipeline.storage import store_predictions


@dataclass(frozen=True)
class BatchInferenceOutcome:
    rows: int
    model_version: str
    output_uri: str
    drift: DriftResult | None
    drift_skipped_reason: str | None


def run_batch_inference(
    lake: Lake,
    store: ObjectStore,
    view: FeatureView,
    manager: MlflowManager,
    model_name: str,
    day: date,
    processed_prefix: str,
    drift_config: DriftConfig,
    reports_dir: Path,
    input_file: Path | None = None,
) -> BatchInferenceOutcome:
    table = load_scoring_table(input_file) if input_file else load_scoring_rows(lake, view, day)
    validate_schema(table, view.feature_names, view.categorical_features, view.nullable_features)
    matrix = prepare_features(table, view)
    predictor = load_production_model(manager, model_name)
    check_model_features(predictor.feature_names, view)
    scored = predict_batch(predictor, table, matrix, view, day)
    output_uri, stored = store_predictions(lake, store, view, scored, processed_prefix, day)
    drift: DriftResult | None = None
    skipped: str | None = None
    try:
        drift, _ = check_batch_drift(manager, predictor, stored, drift_config, reports_dir)
    except DataValidationError as error:
        skipped = str(error)
    return BatchInferenceOutcome(
        rows=len(scored),
        model_version=predictor.version,
        output_uri=output_uri,
        drift=drift,
        drift_skipped_reason=skipped,
    )

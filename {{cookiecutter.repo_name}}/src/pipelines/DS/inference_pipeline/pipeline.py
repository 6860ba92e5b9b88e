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
    load_scoring_file,
    load_scoring_rows,
    validate_schema,
)
from src.pipelines.DS.inference_pipeline.model_loading import load_production_model
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
    frame = load_scoring_file(input_file) if input_file else load_scoring_rows(lake, view, day)
    validate_schema(frame, view.feature_names)
    features = prepare_features(frame, view)
    predictor = load_production_model(manager, model_name)
    scored = predict_batch(predictor, features, view, day)
    output_uri = store_predictions(lake, store, view, scored, processed_prefix, day)
    drift: DriftResult | None = None
    skipped: str | None = None
    try:
        drift, _ = check_batch_drift(manager, predictor, scored, drift_config, reports_dir)
    except DataValidationError as error:
        skipped = str(error)
    return BatchInferenceOutcome(
        rows=len(scored),
        model_version=predictor.version,
        output_uri=output_uri,
        drift=drift,
        drift_skipped_reason=skipped,
    )

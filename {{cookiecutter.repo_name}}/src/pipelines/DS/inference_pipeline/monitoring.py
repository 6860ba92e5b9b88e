"""Step 6: a seeded sample of the day's predictions against the model's reference set."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from src.data.predictions import PREDICTION_ID
from src.data.sampling import sample_stream
from src.model.mlflow_manager import MlflowManager
from src.model.predictor import Predictor
from src.monitoring.config import DriftConfig
from src.monitoring.drift import DriftResult, detect_drift, write_reports


def check_batch_drift(
    manager: MlflowManager,
    predictor: Predictor,
    predictions: Path,
    config: DriftConfig,
    reports_dir: Path,
) -> tuple[DriftResult, list[Path]]:
    """Drift of the day's predictions file: at most `max_current_rows` rows of it (the
    sampling rule of config/monitoring.yaml), so memory does not follow the day."""
    reference = manager.load_reference(
        predictor.run_id, config.max_reference_rows, config.sample_seed
    )
    sample = sample_stream(predictions, PREDICTION_ID, config.max_current_rows, config.sample_seed)
    current = sample.select(predictor.feature_names).to_pandas()
    result, snapshot = detect_drift(reference, current, predictor.feature_names, config)
    paths = write_reports(result, snapshot, reports_dir, datetime.now(UTC), html=False)
    return result, paths

"""Step 6: hand the day's predictions to the drift check against the model's reference."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from src.model.mlflow_manager import MlflowManager
from src.model.predictor import Predictor
from src.monitoring.config import DriftConfig
from src.monitoring.drift import DriftResult, detect_drift, write_reports


def check_batch_drift(
    manager: MlflowManager,
    predictor: Predictor,
    scored: pa.Table,
    config: DriftConfig,
    reports_dir: Path,
) -> tuple[DriftResult, list[Path]]:
    reference = manager.load_reference(predictor.run_id)
    current = scored.select(predictor.feature_names).to_pandas()
    result, snapshot = detect_drift(reference, current, predictor.feature_names, config)
    paths = write_reports(result, snapshot, reports_dir, datetime.now(UTC), html=False)
    return result, paths

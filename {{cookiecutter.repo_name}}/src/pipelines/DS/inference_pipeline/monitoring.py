"""Step 6: the day's predictions against the model's reference set: the report `make
drift-check` makes (src/monitoring/drift.py), on the same columns, over a seeded sample of at
most `drift.max_current_rows` of the day's rows. It reports; the monitoring job alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from src.data.feature_store import FeatureView
from src.data.sampling import sample_batches
from src.model.mlflow_manager import MlflowManager
from src.model.predictor import Predictor
from src.monitoring.config import MonitoringConfig
from src.monitoring.drift import DriftResult, run_drift_report, write_reports


def check_batch_drift(
    manager: MlflowManager,
    predictor: Predictor,
    view: FeatureView,
    predictions: Path,
    config: MonitoringConfig,
    reports_dir: Path,
) -> tuple[DriftResult, list[Path]]:
    drift = config.drift
    reference = manager.load_reference(
        predictor.run_id, drift.max_reference_rows, drift.sample_seed
    )
    batches = pq.ParquetFile(predictions).iter_batches()
    current = sample_batches(batches, drift.max_current_rows, drift.sample_seed).to_pandas()
    result, report = run_drift_report(reference, current, view, predictor.task, config)
    summary = {"source": f"batch predictions of v{predictor.version}", **result.to_dict()}
    return result, write_reports(report, summary, reports_dir, datetime.now(UTC))

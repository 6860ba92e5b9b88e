"""Step 1: the labelled rows of the feature store as of one snapshot, checked before anything
trains on them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from src.data.feature_store import FeatureView, TrainingSample, get_training_set
from src.data.lake import Lake
from src.errors import DataValidationError
from src.model.config import TrainingConfig

MIN_TRAINING_ROWS = 50


@dataclass(frozen=True)
class Extract:
    frame: pd.DataFrame
    table: str
    snapshot_id: str  # the data version a model is tagged with


def extract_training_set(lake: Lake, view: FeatureView, config: TrainingConfig) -> Extract:
    """At most `data.max_rows` labelled rows (a seeded sample drawn by the lake's engine,
    stratified by label for classification), as of one snapshot of the view."""
    classes = config.task == "classification"
    sample = TrainingSample(max_rows=config.data.max_rows, seed=config.seed, stratified=classes)
    frame, snapshot_id = get_training_set(lake, view, sample)
    if len(frame) < MIN_TRAINING_ROWS:
        raise DataValidationError(
            f"{view.table} holds {len(frame)} labelled rows; training needs at least "
            f"{MIN_TRAINING_ROWS}. Run the data pipeline first (make setup)."
        )
    if frame[view.label.name].nunique() < 2:
        raise DataValidationError(f"label {view.label.name} has a single value; nothing to learn")
    # Missing values are the model's to handle only where the contract allows them.
    required = [name for name in view.feature_names if name not in view.nullable_features]
    incomplete = [name for name in required if frame[name].isna().any()]
    if incomplete:
        raise DataValidationError(
            f"{view.table} has missing values in features {', '.join(incomplete)}; features "
            "not marked nullable in config/features.yaml must be complete (see the silver rules)"
        )
    return Extract(frame, view.table, "none" if snapshot_id is None else str(snapshot_id))

"""Step 1: the training set from the feature store, checked before anything trains on it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from src.data.feature_store import FeatureView, TrainingSample, get_training_set
from src.data.lake import Lake
from src.errors import DataValidationError

MIN_TRAINING_ROWS = 50
NO_SNAPSHOT = "none"


@dataclass(frozen=True)
class Extract:
    frame: pd.DataFrame
    table: str
    # The Iceberg snapshot the rows were read from: the data version a model is tagged with.
    snapshot_id: str
    location: str


def check_training_set(frame: pd.DataFrame, view: FeatureView) -> pd.DataFrame:
    if len(frame) < MIN_TRAINING_ROWS:
        raise DataValidationError(
            f"{view.table} holds {len(frame)} labelled rows; training needs at least "
            f"{MIN_TRAINING_ROWS}. Run the data pipeline first (make setup)."
        )
    if frame[view.label.name].nunique() < 2:
        raise DataValidationError(f"label {view.label.name} has a single value; nothing to learn")
    # Missing values are the model's to handle only where the contract allows them.
    nullable = set(view.nullable_features)
    incomplete = [
        name for name in view.feature_names if name not in nullable and frame[name].isna().any()
    ]
    if incomplete:
        raise DataValidationError(
            f"{view.table} has missing values in features {', '.join(incomplete)}; "
            "features not marked nullable in config/features.yaml must be complete "
            "(see the silver quality rules)"
        )
    return frame


def extract_snapshot(lake: Lake, view: FeatureView, sample: TrainingSample) -> Extract:
    """The training set (at most `sample.max_rows` rows) as of one snapshot of the view, and
    that snapshot's id: a write landing during the read cannot mix into the rows the model
    is tagged with."""
    frame, snapshot_id = get_training_set(lake, view, sample)
    tag = str(snapshot_id) if snapshot_id is not None else NO_SNAPSHOT
    return Extract(
        check_training_set(frame, view), view.table, tag, lake.load(view.table).location()
    )

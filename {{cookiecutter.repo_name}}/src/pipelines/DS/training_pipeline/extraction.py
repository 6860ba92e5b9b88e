"""Step 1: the training set from the feature store, checked before anything trains on it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from src.data.feature_store import FeatureView, get_training_set
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


def extract_training_set(lake: Lake, view: FeatureView) -> pd.DataFrame:
    frame = get_training_set(lake, view)
    if len(frame) < MIN_TRAINING_ROWS:
        raise DataValidationError(
            f"{view.table} holds {len(frame)} labelled rows; training needs at least "
            f"{MIN_TRAINING_ROWS}. Run the data pipeline first (make setup)."
        )
    if frame[view.label.name].nunique() < 2:
        raise DataValidationError(f"label {view.label.name} has a single value; nothing to learn")
    incomplete = [name for name in view.feature_names if frame[name].isna().any()]
    if incomplete:
        raise DataValidationError(
            f"{view.table} has missing values in features {', '.join(incomplete)}; "
            "gold rows must be complete (see the silver quality rules)"
        )
    return frame


def read_snapshot_id(lake: Lake, table: str) -> str:
    snapshot = lake.load(table).current_snapshot()
    return str(snapshot.snapshot_id) if snapshot is not None else NO_SNAPSHOT


def extract_snapshot(lake: Lake, view: FeatureView) -> Extract:
    """The training set and the snapshot it came from; a write landing during the read would
    make the snapshot id a lie, so that is an error (run again) rather than a silent mix."""
    before = read_snapshot_id(lake, view.table)
    frame = extract_training_set(lake, view)
    after = read_snapshot_id(lake, view.table)
    if before != after:
        raise DataValidationError(
            f"{view.table} changed while it was read (snapshot {before} -> {after}); "
            "run training again"
        )
    return Extract(frame, view.table, after, str(lake.load(view.table).location()))

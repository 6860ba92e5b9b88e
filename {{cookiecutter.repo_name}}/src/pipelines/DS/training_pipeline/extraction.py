"""Step 1: the training set from the feature store, checked before anything trains on it."""

from __future__ import annotations

import pandas as pd

from src.data.feature_store import FeatureView, get_training_set
from src.data.lake import Lake
from src.errors import DataValidationError

MIN_TRAINING_ROWS = 50


def extract_training_set(lake: Lake, view: FeatureView) -> pd.DataFrame:
    frame = get_training_set(lake, view)
    if len(frame) < MIN_TRAINING_ROWS:
        raise DataValidationError(
            f"{view.table} holds {len(frame)} labelled rows; training needs at least "
            f"{MIN_TRAINING_ROWS}. Run the data pipeline first (make setup)."
        )
    if frame[view.label.name].nunique() < 2:
        raise DataValidationError(f"label {view.label.name} has a single value; nothing to learn")
    return frame

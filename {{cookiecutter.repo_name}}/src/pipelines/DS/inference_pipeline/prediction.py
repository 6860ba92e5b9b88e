"""Step 4: predictions with the identifiers that make each row traceable."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from src.data.feature_store import FeatureView
from src.data.predictions import (
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTED_AT,
    PREDICTION_DATE,
    PREDICTION_ID,
    SOURCE,
)
from src.model.predictor import Predictor


def predict_batch(
    predictor: Predictor, frame: pd.DataFrame, view: FeatureView, day: date
) -> pd.DataFrame:
    scored = frame.reset_index(drop=True).copy()
    predictions = predictor.predict_frame(scored)
    for column in predictions.columns:
        scored[column] = predictions[column]
    entity = view.entity.name
    if entity not in scored.columns:
        scored[entity] = None
    # Deterministic ids: re-running a day rewrites the same rows, not new ones.
    scored[PREDICTION_ID] = [f"batch-{day.isoformat()}-{index:08d}" for index in scored.index]
    scored[MODEL_NAME] = predictor.model_name
    scored[MODEL_VERSION] = predictor.version
    scored[SOURCE] = "batch"
    scored[PREDICTED_AT] = datetime.now(UTC)
    scored[PREDICTION_DATE] = day
    return scored

"""Step 5: predictions to the object store and the Iceberg table, replacing the day's batch."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd

from src.data.aws_integration import ObjectStore
from src.data.feature_store import FeatureView
from src.data.lake import Lake
from src.data.predictions import replace_predictions, to_predictions_table


def predictions_key(processed_prefix: str, day: date) -> str:
    return f"{processed_prefix}/predictions/prediction_date={day.isoformat()}/predictions.parquet"


def store_predictions(
    lake: Lake,
    store: ObjectStore,
    view: FeatureView,
    scored: pd.DataFrame,
    processed_prefix: str,
    day: date,
) -> str:
    buffer = io.BytesIO()
    to_predictions_table(scored, view).to_pandas().to_parquet(buffer, index=False)
    key = predictions_key(processed_prefix, day)
    store.put_bytes(key, buffer.getvalue())
    replace_predictions(lake, view, scored, day)
    return store.uri(key)

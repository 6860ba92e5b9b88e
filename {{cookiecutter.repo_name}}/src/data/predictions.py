"""The predictions table: what online and batch inference log and drift checks read."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow as pa

from src.data.feature_store import ARROW_TYPES, EVENT_TIME_TYPE, FeatureView
from src.data.lake import Lake
from src.data.tables import PREDICTIONS_TABLE

PREDICTION_ID = "prediction_id"
PREDICTION = "prediction"
PROBABILITY = "probability"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
SOURCE = "source"
PREDICTED_AT = "predicted_at"
PREDICTION_DATE = "prediction_date"


def predictions_schema(view: FeatureView) -> pa.Schema:
    return pa.schema(
        [
            pa.field(PREDICTION_ID, pa.string(), nullable=False),
            pa.field(view.entity.name, ARROW_TYPES[view.entity.dtype]),
            *(pa.field(f.name, ARROW_TYPES[f.dtype]) for f in view.features),
            pa.field(PREDICTION, ARROW_TYPES[view.label.dtype]),
            pa.field(PROBABILITY, pa.float64()),
            pa.field(MODEL_NAME, pa.string(), nullable=False),
            pa.field(MODEL_VERSION, pa.string(), nullable=False),
            pa.field(SOURCE, pa.string(), nullable=False),
            pa.field(PREDICTED_AT, EVENT_TIME_TYPE, nullable=False),
            pa.field(PREDICTION_DATE, pa.date32(), nullable=False),
        ]
    )


def ensure_predictions_table(lake: Lake, view: FeatureView) -> None:
    lake.create_table(PREDICTIONS_TABLE, predictions_schema(view), partition_by=PREDICTION_DATE)


def to_predictions_table(frame: pd.DataFrame, view: FeatureView) -> pa.Table:
    schema = predictions_schema(view)
    rows = frame.reindex(columns=schema.names)
    return pa.Table.from_pandas(rows, schema=schema, preserve_index=False)


def replace_predictions(lake: Lake, view: FeatureView, frame: pd.DataFrame, day: date) -> None:
    """Write one day's batch predictions, replacing that day's earlier batch rows."""
    ensure_predictions_table(lake, view)
    where = f"{PREDICTION_DATE} = '{day.isoformat()}' AND {SOURCE} = 'batch'"
    lake.overwrite(PREDICTIONS_TABLE, to_predictions_table(frame, view), where=where)


def append_predictions(lake: Lake, view: FeatureView, frame: pd.DataFrame) -> None:
    ensure_predictions_table(lake, view)
    lake.append(PREDICTIONS_TABLE, to_predictions_table(frame, view))


def read_prediction_window(lake: Lake, last_day: date, days: int) -> pd.DataFrame:
    """Predictions of the `days` days ending with `last_day`."""
    if not lake.table_exists(PREDICTIONS_TABLE):
        return pd.DataFrame()
    first_day = last_day - timedelta(days=days - 1)
    where = (
        f"{PREDICTION_DATE} >= '{first_day.isoformat()}' "
        f"AND {PREDICTION_DATE} <= '{last_day.isoformat()}'"
    )
    frame: pd.DataFrame = lake.read(PREDICTIONS_TABLE, where=where).to_pandas()
    return frame

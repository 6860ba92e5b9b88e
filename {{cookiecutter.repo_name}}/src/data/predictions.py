"""The predictions table: what online and batch inference log and drift checks read, one row
per scored input, partitioned by day. A batch rerun of a model replaces that model's batch
rows of the day and nothing else; drift windows read one model version at a time.
"""

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import cast

import pandas as pd
import pyarrow as pa
from pyiceberg.expressions import And, BooleanExpression, EqualTo

from src.data.feature_store import ARROW_TYPES, EVENT_TIME_TYPE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.sampling import sample_batches
from src.names import PREDICTIONS_TABLE

PREDICTION_ID = "prediction_id"
REQUEST_ID = "request_id"  # the client's X-Request-ID: kept, never a prediction id
PREDICTION = "prediction"
PROBABILITY = "probability"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
SOURCE = "source"
PREDICTED_AT = "predicted_at"
PREDICTION_DATE = "prediction_date"

SOURCE_ONLINE = "online"
SOURCE_BATCH = "batch"


def predictions_schema(view: FeatureView) -> pa.Schema:
    return pa.schema(
        [
            pa.field(PREDICTION_ID, pa.string(), nullable=False),
            pa.field(REQUEST_ID, pa.string()),
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


def replace_batch_predictions(
    lake: Lake, view: FeatureView, parts: Callable[[], Iterable[pa.Table]], day: date,
    model_name: str,
) -> None:  # fmt: skip
    """Replace one model's batch predictions of a day with `parts()`, in one snapshot."""
    ensure_predictions_table(lake, view)
    owned = And(
        EqualTo(term=PREDICTION_DATE, value=day.isoformat()),
        EqualTo(term=SOURCE, value=SOURCE_BATCH),
        EqualTo(term=MODEL_NAME, value=model_name),
    )
    lake.replace(PREDICTIONS_TABLE, owned, parts)


def append_prediction_table(lake: Lake, view: FeatureView, table: pa.Table) -> None:
    """Append a batch of predictions once, keyed by its first prediction id (unique to it)."""
    ensure_predictions_table(lake, view)
    lake.append(PREDICTIONS_TABLE, table, key=table[PREDICTION_ID][0].as_py())


def prediction_window_filter(
    last_day: date, days: int, model_name: str | None = None, model_version: str | None = None
) -> BooleanExpression:
    """The row filter of the `days` days ending with `last_day`, of one model (and version)."""
    window = DataInterval(last_day - timedelta(days=days - 1), last_day + timedelta(days=1))
    where = window.row_filter(PREDICTION_DATE)
    for column, value in ((MODEL_NAME, model_name), (MODEL_VERSION, model_version)):
        if value is not None:
            where = And(where, EqualTo(term=column, value=value))
    return where


def read_prediction_window(
    lake: Lake, last_day: date, days: int, model_name: str | None = None,
    version: str | None = None, rows: int | None = None, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Predictions of the `days` days ending with `last_day`, of one model (and version); at
    most `rows` of them, a seeded sample read in bounded memory."""
    if not lake.exists(PREDICTIONS_TABLE):
        return pd.DataFrame()
    where = prediction_window_filter(last_day, days, model_name, version)
    if rows is None:
        return cast(pd.DataFrame, lake.read(PREDICTIONS_TABLE, where=where).to_pandas())
    batches = lake.stream(PREDICTIONS_TABLE, where)
    return cast(pd.DataFrame, sample_batches(batches, rows, seed).to_pandas())


def prediction_window_versions(lake: Lake, last_day: date, days: int, model_name: str) -> list[str]:
    """The versions of `model_name` whose predictions the window holds."""
    if not lake.exists(PREDICTIONS_TABLE):
        return []
    where = prediction_window_filter(last_day, days, model_name)
    batches = lake.stream(PREDICTIONS_TABLE, where, [MODEL_VERSION])
    return sorted({version for batch in batches for version in batch[0].unique().to_pylist()})


def count_prediction_window(
    lake: Lake, last_day: date, days: int, model_name: str | None = None
) -> int:
    if not lake.exists(PREDICTIONS_TABLE):
        return 0
    return lake.count(PREDICTIONS_TABLE, where=prediction_window_filter(last_day, days, model_name))

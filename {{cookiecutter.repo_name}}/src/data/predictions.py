"""The predictions table: what online and batch inference log and drift checks read.

One row per scored input: its id, the entity (when known), the feature values, the
prediction, the model that made it, where it came from (`online` or `batch`) and when.
Partitioned by `prediction_date`. Rows are keyed by model: a batch rerun of one model
replaces that model's batch rows of the day and nothing else, and drift windows read one
model and version at a time.

Batch prediction ids are a hash of the model, its version, the entity id and the event
time (src/pipelines/DS/inference_pipeline/pipeline.py), so a rerun gives every row the id
it had before, and labels logged against an id keep joining the same entity's row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThanOrEqual,
)

from src.data.feature_store import ARROW_TYPES, EVENT_TIME_TYPE, FeatureView
from src.data.lake import Lake
from src.data.sampling import sample_batches
from src.names import PREDICTIONS_TABLE

PREDICTION_ID = "prediction_id"
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


def batch_day_filter(day: date, model_name: str) -> BooleanExpression:
    """The rows a batch run of `model_name` on `day` owns: a rerun replaces exactly these."""
    return And(
        EqualTo(term=PREDICTION_DATE, value=day.isoformat()),
        EqualTo(term=SOURCE, value=SOURCE_BATCH),
        EqualTo(term=MODEL_NAME, value=model_name),
    )


def replace_batch_predictions(
    lake: Lake, view: FeatureView, parts: Callable[[], Iterable[pa.Table]], day: date,
    model_name: str,
) -> None:  # fmt: skip
    """Replace one model's batch predictions of a day with the tables `parts()` yields, in
    one snapshot; every row must be that model's."""

    def checked() -> Iterator[pa.Table]:
        for part in parts():
            if part.num_rows and set(part.column(MODEL_NAME).unique().to_pylist()) != {model_name}:
                raise ValueError(f"rows of other models cannot replace those of {model_name!r}")
            yield part

    ensure_predictions_table(lake, view)
    lake.replace(PREDICTIONS_TABLE, batch_day_filter(day, model_name), checked)


def replace_predictions(
    lake: Lake, view: FeatureView, frame: pd.DataFrame, day: date, model_name: str
) -> None:
    """`replace_batch_predictions` of a DataFrame in the table's columns (tests, notebooks)."""
    schema = predictions_schema(view)
    table = pa.Table.from_pandas(frame.reindex(columns=schema.names), schema=schema)
    replace_batch_predictions(lake, view, lambda: [table], day, model_name)


def append_prediction_table(lake: Lake, view: FeatureView, table: pa.Table) -> None:
    ensure_predictions_table(lake, view)
    lake.append(PREDICTIONS_TABLE, table)


def prediction_window_filter(
    last_day: date, days: int, model_name: str | None = None, model_version: str | None = None
) -> BooleanExpression:
    """The row filter of the `days` days ending with `last_day`, of one model (and version)."""
    first_day = last_day - timedelta(days=days - 1)
    where: BooleanExpression = And(
        GreaterThanOrEqual(term=PREDICTION_DATE, value=first_day.isoformat()),
        LessThanOrEqual(term=PREDICTION_DATE, value=last_day.isoformat()),
    )
    if model_name is not None:
        where = And(where, EqualTo(term=MODEL_NAME, value=model_name))
    if model_version is not None:
        where = And(where, EqualTo(term=MODEL_VERSION, value=model_version))
    return where


def read_prediction_window(
    lake: Lake,
    last_day: date,
    days: int,
    model_name: str | None = None,
    model_version: str | None = None,
) -> pd.DataFrame:
    """Predictions of the `days` days ending with `last_day`, of one model (and version)."""
    if not lake.exists(PREDICTIONS_TABLE):
        return pd.DataFrame()
    where = prediction_window_filter(last_day, days, model_name, model_version)
    frame: pd.DataFrame = lake.read(PREDICTIONS_TABLE, where=where).to_pandas()
    return frame


def sample_prediction_window(
    lake: Lake,
    last_day: date,
    days: int,
    model_name: str,
    model_version: str,
    rows: int,
    seed: int,
) -> pd.DataFrame:
    """`read_prediction_window` of one model version, at most `rows` of them: a seeded
    sample streamed from PyIceberg's scan, so memory follows `rows`, not the window."""
    if not lake.exists(PREDICTIONS_TABLE):
        return pd.DataFrame()
    where = prediction_window_filter(last_day, days, model_name, model_version)
    batches = lake.load(PREDICTIONS_TABLE).scan(row_filter=where).to_arrow_batch_reader()
    frame: pd.DataFrame = sample_batches(batches, rows, seed).to_pandas()
    return frame


def prediction_window_versions(lake: Lake, last_day: date, days: int, model_name: str) -> list[str]:
    """The versions of `model_name` whose predictions the window holds."""
    if not lake.exists(PREDICTIONS_TABLE):
        return []
    where = prediction_window_filter(last_day, days, model_name)
    scan = lake.load(PREDICTIONS_TABLE).scan(row_filter=where, selected_fields=(MODEL_VERSION,))
    found = {v for batch in scan.to_arrow_batch_reader() for v in batch[0].unique().to_pylist()}
    return sorted(found)


def count_prediction_window(
    lake: Lake, last_day: date, days: int, model_name: str | None = None
) -> int:
    """How many predictions of one model the window holds, counted without loading rows."""
    if not lake.exists(PREDICTIONS_TABLE):
        return 0
    return lake.count(PREDICTIONS_TABLE, where=prediction_window_filter(last_day, days, model_name))

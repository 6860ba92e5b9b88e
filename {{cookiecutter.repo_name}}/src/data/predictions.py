"""The predictions table: what online and batch inference log and drift checks read.

One row per scored input: its id, the entity (when known), the feature values, the
prediction, the model that made it, where it came from (`online` or `batch`) and when.
Partitioned by `prediction_date`. Rows are keyed by model: a batch rerun of one model
replaces that model's batch rows of the day and nothing else, and drift windows read one
model and version at a time.

Batch prediction ids are a hash of the model, its version, the entity id and the event
time, so a rerun (even after gold was rewritten and its rows reordered) gives every row the
id it had before, and labels logged against an id keep joining the same entity's row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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


def stable_prediction_ids(
    model_name: str,
    model_version: str,
    entity_ids: pa.Array | pa.ChunkedArray,
    event_times: pa.Array | pa.ChunkedArray,
) -> pa.Array:
    """md5 of (model name, version, entity id, event time in UTC microseconds), as hex.

    Computed in DuckDB (vectorized): a day can hold millions of rows. A row without an
    entity id or event time cannot have a stable id: that is a clear error, not a guess.
    """
    rows = pa.table({"entity": entity_ids, "event_time": event_times})
    if rows.column("entity").null_count or rows.column("event_time").null_count:
        raise ValueError("every row needs an entity id and an event time for a stable id")
    rows = rows.append_column("model", pa.repeat(pa.scalar(model_name), rows.num_rows))
    rows = rows.append_column("version", pa.repeat(pa.scalar(model_version), rows.num_rows))
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("keyed_rows", rows)
        result = connection.sql(
            "SELECT md5(concat_ws(chr(31), model, version, entity::VARCHAR, "
            "epoch_us(event_time::TIMESTAMPTZ)::VARCHAR)) AS id FROM keyed_rows"
        ).to_arrow_table()
    finally:
        connection.close()
    ids = result.column("id")
    return ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids


def positional_prediction_ids(
    model_name: str, model_version: str, day: date, rows: int, start: int = 0
) -> pa.Array:
    """Ids for rows that name no entity or event time (a scoring file): by position only
    (`start` is the position of the first row, for a batch of a longer stream)."""
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(start, start + rows)), pa.string()), 8, "0")
    prefix = f"batch-{model_name}-v{model_version}-{day.isoformat()}-"
    return pc.binary_join_element_wise(prefix, numbers, "")


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


@dataclass(frozen=True)
class ScoredRows:
    """Rows scored by one model, as arrays: what batch inference hands to the table.

    `features` is a float matrix whose columns are `feature_names`; `entity_ids` may be
    None when the caller did not name the entities.
    """

    prediction_ids: Sequence[str] | pa.Array
    entity_ids: Sequence[str | None] | pa.Array | None
    feature_names: Sequence[str]
    features: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray | None
    model_name: str
    model_version: str
    source: str
    predicted_at: datetime
    # The partition: the run date of batch scoring.
    prediction_date: date

    def __len__(self) -> int:
        return len(self.prediction_ids)


def scored_rows_table(chunks: Sequence[ScoredRows], view: FeatureView) -> pa.Table:
    """One Arrow table in the predictions schema from any number of scored chunks."""
    schema = predictions_schema(view)
    if not chunks:
        return schema.empty_table()
    return pa.concat_tables([_chunk_table(chunk, schema, view) for chunk in chunks])


def _chunk_table(chunk: ScoredRows, schema: pa.Schema, view: FeatureView) -> pa.Table:
    rows = len(chunk)
    column_of = {name: index for index, name in enumerate(chunk.feature_names)}
    columns: dict[str, pa.Array] = {
        PREDICTION_ID: _string_array(chunk.prediction_ids),
        view.entity.name: _entity_array(chunk.entity_ids, rows, schema.field(view.entity.name)),
    }
    for feature in view.features:
        field = schema.field(feature.name)
        index = column_of.get(feature.name)
        columns[feature.name] = (
            pa.nulls(rows, field.type)
            if index is None
            else pa.array(chunk.features[:, index], type=field.type)
        )
    columns[PREDICTION] = pa.array(chunk.predictions, type=schema.field(PREDICTION).type)
    columns[PROBABILITY] = (
        pa.nulls(rows, pa.float64())
        if chunk.probabilities is None
        else pa.array(chunk.probabilities, type=pa.float64())
    )
    columns[MODEL_NAME] = pa.repeat(pa.scalar(chunk.model_name), rows)
    columns[MODEL_VERSION] = pa.repeat(pa.scalar(chunk.model_version), rows)
    columns[SOURCE] = pa.repeat(pa.scalar(chunk.source), rows)
    columns[PREDICTED_AT] = pa.repeat(pa.scalar(chunk.predicted_at, EVENT_TIME_TYPE), rows)
    columns[PREDICTION_DATE] = pa.repeat(pa.scalar(chunk.prediction_date, pa.date32()), rows)
    return pa.Table.from_pydict(columns, schema=schema)


def _string_array(values: Sequence[str] | pa.Array) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.cast(pa.string())
    return pa.array(values, pa.string())


def _entity_array(
    entity_ids: Sequence[str | None] | pa.Array | None, rows: int, field: pa.Field
) -> pa.Array:
    if entity_ids is None:
        return pa.nulls(rows, field.type)
    if isinstance(entity_ids, pa.Array | pa.ChunkedArray):
        return entity_ids.cast(field.type)
    return pa.array(entity_ids, type=field.type)


def ensure_predictions_table(lake: Lake, view: FeatureView) -> None:
    lake.create_table(PREDICTIONS_TABLE, predictions_schema(view), partition_by=PREDICTION_DATE)


def to_predictions_table(frame: pd.DataFrame, view: FeatureView) -> pa.Table:
    schema = predictions_schema(view)
    rows = frame.reindex(columns=schema.names)
    return pa.Table.from_pandas(rows, schema=schema, preserve_index=False)


def batch_day_filter(day: date, model_name: str) -> BooleanExpression:
    """The rows a batch run of `model_name` on `day` owns: a rerun replaces exactly these."""
    return And(
        EqualTo(term=PREDICTION_DATE, value=day.isoformat()),
        EqualTo(term=SOURCE, value=SOURCE_BATCH),
        EqualTo(term=MODEL_NAME, value=model_name),
    )


def replace_batch_predictions(
    lake: Lake, view: FeatureView, table: pa.Table, day: date, model_name: str
) -> None:
    """Write one model's batch predictions of a day in one snapshot, replacing its old ones."""
    names = set(table.column(MODEL_NAME).unique().to_pylist()) if table.num_rows else set()
    if names - {model_name}:
        raise ValueError(f"rows of {sorted(names)} cannot replace the rows of {model_name!r}")
    ensure_predictions_table(lake, view)
    lake.replace(PREDICTIONS_TABLE, batch_day_filter(day, model_name), lambda: [table])


def replace_batch_prediction_chunks(
    lake: Lake, view: FeatureView, chunks: Iterable[pa.Table], day: date, model_name: str
) -> None:
    """`replace_batch_predictions` from a stream of chunks (one transaction): memory
    follows the chunk, not the day."""

    def checked() -> Iterator[pa.Table]:
        for chunk in chunks:
            names = set(chunk.column(MODEL_NAME).unique().to_pylist()) if chunk.num_rows else set()
            if names - {model_name}:
                raise ValueError(
                    f"rows of {sorted(names)} cannot replace the rows of {model_name!r}"
                )
            yield chunk

    ensure_predictions_table(lake, view)
    lake.replace(PREDICTIONS_TABLE, batch_day_filter(day, model_name), checked)


def replace_predictions(
    lake: Lake, view: FeatureView, frame: pd.DataFrame, day: date, model_name: str
) -> None:
    """`replace_batch_predictions` for a DataFrame in the table's columns."""
    replace_batch_predictions(lake, view, to_predictions_table(frame, view), day, model_name)


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

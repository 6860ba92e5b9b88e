"""The feature store: feature definitions (config/features.yaml) and point-in-time retrieval.

A feature view is one gold table: per entity and event time, the feature values and,
when known, the label. Training reads it through a point-in-time join: each label event
gets the latest feature values of its entity at or before the event's time, never later
ones, so no future information leaks into training.

Rows of a view are unique per (entity, event time, ingest date). When the same entity and
event time arrive again on a later ingest date (a correction, or a late-arriving copy),
the later ingestion wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, Field, model_validator

from src.data.lake import Lake
from src.errors import ProjectError
from src.names import gold_table
from src.settings import load_yaml_config

DType = Literal["float64", "int64", "string", "bool"]
ARROW_TYPES = {
    "float64": pa.float64(),
    "int64": pa.int64(),
    "string": pa.string(),
    "bool": pa.bool_(),
}
SQL_TYPES = {"float64": "DOUBLE", "int64": "BIGINT", "string": "VARCHAR", "bool": "BOOLEAN"}
EVENT_TIME_TYPE = pa.timestamp("us", tz="UTC")
# The partition column of every medallion table: the day the rows arrived.
INGEST_DATE = "ingest_date"
NAME = r"^[a-z][a-z0-9_]*$"  # a column name SQL takes unquoted in both engines


class Column(BaseModel):
    name: str = Field(pattern=NAME)
    # float64 and int64 are numbers; string and bool are categories, encoded by the model.
    dtype: DType
    description: str = ""
    # A value may be missing: the model imputes it, or the estimator takes NaN itself.
    nullable: bool = False
    # The contract's bounds and allowed values: checked at ingestion, online and in batch.
    min: float | None = None
    max: float | None = None
    values: list[str | int | float | bool] | None = Field(default=None, min_length=1)
    # A derived feature: SQL over the silver columns, computed in gold (not in raw files).
    expression: str | None = Field(default=None, min_length=1)

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("float64", "int64")

    @model_validator(mode="after")
    def check_contract(self) -> Column:
        if (self.min is not None or self.max is not None) and not self.is_numeric:
            raise ValueError(f"{self.name}: min and max apply to numbers, not {self.dtype}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min} is above max {self.max}")
        return self


class FeatureView(BaseModel):
    name: str = Field(pattern=NAME)
    dataset: str = Field(pattern=NAME)
    description: str = ""
    entity: Column
    event_timestamp: str = Field(pattern=NAME)
    label: Column
    features: list[Column] = Field(min_length=1)
    # Raw columns that are not features themselves: inputs of derived features.
    source_columns: list[Column] = Field(default_factory=list)

    @model_validator(mode="after")
    def check_names(self) -> FeatureView:
        names = [*self.key_columns, self.label.name, *self.feature_names]
        names += [column.name for column in self.source_columns]
        clashes = sorted({name for name in names if names.count(name) > 1 or name == INGEST_DATE})
        if clashes:
            raise ValueError(f"column names must be distinct and not {INGEST_DATE}: {clashes}")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def raw_columns(self) -> list[Column]:
        """What raw files carry besides the keys: measured features, source columns, label."""
        measured = [feature for feature in self.features if feature.expression is None]
        return [*measured, *self.source_columns, self.label]

    @property
    def derived_features(self) -> list[Column]:
        return [feature for feature in self.features if feature.expression is not None]

    @property
    def numeric_features(self) -> list[str]:
        return [feature.name for feature in self.features if feature.is_numeric]

    @property
    def categorical_features(self) -> list[str]:
        return [feature.name for feature in self.features if not feature.is_numeric]

    @property
    def nullable_features(self) -> list[str]:
        return [feature.name for feature in self.features if feature.nullable]

    @property
    def key_columns(self) -> list[str]:
        return [self.entity.name, self.event_timestamp]

    @property
    def table(self) -> str:
        return gold_table(self.name)

    def keyed_schema(self, columns: list[Column]) -> pa.Schema:
        """Keys, `columns` typed, the ingest date: silver's and gold's schema."""
        keys = [
            (self.entity.name, ARROW_TYPES[self.entity.dtype]),
            (self.event_timestamp, EVENT_TIME_TYPE),
        ]
        typed = [pa.field(column.name, ARROW_TYPES[column.dtype]) for column in columns]
        required = [pa.field(*key, nullable=False) for key in keys]
        return pa.schema([*required, *typed, pa.field(INGEST_DATE, pa.date32(), nullable=False)])

    def silver_schema(self) -> pa.Schema:
        return self.keyed_schema(self.raw_columns)

    def arrow_schema(self) -> pa.Schema:
        """Gold's schema: keys, every feature (derived ones too), the label, the ingest date."""
        return self.keyed_schema([*self.features, self.label])


def load_feature_view(path: Path) -> FeatureView:
    return load_yaml_config(path, FeatureView)


def quote_identifier(name: str) -> str:
    """A column name as a DuckDB SQL identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


# Sorts after every ingest date: at equal event times a label event comes after the
# feature rows, so a feature row of the event's own time counts as "at or before" it.
EVENT_ORDER_DATE = "DATE '9999-12-31'"


@dataclass(frozen=True)
class TrainingSample:
    """At most `max_rows` rows of the training set, the same ones for the same seed.

    Each row draws md5(seed | entity | event time in microseconds); for classification the
    rows are ranked by draw within their label and the `max_rows` rows of lowest rank
    share (rank / label count) are kept, so every label keeps its share of the rows (to
    within one row). Without `stratified` the `max_rows` lowest draws are kept. The draw
    depends on the row's keys only, so the same data and seed give the same sample in
    DuckDB and Athena, whatever the file order.
    """

    max_rows: int
    seed: int
    stratified: bool

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ProjectError(f"a training sample needs max_rows >= 1, not {self.max_rows}")


def training_set_query(view: FeatureView, source: str, sample: TrainingSample | None = None) -> str:
    """The point-in-time training set as one SQL query over the table named `source`.

    Each labelled (entity, event time) once, with the label of its latest ingestion; its
    features from the entity's latest feature row (one with any feature set) at or before
    the event, ties on event time broken by the later ingest date; events with no such row
    are dropped; sorted by entity and event time. DuckDB's dialect, written to mean the
    same in Trino once SQLGlot transpiles it (window functions, no ASOF JOIN, no QUALIFY).
    The windows sort keys only: each event finds its feature row's (event time, ingest
    date), the sample is drawn among those events, and only the chosen events fetch their
    features; past the engine's memory the sorts spill, and narrow rows spill little.
    """
    entity, event_time = (quote_identifier(c) for c in view.key_columns)
    label, ingest_date = quote_identifier(view.label.name), quote_identifier(INGEST_DATE)
    features = ", ".join(f"f.{quote_identifier(name)}" for name in view.feature_names)
    chosen = "events"
    query = _matched_events(view, source)
    if sample is not None:
        query += _sampled_events(view, sample)
        chosen = "sampled"
    return (
        f"{query} SELECT e.{entity}, e.{event_time}, {features}, e.{label} "  # noqa: S608  # nosec B608
        f"FROM {chosen} AS e JOIN source AS f ON f.{entity} = e.{entity} "
        f"AND f.{event_time} = e._feature_time AND f.{ingest_date} = e._feature_date "
        f"ORDER BY e.{entity}, e.{event_time}"
    )


def _matched_events(view: FeatureView, source: str) -> str:
    """CTEs up to `events`: each label event with its feature row's time and ingest date."""
    entity, event_time = (quote_identifier(c) for c in view.key_columns)
    label, ingest_date = quote_identifier(view.label.name), quote_identifier(INGEST_DATE)
    features = [quote_identifier(name) for name in view.feature_names]
    keys = f"{entity}, {event_time}"
    any_feature = " OR ".join(f"{name} IS NOT NULL" for name in features)
    # Along each entity's timeline, the last non-null of a value only feature rows carry.
    so_far = (
        f"OVER (PARTITION BY {entity} ORDER BY {event_time}, _order_date, _is_event "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    latest = "last_value(CASE WHEN _is_event = 0 THEN {} END IGNORE NULLS) " + so_far
    return (
        f"WITH source AS (SELECT {keys}, {', '.join(features)}, {label}, {ingest_date} "  # noqa: S608  # nosec B608
        f"FROM {source}), "
        f"label_events AS (SELECT {keys}, {label} FROM (SELECT {keys}, {label}, row_number() "
        f"OVER (PARTITION BY {keys} ORDER BY {ingest_date} DESC) AS _latest FROM source "
        f"WHERE {label} IS NOT NULL) AS labelled WHERE _latest = 1), "
        f"timeline AS (SELECT {keys}, {ingest_date} AS _order_date, 0 AS _is_event, "
        f"CAST(NULL AS {SQL_TYPES[view.label.dtype]}) AS {label} FROM source WHERE {any_feature} "
        f"UNION ALL SELECT {keys}, {EVENT_ORDER_DATE} AS _order_date, 1 AS _is_event, "
        f"{label} FROM label_events), "
        f"matched AS (SELECT {keys}, {label}, _is_event, {latest.format(event_time)} AS "
        f"_feature_time, {latest.format('_order_date')} AS _feature_date FROM timeline), "
        f"events AS (SELECT {keys}, {label}, _feature_time, _feature_date FROM matched "
        f"WHERE _is_event = 1 AND _feature_time IS NOT NULL)"
    )


def _sampled_events(view: FeatureView, sample: TrainingSample) -> str:
    """CTEs `drawn`, `ranked`, `sampled`: the seeded sample of `events` (see TrainingSample)."""
    entity, event_time = (quote_identifier(c) for c in view.key_columns)
    label = quote_identifier(view.label.name)
    columns = f"{entity}, {event_time}, {label}, _feature_time, _feature_date"
    stratum = f"PARTITION BY {label} " if sample.stratified else ""
    micros = f"CAST(round(epoch({event_time}) * 1000000) AS BIGINT)"
    draw = (
        f"md5(concat_ws('|', '{int(sample.seed)}', CAST({entity} AS VARCHAR), "
        f"CAST({micros} AS VARCHAR)))"
    )
    return (
        f", drawn AS (SELECT {columns}, {draw} AS _draw FROM events), "  # noqa: S608  # nosec B608
        f"ranked AS (SELECT *, row_number() OVER ({stratum}ORDER BY _draw) AS _rank, "
        f"count(*) OVER ({stratum.strip()}) AS _stratum_rows FROM drawn), "
        f"sampled AS (SELECT {columns} FROM ranked "
        f"ORDER BY (CAST(_rank AS DOUBLE) - 0.5) / _stratum_rows, _draw "
        f"LIMIT {int(sample.max_rows)})"
    )


def cast_to_view(table: pa.Table, view: FeatureView) -> pd.DataFrame:
    """A training set's rows in the contract's types: keys, features, label."""
    schema = view.arrow_schema()
    names = [*view.key_columns, *view.feature_names, view.label.name]
    fields = [schema.field(name) for name in names]
    frame: pd.DataFrame = table.select(names).cast(pa.schema(fields)).to_pandas()
    return frame


def get_training_set(
    lake: Lake, view: FeatureView, sample: TrainingSample | None = None
) -> tuple[pd.DataFrame, int | None]:
    """Every label event with the features known at its time (or the seeded `sample` of
    them), and the id of the gold snapshot it was computed from. The lake's engine runs the
    query (DuckDB here, Athena on AWS); a commit landing meanwhile makes it run again, so
    the id a model is tagged with is the data it saw."""
    query = training_set_query(view, lake.identifier(view.table), sample)
    for _ in range(3):
        before = lake.snapshot_id(view.table)
        result = lake.sql(query)
        if lake.snapshot_id(view.table) == before:
            return cast_to_view(result, view), before
    raise ProjectError(f"{view.table} kept changing while the training set was read; retry")

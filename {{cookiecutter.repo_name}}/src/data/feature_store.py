"""The feature store: the contract (config/features.yaml) and the point-in-time training set.

Each label event gets its entity's latest features at or before its time, so nothing from
the future leaks into training; of two ingestions of one (entity, event time) the later wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, Field, model_validator

from src.data.lake import Lake
from src.errors import ProjectError
from src.names import gold_table
from src.settings import load_yaml_config

DType = Literal["float64", "int64", "string", "bool"]
ARROW_TYPES = {dtype: pa.type_for_alias(dtype) for dtype in get_args(DType)}
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
        """Keys, `columns` typed, the ingest date."""
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
    """At most `max_rows` rows, drawn by md5(seed, keys) so both engines pick the same ones;
    `stratified` keeps each label's share of the rows (to within one row)."""

    max_rows: int  # at least 1 (training.yaml's data.max_rows)
    seed: int
    stratified: bool


def training_set_query(view: FeatureView, source: str, sample: TrainingSample | None = None) -> str:
    """The point-in-time training set as one SQL query over `source`, meaning the same in
    Trino once transpiled (windows, no ASOF JOIN); events without earlier features drop.
    The windows sort keys only; only the chosen events fetch their features."""
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
    # CTEs up to `events`: each label event with its feature row's time and ingest date.
    query = (
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
    chosen = "events"
    if sample is not None:
        query += _sampled_events(view, sample)
        chosen = "sampled"
    return (
        f"{query} SELECT e.{entity}, e.{event_time}, {', '.join('f.' + f for f in features)}, "  # noqa: S608  # nosec B608
        f"e.{label} FROM {chosen} AS e JOIN source AS f ON f.{entity} = e.{entity} "
        f"AND f.{event_time} = e._feature_time AND f.{ingest_date} = e._feature_date "
        f"ORDER BY e.{entity}, e.{event_time}"
    )


def _sampled_events(view: FeatureView, sample: TrainingSample) -> str:
    """CTEs `drawn`, `ranked`, `sampled`: the seeded sample of `events`."""
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
    schema = pa.schema(list(view.arrow_schema())[:-1])  # keys, features, label; no ingest date
    return cast(pd.DataFrame, table.select(schema.names).cast(schema).to_pandas())


def get_training_set(
    lake: Lake, view: FeatureView, sample: TrainingSample | None = None
) -> tuple[pd.DataFrame, int | None]:
    """The training set and the gold snapshot id it was read from (a commit landing
    meanwhile makes it read again, so a model's tag is the data it saw)."""
    query = training_set_query(view, lake.identifier(view.table), sample)
    for _ in range(3):
        before = lake.load(view.table).metadata.current_snapshot_id
        result = lake.sql(query)
        if lake.load(view.table).metadata.current_snapshot_id == before:
            return cast_to_view(result, view), before
    raise ProjectError(f"{view.table} kept changing while the training set was read; retry")

"""Gold: the feature view the feature store serves, built from silver per interval."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from src.data.feature_store import INGEST_DATE, FeatureView, quote_identifier
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.tables import silver_table
from src.errors import ConfigError


@dataclass(frozen=True)
class GoldResult:
    rows: int


def engineer_features(silver: pa.Table, view: FeatureView) -> pa.Table:
    """Silver rows to feature-view rows: entity id, event time, features, label.

    Measured features pass as they are; a derived feature is its `expression` of
    config/features.yaml, DuckDB SQL over the silver row, so that a rerun of an interval
    gives the same rows.
    """
    schema = view.arrow_schema()
    if not view.derived_features:
        return silver.select(schema.names).cast(schema)
    expressions = {feature.name: feature.expression for feature in view.derived_features}
    columns = [
        f"({expressions[name]}) AS {quote_identifier(name)}"
        if name in expressions
        else quote_identifier(name)
        for name in schema.names
    ]
    query = f"SELECT {', '.join(columns)} FROM silver"  # noqa: S608  # nosec B608
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("silver", silver)
        derived: pa.Table = connection.sql(query).to_arrow_table()
    except duckdb.Error as error:
        names = ", ".join(feature.name for feature in view.derived_features)
        raise ConfigError(
            f"a derived feature of config/features.yaml ({names}) does not compute: {error}"
        ) from error
    finally:
        connection.close()
    try:
        return derived.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise ConfigError(f"a derived feature does not give its dtype: {error}") from error


def build_gold(lake: Lake, view: FeatureView, interval: DataInterval) -> GoldResult:
    silver = lake.read(silver_table(view.dataset), where=interval.filter(INGEST_DATE))
    gold = engineer_features(silver, view)
    lake.create_table(view.table, view.arrow_schema(), partition_by=INGEST_DATE)
    lake.overwrite(view.table, gold, where=interval.filter(INGEST_DATE))
    return GoldResult(rows=gold.num_rows)

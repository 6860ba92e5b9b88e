"""Gold: the feature view the feature store serves, built from silver per interval.

One SELECT over silver (`gold_query`), in DuckDB's dialect: measured features pass as
they are, a derived feature is its `expression` of config/features.yaml over the silver
row, cast to its dtype. The lake's engine runs it and replaces the interval of the gold
table with its rows (`Lake.replace_from_query`): locally DuckDB computes and PyIceberg
commits one snapshot; on AWS Athena runs DELETE FROM and INSERT INTO on the Iceberg table
in place (two commits: a reader in between sees the interval empty, a failure in
between leaves it empty until the rerun, which replaces it again). An expression must
be SQL both DuckDB and, once SQLGlot has transpiled it, Athena (Trino) run.
"""

from __future__ import annotations

from dataclasses import dataclass

from src.data.feature_store import INGEST_DATE, FeatureView, quote_identifier
from src.data.intervals import DataInterval
from src.data.lake import Lake, interval_predicate
from src.errors import ConfigError, ProjectError
from src.names import silver_table

# The SQL type each dtype of config/features.yaml is cast to, in both engines.
SQL_TYPES = {"float64": "DOUBLE", "int64": "BIGINT", "string": "VARCHAR", "bool": "BOOLEAN"}


@dataclass(frozen=True)
class GoldResult:
    rows: int


def gold_query(view: FeatureView, silver: str, interval_sql: str) -> str:
    """Silver rows of the interval to feature-view rows: entity, event time, features, label."""
    expressions = {feature.name: feature for feature in view.derived_features}
    columns = []
    for name in view.arrow_schema().names:
        feature = expressions.get(name)
        if feature is None:
            columns.append(quote_identifier(name))
            continue
        sql_type = SQL_TYPES.get(feature.dtype)
        if sql_type is None:
            raise ConfigError(
                f"derived feature {name} has dtype {feature.dtype}, not a number, text or bool"
            )
        columns.append(f"CAST(({feature.expression}) AS {sql_type}) AS {quote_identifier(name)}")
    return f"SELECT {', '.join(columns)} FROM {silver} WHERE {interval_sql}"  # noqa: S608  # nosec B608


def build_gold(lake: Lake, view: FeatureView, interval: DataInterval) -> GoldResult:
    query = gold_query(
        view, lake.identifier(silver_table(view.dataset)), interval_predicate(INGEST_DATE, interval)
    )
    lake.create_table(view.table, view.arrow_schema(), partition_by=INGEST_DATE)
    try:
        written = lake.replace_from_query(view.table, query, interval, INGEST_DATE)
    except ProjectError as error:
        if not view.derived_features:
            raise
        names = ", ".join(feature.name for feature in view.derived_features)
        raise ConfigError(
            f"a derived feature of config/features.yaml ({names}) does not compute: {error}"
        ) from error
    return GoldResult(rows=written.rows)

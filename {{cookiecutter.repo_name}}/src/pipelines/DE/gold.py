"""Gold: the feature view built from silver per interval; a derived feature is its SQL
`expression` of config/features.yaml over the silver row, cast to its dtype."""

from __future__ import annotations

from src.data.feature_store import INGEST_DATE, SQL_TYPES, FeatureView, quote_identifier
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.errors import ConfigError, ProjectError
from src.names import silver_table


def gold_query(view: FeatureView, silver: str, interval_sql: str) -> str:
    """Silver rows of the interval as feature-view rows: keys, features, label, ingest date."""
    derived = {feature.name: feature for feature in view.features if feature.expression}
    columns = [
        f"CAST(({derived[name].expression}) AS {SQL_TYPES[derived[name].dtype]}) "
        f"AS {quote_identifier(name)}"
        if name in derived
        else quote_identifier(name)
        for name in view.arrow_schema().names
    ]
    return f"SELECT {', '.join(columns)} FROM {silver} WHERE {interval_sql}"  # noqa: S608  # nosec B608


def build_gold(lake: Lake, view: FeatureView, interval: DataInterval) -> int:
    """Replace gold's interval with silver's rows as features; returns its rows."""
    silver = lake.identifier(silver_table(view.dataset))
    lake.create_table(view.table, view.arrow_schema(), partition_by=INGEST_DATE)
    query = gold_query(view, silver, interval.sql(INGEST_DATE))
    try:
        return lake.replace_from_query(view.table, query, interval, INGEST_DATE)
    except ProjectError as error:
        names = ", ".join(feature.name for feature in view.features if feature.expression)
        if not names:
            raise
        raise ConfigError(f"a derived feature ({names}) does not compute: {error}") from error

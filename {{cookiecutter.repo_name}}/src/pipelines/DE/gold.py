"""Gold: the feature view the feature store serves, built from silver per interval."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.tables import silver_table


@dataclass(frozen=True)
class GoldResult:
    rows: int


def engineer_features(silver: pa.Table, view: FeatureView) -> pa.Table:
    """Silver rows to feature-view rows: entity id, event time, features, label.

    The sample views serve their measured columns as they are; derived features belong
    here (and in config/features.yaml), computed row by row so that a rerun of an
    interval gives the same rows.
    """
    schema = view.arrow_schema()
    return silver.select(schema.names).cast(schema)


def build_gold(lake: Lake, view: FeatureView, interval: DataInterval) -> GoldResult:
    silver = lake.read(silver_table(view.dataset), where=interval.filter(INGEST_DATE))
    gold = engineer_features(silver, view)
    lake.create_table(view.table, view.arrow_schema(), partition_by=INGEST_DATE)
    lake.overwrite(view.table, gold, where=interval.filter(INGEST_DATE))
    return GoldResult(rows=gold.num_rows)

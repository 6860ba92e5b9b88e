"""Gold: the feature view the feature store serves, built from silver per interval."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.tables import silver_table


@dataclass(frozen=True)
class GoldResult:
    rows: int


def engineer_features(silver: pd.DataFrame, view: FeatureView) -> pd.DataFrame:
    """Silver rows to feature-view rows; training and batch inference share this code path."""
    features: pd.DataFrame = silver[view.arrow_schema().names]
    return features.reset_index(drop=True)


def build_gold(lake: Lake, view: FeatureView, interval: DataInterval) -> GoldResult:
    silver = lake.read(silver_table(view.dataset), where=interval.filter(INGEST_DATE)).to_pandas()
    gold = engineer_features(silver, view)
    schema = view.arrow_schema()
    lake.create_table(view.table, schema, partition_by=INGEST_DATE)
    lake.overwrite(
        view.table,
        pa.Table.from_pandas(gold, schema=schema, preserve_index=False),
        where=interval.filter(INGEST_DATE),
    )
    return GoldResult(rows=len(gold))

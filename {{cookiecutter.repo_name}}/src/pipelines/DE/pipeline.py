"""The data engineering pipeline end to end for one data interval."""

from __future__ import annotations

from dataclasses import dataclass

from src.data.aws_integration import ObjectStore
from src.data.feature_store import FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.pipelines.DE.bronze import BronzeResult, ingest_bronze
from src.pipelines.DE.gold import GoldResult, build_gold
from src.pipelines.DE.silver import SilverResult, build_silver


@dataclass(frozen=True)
class DataPipelineResult:
    bronze: BronzeResult
    silver: SilverResult
    gold: GoldResult

    def summary(self) -> str:
        return (
            f"bronze: {self.bronze.files_ingested} files ingested, "
            f"{self.bronze.files_skipped} already there; "
            f"silver: {self.silver.rows_valid} rows valid, "
            f"{self.silver.rows_quarantined} quarantined; gold: {self.gold.rows} rows"
        )


def run_data_pipeline(
    lake: Lake, store: ObjectStore, view: FeatureView, raw_prefix: str, interval: DataInterval
) -> DataPipelineResult:
    bronze = ingest_bronze(lake, store, view, raw_prefix, interval)
    silver = build_silver(lake, view, interval)
    gold = build_gold(lake, view, interval)
    return DataPipelineResult(bronze=bronze, silver=silver, gold=gold)

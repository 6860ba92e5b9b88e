"""Silver: typed, deduplicated and validated rows; every rejected row goes to quarantine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.tables import bronze_table, quarantine_table, silver_table
from src.pipelines.DE.bronze import INGESTED_AT, SOURCE_FILE

REJECT_RULE = "_rule"
REJECT_REASON = "_reason"


@dataclass(frozen=True)
class SilverResult:
    rows_in: int
    rows_valid: int
    rows_quarantined: int


def quarantine_schema(view: FeatureView) -> pa.Schema:
    raw_columns = [*view.key_columns, *view.feature_names, view.label.name]
    return pa.schema(
        [
            *(pa.field(name, pa.string()) for name in raw_columns),
            pa.field(SOURCE_FILE, pa.string()),
            pa.field(REJECT_RULE, pa.string()),
            pa.field(REJECT_REASON, pa.string()),
            pa.field(INGEST_DATE, pa.date32()),
        ]
    )


def type_and_validate(bronze: pd.DataFrame, view: FeatureView) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split bronze rows into typed valid rows and rejected raw rows with rule and reason."""
    rule = pd.Series("", index=bronze.index, dtype=object)
    reason = pd.Series("", index=bronze.index, dtype=object)

    def reject(mask: pd.Series, rule_name: str, message: str) -> None:
        fresh = mask & (rule == "")
        rule[fresh] = rule_name
        reason[fresh] = message

    typed = pd.DataFrame(index=bronze.index)
    entity = bronze[view.entity.name].str.strip()
    reject(entity == "", "not_null", f"{view.entity.name} is empty")
    typed[view.entity.name] = entity
    timestamps = pd.to_datetime(bronze[view.event_timestamp], utc=True, errors="coerce")
    reject(timestamps.isna(), "type", f"{view.event_timestamp} is not a timestamp")
    typed[view.event_timestamp] = timestamps
    for column in [*view.features, view.label]:
        values = pd.to_numeric(bronze[column.name], errors="coerce")
        reject(values.isna(), "type", f"{column.name} is not a number")
        reject(~np.isfinite(values.fillna(0)), "finite", f"{column.name} is not finite")
        typed[column.name] = values
    typed[INGEST_DATE] = bronze[INGEST_DATE]
    typed[INGESTED_AT] = bronze[INGESTED_AT]

    valid = typed[rule == ""]
    # The latest ingested copy of an (entity, event time) pair wins.
    valid = valid.sort_values(INGESTED_AT).drop_duplicates(view.key_columns, keep="last")
    rejected = bronze[rule != ""].assign(
        **{REJECT_RULE: rule[rule != ""], REJECT_REASON: reason[rule != ""]}
    )
    duplicates = typed.index.difference(valid.index).difference(rejected.index)
    if len(duplicates):
        rejected = pd.concat(
            [
                rejected,
                bronze.loc[duplicates].assign(
                    **{REJECT_RULE: "unique", REJECT_REASON: "duplicate of a later ingested row"}
                ),
            ]
        )
    return valid.drop(columns=[INGESTED_AT]), rejected


def build_silver(lake: Lake, view: FeatureView, interval: DataInterval) -> SilverResult:
    bronze = lake.read(bronze_table(view.dataset), where=interval.filter(INGEST_DATE)).to_pandas()
    valid, rejected = type_and_validate(bronze, view)
    for column in [*view.features, view.label]:
        if column.dtype == "int64":
            valid[column.name] = valid[column.name].astype("int64")

    schema = view.arrow_schema()
    lake.create_table(silver_table(view.dataset), schema, partition_by=INGEST_DATE)
    lake.overwrite(
        silver_table(view.dataset),
        pa.Table.from_pandas(valid[schema.names], schema=schema, preserve_index=False),
        where=interval.filter(INGEST_DATE),
    )
    q_schema = quarantine_schema(view)
    lake.create_table(quarantine_table(view.dataset), q_schema, partition_by=INGEST_DATE)
    lake.overwrite(
        quarantine_table(view.dataset),
        pa.Table.from_pandas(rejected[q_schema.names], schema=q_schema, preserve_index=False),
        where=interval.filter(INGEST_DATE),
    )
    return SilverResult(rows_in=len(bronze), rows_valid=len(valid), rows_quarantined=len(rejected))

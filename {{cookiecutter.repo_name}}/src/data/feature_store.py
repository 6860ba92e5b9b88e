"""The feature store: the feature view contract (config/features.yaml) and its retrieval.

Gold tables hold one row per entity and event time with the features and the label;
training reads them as a training set, online inference reads the latest values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, Field, field_validator

from src.config import load_yaml_config
from src.data.lake import Lake
from src.data.tables import gold_table

DType = Literal["float64", "int64", "string", "bool"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "float64": pa.float64(),
    "int64": pa.int64(),
    "string": pa.string(),
    "bool": pa.bool_(),
}

# Columns every medallion table carries for lineage and idempotent rewrites.
INGEST_DATE = "ingest_date"
EVENT_TIME_TYPE = pa.timestamp("us", tz="UTC")


class Column(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    dtype: DType
    description: str = ""


class FeatureView(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    dataset: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    entity: Column
    event_timestamp: str
    label: Column
    features: list[Column] = Field(min_length=1)

    @field_validator("features")
    @classmethod
    def check_unique_names(cls, features: list[Column]) -> list[Column]:
        names = [feature.name for feature in features]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"feature names must be unique; repeated: {', '.join(duplicates)}")
        return features

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def key_columns(self) -> list[str]:
        return [self.entity.name, self.event_timestamp]

    @property
    def table(self) -> str:
        return gold_table(self.name)

    def arrow_schema(self) -> pa.Schema:
        """Schema of the typed (silver and gold) tables of this view."""
        return pa.schema(
            [
                pa.field(self.entity.name, ARROW_TYPES[self.entity.dtype], nullable=False),
                pa.field(self.event_timestamp, EVENT_TIME_TYPE, nullable=False),
                *(pa.field(f.name, ARROW_TYPES[f.dtype]) for f in self.features),
                pa.field(self.label.name, ARROW_TYPES[self.label.dtype]),
                pa.field(INGEST_DATE, pa.date32(), nullable=False),
            ]
        )


def load_feature_view(path: Path) -> FeatureView:
    return load_yaml_config(path, FeatureView)


def get_training_set(lake: Lake, view: FeatureView) -> pd.DataFrame:
    """Every labelled row of the feature view: entity, event time, features and label."""
    columns = [*view.key_columns, *view.feature_names, view.label.name]
    frame: pd.DataFrame = lake.read(view.table, columns=columns).to_pandas()
    return frame.dropna(subset=[view.label.name]).sort_values(view.key_columns, ignore_index=True)


def get_latest_features(lake: Lake, view: FeatureView, entity_ids: list[str]) -> pd.DataFrame:
    """The most recent feature values of each entity, for online use."""
    quoted = ", ".join("'" + entity.replace("'", "''") + "'" for entity in entity_ids)
    frame: pd.DataFrame = lake.read(view.table, where=f"{view.entity.name} IN ({quoted})").to_pandas()
    latest = frame.sort_values(view.event_timestamp).groupby(view.entity.name).tail(1)
    columns = [*view.key_columns, *view.feature_names]
    return latest[columns].reset_index(drop=True)

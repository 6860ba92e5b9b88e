"""A brute-force point-in-time join, the reference the feature store is tested against.

It walks every label event and every candidate row in plain Python, so it is slow and
obviously right: for each labelled (entity, event time), the label of its latest
ingestion, and the features of the row with the greatest (event time, ingest date) among
the entity's rows at or before the event that carry at least one feature value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from src.data.feature_store import INGEST_DATE, Column, FeatureView

SMALL_VIEW = FeatureView(
    name="pit_features",
    dataset="pit",
    entity=Column(name="customer_id", dtype="string"),
    event_timestamp="event_time",
    label=Column(name="churned", dtype="int64"),
    features=[Column(name="spend", dtype="float64"), Column(name="visits", dtype="float64")],
)
START = datetime(2025, 3, 1, tzinfo=UTC)


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(key): value for key, value in row.items()} for row in frame.to_dict("records")]


def random_rows(seed: int, rows: int = 300, entities: int = 12) -> pd.DataFrame:
    """Rows with repeated times (ties), several ingest dates (late arrivals, corrections),
    label-only rows, feature-only rows and partly missing features."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in rng.integers(0, entities, rows)],
            # Few distinct hours, so equal (entity, time) pairs are common.
            "event_time": [START + timedelta(hours=int(h)) for h in rng.integers(0, 40, rows)],
            INGEST_DATE: [START.date() + timedelta(days=int(d)) for d in rng.integers(0, 5, rows)],
            "spend": rng.normal(100, 30, rows).round(2),
            "visits": rng.integers(0, 20, rows).astype(float),
            "churned": rng.integers(0, 2, rows),
        }
    )
    kinds = ["both", "features_only", "label_only", "partial"]
    kind = rng.choice(kinds, rows, p=[0.4, 0.3, 0.2, 0.1])
    frame.loc[kind == "label_only", ["spend", "visits"]] = np.nan
    frame.loc[kind == "partial", "visits"] = np.nan
    frame["churned"] = frame["churned"].astype("Int64")
    frame.loc[kind == "features_only", "churned"] = pd.NA
    # The lake's invariant: one row per (entity, event time, ingest date).
    return frame.drop_duplicates(["customer_id", "event_time", INGEST_DATE], ignore_index=True)


def brute_force_training_set(frame: pd.DataFrame, view: FeatureView) -> pd.DataFrame:
    entity, time = view.key_columns
    label = view.label.name
    records = records_of(frame)
    events: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in records:
        if pd.isna(row[label]):
            continue
        key = (row[entity], row[time])
        if key not in events or row[INGEST_DATE] > events[key][INGEST_DATE]:
            events[key] = row
    result = []
    for (entity_id, event_time), event in sorted(events.items()):
        candidates = [
            row
            for row in records
            if row[entity] == entity_id
            and row[time] <= event_time
            and any(not pd.isna(row[name]) for name in view.feature_names)
        ]
        if not candidates:
            continue
        chosen = max(candidates, key=lambda row: (row[time], row[INGEST_DATE]))
        result.append(
            {
                entity: entity_id,
                time: event_time,
                **{name: chosen[name] for name in view.feature_names},
                label: event[label],
            }
        )
    return pd.DataFrame(result, columns=[*view.key_columns, *view.feature_names, label])


def brute_force_latest(
    frame: pd.DataFrame, view: FeatureView, as_of: datetime | None
) -> pd.DataFrame:
    entity, time = view.key_columns
    records = [
        row
        for row in records_of(frame)
        if any(not pd.isna(row[name]) for name in view.feature_names)
        and (as_of is None or row[time] <= as_of)
    ]
    latest: dict[Any, dict[str, Any]] = {}
    for row in records:
        current = latest.get(row[entity])
        if current is None or (row[time], row[INGEST_DATE]) > (current[time], current[INGEST_DATE]):
            latest[row[entity]] = row
    rows = [
        {entity: key, time: row[time], **{n: row[n] for n in view.feature_names}}
        for key, row in sorted(latest.items())
    ]
    return pd.DataFrame(rows, columns=[*view.key_columns, *view.feature_names])

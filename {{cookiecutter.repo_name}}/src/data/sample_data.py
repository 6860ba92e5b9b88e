"""Sample raw data for the embedded defaults, built from a dataset scikit-learn ships.

Each row becomes one patient with an entity id and an event timestamp; the rows are
spread over the days before `end_date` and landed as one CSV file per day under
`<raw_prefix>/<dataset>/ingest_date=YYYY-MM-DD/`, as an upstream system would drop them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

from src.data.aws_integration import ObjectStore
from src.data.feature_store import FeatureView
from src.errors import ConfigError

SAMPLE_DAYS = 10


def _breast_cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame.rename(columns=lambda name: name.replace(" ", "_"))


DIABETES_NAMES = {
    "s1": "total_cholesterol",
    "s2": "ldl",
    "s3": "hdl",
    "s4": "cholesterol_hdl_ratio",
    "s5": "log_triglycerides",
    "s6": "blood_sugar",
}


def _diabetes() -> pd.DataFrame:
    frame: pd.DataFrame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns=DIABETES_NAMES)


SAMPLE_LOADERS: dict[str, Callable[[], pd.DataFrame]] = {
    "breast_cancer": _breast_cancer,
    "diabetes": _diabetes,
}


def build_sample_frame(view: FeatureView, end_date: date, seed: int = 42) -> pd.DataFrame:
    """The sample dataset in the view's contract, with ids and timestamps, deterministic."""
    loader = SAMPLE_LOADERS.get(view.dataset)
    if loader is None:
        known = ", ".join(sorted(SAMPLE_LOADERS))
        raise ConfigError(f"no sample data for dataset {view.dataset!r}; known: {known}")
    source = loader().rename(columns={"target": view.label.name})
    missing = [name for name in view.feature_names if name not in source.columns]
    if missing:
        raise ConfigError(f"sample dataset {view.dataset!r} has no columns {missing}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(source))
    source = source.iloc[order].reset_index(drop=True)
    first_day = end_date - timedelta(days=SAMPLE_DAYS)
    days = np.arange(len(source)) % SAMPLE_DAYS
    seconds = rng.integers(0, 24 * 3600, size=len(source))
    midnight = datetime.combine(first_day, time(), tzinfo=UTC)
    timestamps = [
        midnight + timedelta(days=int(day), seconds=int(second))
        for day, second in zip(days, seconds, strict=True)
    ]
    frame = pd.DataFrame(
        {
            view.entity.name: [f"P{index:06d}" for index in order],
            view.event_timestamp: pd.to_datetime(timestamps, utc=True),
        }
    )
    frame[view.feature_names] = source[view.feature_names].to_numpy()
    frame[view.label.name] = source[view.label.name].to_numpy()
    return frame.sort_values(view.event_timestamp, ignore_index=True)


def raw_key(raw_prefix: str, dataset: str, day: date) -> str:
    """Where the raw file of `day` lands; an empty prefix means the store's root."""
    name = f"{dataset}/ingest_date={day.isoformat()}/{dataset}_{day.isoformat()}.csv"
    return f"{raw_prefix}/{name}" if raw_prefix else name


def land_sample_files(
    store: ObjectStore, view: FeatureView, raw_prefix: str, end_date: date, seed: int = 42
) -> list[str]:
    """Write one raw CSV per day; files already there are left untouched. Returns new keys."""
    frame = build_sample_frame(view, end_date, seed)
    event_days = frame[view.event_timestamp].dt.date
    written = []
    for day, rows in frame.groupby(event_days, sort=True):
        key = raw_key(raw_prefix, view.dataset, day)
        if store.exists(key):
            continue
        buffer = io.StringIO()
        rows.to_csv(buffer, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        store.put_bytes(key, buffer.getvalue().encode())
        written.append(key)
    return written

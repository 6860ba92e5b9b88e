"""The training set's point-in-time join (one SQL query, DuckDB here, Athena on AWS) against
a brute-force reading of its definition, on random histories."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from src.data.feature_store import FeatureView, TrainingSample, cast_to_view, training_set_query

VIEW = FeatureView.model_validate(
    {
        "name": "view",
        "dataset": "things",
        "entity": {"name": "id", "dtype": "string"},
        "event_timestamp": "ts",
        "label": {"name": "y", "dtype": "int64"},
        "features": [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "float64"}],
    }
)
START = datetime(2025, 1, 1, tzinfo=UTC)


def random_history(seed: int) -> pd.DataFrame:
    """Feature rows, label events and re-ingested corrections of a few entities, with ties."""
    rng = np.random.default_rng(seed)
    rows = 60
    days = [date(2025, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 3, rows)]
    frame = pd.DataFrame({
        "id": rng.choice(["p", "q", "r"], rows),
        "ts": [START + timedelta(hours=int(h)) for h in rng.integers(0, 12, rows)],
        "a": np.where(rng.random(rows) < 0.6, rng.normal(size=rows), np.nan),
        "b": rng.normal(size=rows),
        "y": np.where(rng.random(rows) < 0.5, rng.integers(0, 2, rows), -1),
        "ingest_date": days,
    })  # fmt: skip
    frame.loc[rng.random(rows) < 0.3, ["a", "b"]] = np.nan  # label-only rows
    frame = frame.drop_duplicates(["id", "ts", "ingest_date"])
    return frame.assign(y=frame["y"].where(frame["y"] >= 0))


def brute_force(history: pd.DataFrame) -> pd.DataFrame:
    """Each labelled (id, ts) once with its latest-ingested label, and the features of the
    entity's latest feature row at or before ts (later ingestion wins a tie)."""
    rows = []
    labelled = history.dropna(subset=["y"]).sort_values("ingest_date")
    for (entity, ts), events in labelled.groupby(["id", "ts"]):
        candidates = history[(history["id"] == entity) & (history["ts"] <= ts)]
        candidates = candidates[candidates[["a", "b"]].notna().any(axis=1)]
        if candidates.empty:
            continue
        latest = candidates.sort_values(["ts", "ingest_date"]).iloc[-1]
        rows.append({"id": entity, "ts": ts, "a": latest["a"], "b": latest["b"],
                     "y": int(events["y"].iloc[-1])})  # fmt: skip
    return pd.DataFrame(rows)


def run(history: pd.DataFrame, sample: TrainingSample | None = None) -> pd.DataFrame:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("history", pa.Table.from_pandas(history, preserve_index=False))
    result = connection.sql(training_set_query(VIEW, "history", sample)).to_arrow_table()
    return cast_to_view(result, VIEW)


@pytest.mark.parametrize("seed", range(12))
def test_the_query_gives_the_rows_of_the_definition(seed: int) -> None:
    history = random_history(seed)
    expected = brute_force(history).sort_values(["id", "ts"], ignore_index=True)
    pd.testing.assert_frame_equal(run(history), expected, check_dtype=False)


def test_the_sample_is_seeded_stratified_and_independent_of_row_order() -> None:
    parts = [random_history(seed) for seed in range(8)]
    history = pd.concat([part.assign(id=part["id"] + str(n)) for n, part in enumerate(parts)])
    full = run(history)
    sample = TrainingSample(max_rows=len(full) // 2, seed=3, stratified=True)
    drawn = run(history, sample)
    assert len(drawn) == sample.max_rows
    assert drawn.merge(full).shape == drawn.shape, "sampled rows are rows of the full set"
    shares = drawn["y"].value_counts(normalize=True) - full["y"].value_counts(normalize=True)
    assert shares.abs().max() < 0.05, "every label keeps its share"
    shuffled = run(history.sample(frac=1.0, random_state=1), sample)
    pd.testing.assert_frame_equal(shuffled, drawn)
    other = run(history, TrainingSample(max_rows=sample.max_rows, seed=4, stratified=True))
    assert not other.equals(drawn)

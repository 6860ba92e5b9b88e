"""The point-in-time join against a brute-force reference on random data.

The random rows repeat (entity, event time) pairs across ingest dates (ties and
corrections), deliver rows late (an early event time on a late ingest date), and mix
label-only, feature-only and partly missing rows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from src.data.feature_store import (
    INGEST_DATE,
    TrainingSample,
    join_point_in_time,
    latest_feature_rows,
    point_in_time_training_set,
    training_set_query,
)
from tests.pit_reference import (
    SMALL_VIEW,
    START,
    brute_force_latest,
    brute_force_training_set,
    random_rows,
)

VIEW = SMALL_VIEW


def as_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(VIEW.key_columns, ignore_index=True)
    frame[VIEW.event_timestamp] = pd.to_datetime(frame[VIEW.event_timestamp], utc=True).astype(
        "datetime64[us, UTC]"
    )
    for name in VIEW.feature_names:
        frame[name] = frame[name].astype("float64")
    if VIEW.label.name in frame:
        frame[VIEW.label.name] = frame[VIEW.label.name].astype("int64")
    return frame


@pytest.mark.parametrize("seed", range(25))
def test_training_set_matches_the_brute_force_reference(seed: int) -> None:
    rows = random_rows(seed)
    expected = brute_force_training_set(rows, VIEW)
    actual = point_in_time_training_set(as_arrow(rows), VIEW)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(normalised(actual), normalised(expected))


@pytest.mark.parametrize("seed", range(10))
def test_latest_values_match_the_reference_now_and_in_the_past(seed: int) -> None:
    rows = random_rows(seed)
    for as_of in (None, START + timedelta(hours=17)):
        expected = brute_force_latest(rows, VIEW, as_of)
        actual = latest_feature_rows(as_arrow(rows), VIEW, as_of)
        pd.testing.assert_frame_equal(normalised(actual), normalised(expected))


def frame(*rows: tuple[str, int, int, float | None, int | None]) -> pd.DataFrame:
    """Rows of (entity, hour, ingest day, spend, label); visits mirror spend."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "event_time": [START + timedelta(hours=r[1]) for r in rows],
            INGEST_DATE: [START.date() + timedelta(days=r[2]) for r in rows],
            "spend": [r[3] for r in rows],
            "visits": [r[3] for r in rows],
            "churned": pd.array([r[4] for r in rows], dtype="Int64"),
        }
    )


def test_a_feature_value_from_after_the_event_never_leaks() -> None:
    rows = frame(("A", 1, 0, 10.0, None), ("A", 5, 0, None, 1), ("A", 6, 0, 99.0, None))
    training = point_in_time_training_set(as_arrow(rows), VIEW)
    assert training["spend"].tolist() == [10.0]


def test_a_late_correction_of_the_same_time_wins_over_the_first_copy() -> None:
    rows = frame(("A", 3, 0, 10.0, 0), ("A", 3, 2, 12.0, 1))
    training = point_in_time_training_set(as_arrow(rows), VIEW)
    assert training[["spend", "churned"]].values.tolist() == [[12.0, 1]]


def test_a_late_arriving_earlier_row_is_used_for_later_events() -> None:
    # The row for hour 4 arrives two days after the label at hour 5 was ingested.
    rows = frame(("A", 1, 0, 10.0, None), ("A", 5, 0, None, 1), ("A", 4, 2, 11.0, None))
    training = point_in_time_training_set(as_arrow(rows), VIEW)
    assert training["spend"].tolist() == [11.0]


def test_an_event_with_no_earlier_features_is_left_out() -> None:
    rows = frame(("A", 5, 0, None, 1), ("A", 6, 0, 3.0, None), ("B", 1, 0, 2.0, 0))
    training = point_in_time_training_set(as_arrow(rows), VIEW)
    assert training["customer_id"].tolist() == ["B"]


def asof_training_set(rows: pd.DataFrame) -> pd.DataFrame:
    """The training set by the ASOF JOIN implementation the SQL replaced: label events
    (the latest ingestion of each labelled entity and time) joined by `join_point_in_time`."""
    label = VIEW.label.name
    labelled = rows[rows[label].notna()].sort_values(INGEST_DATE)
    events = labelled.drop_duplicates(VIEW.key_columns, keep="last")[[*VIEW.key_columns, label]]
    events_table = pa.Table.from_pandas(events, preserve_index=False)
    features = as_arrow(rows.drop(columns=[label]))
    joined = join_point_in_time(events_table, features, VIEW).to_pandas()
    selected: pd.DataFrame = joined[[*VIEW.key_columns, *VIEW.feature_names, label]]
    return selected


def tricky_rows() -> pd.DataFrame:
    """Ties on event time across ingest dates, a feature row at the event's own time, a
    late-arriving earlier row, partly missing features, an event before any feature row,
    a label corrected on a later ingest date and an entity with labels only."""
    return frame(
        ("A", 1, 0, 10.0, None),
        ("A", 3, 0, 20.0, 0),
        ("A", 3, 2, 21.0, None),  # a later copy of hour 3 without a label: features win
        ("A", 4, 3, None, 1),
        ("A", 4, 4, None, 0),  # the label of hour 4 corrected later
        ("A", 2, 5, 15.0, None),  # arrives last, earlier than hour 3: not the latest
        ("B", 2, 0, None, 1),  # before B's first feature row: dropped
        ("B", 2, 1, 5.0, None),  # same time as the event, later ingest: counts
        ("B", 6, 1, None, 0),
        ("C", 1, 0, None, 1),  # labels only: dropped
    ).assign(visits=lambda rows: rows["spend"].where(rows["customer_id"] != "B"))


@pytest.mark.parametrize("rows", [tricky_rows(), *(random_rows(seed) for seed in range(10))])
def test_the_sql_gives_the_rows_of_the_asof_join(rows: pd.DataFrame) -> None:
    expected = asof_training_set(rows)
    actual = point_in_time_training_set(as_arrow(rows), VIEW)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(normalised(actual), normalised(expected))


def test_the_tricky_table_gives_the_expected_rows() -> None:
    training = normalised(point_in_time_training_set(as_arrow(tricky_rows()), VIEW))
    assert training[["customer_id", "spend", "churned"]].values.tolist() == [
        ["A", 21.0, 0],  # hour 3: its later copy's features, its own label
        ["A", 21.0, 0],  # hour 4: the corrected label, hour 3's latest features
        ["B", 5.0, 1],  # hour 2: the feature row of the same time ingested later
        ["B", 5.0, 0],
    ]
    assert training["visits"].isna().tolist() == [False, False, True, True]


@pytest.mark.parametrize(
    "sample", [None, TrainingSample(max_rows=20, seed=3, stratified=True),
               TrainingSample(max_rows=20, seed=3, stratified=False)],
)  # fmt: skip
def test_the_query_parses_and_transpiles_to_trino(sample: TrainingSample | None) -> None:
    query = training_set_query(VIEW, "lake.gold_pit_features", sample)
    [trino] = sqlglot.transpile(
        query, read="duckdb", write="trino", unsupported_level=ErrorLevel.RAISE
    )
    parsed = sqlglot.parse_one(trino, read="trino")
    assert "ASOF" not in trino.upper()
    assert "QUALIFY" not in trino.upper()
    tables = {table.sql("trino") for table in parsed.find_all(exp.Table)}
    assert "lake.gold_pit_features" in tables


def test_a_sample_keeps_max_rows_and_each_label_its_share() -> None:
    rows = random_rows(seed=4, rows=3000, entities=40)
    full = normalised(point_in_time_training_set(as_arrow(rows), VIEW))
    sample = TrainingSample(max_rows=200, seed=11, stratified=True)
    drawn = normalised(point_in_time_training_set(as_arrow(rows), VIEW, sample))
    assert len(full) > 400 and len(drawn) == 200
    share = full[VIEW.label.name].mean()
    assert abs(drawn[VIEW.label.name].mean() - share) <= 1 / 200 + 1e-9
    # Sampled rows are rows of the full set, unchanged.
    merged = drawn.merge(full, on=list(drawn.columns), how="left", indicator=True)
    assert (merged["_merge"] == "both").all()


def test_a_sample_depends_on_the_seed_and_the_data_only() -> None:
    rows = random_rows(seed=5, rows=2000, entities=30)
    sample = TrainingSample(max_rows=100, seed=1, stratified=False)
    first = normalised(point_in_time_training_set(as_arrow(rows), VIEW, sample))
    shuffled = rows.sample(frac=1.0, random_state=9)
    again = normalised(point_in_time_training_set(as_arrow(shuffled), VIEW, sample))
    other = normalised(point_in_time_training_set(as_arrow(rows), VIEW, replace(sample, seed=2)))
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 100
    assert not first[VIEW.key_columns].equals(other[VIEW.key_columns])


def test_a_sample_larger_than_the_set_keeps_every_row() -> None:
    rows = random_rows(seed=6)
    full = normalised(point_in_time_training_set(as_arrow(rows), VIEW))
    sample = TrainingSample(max_rows=10_000, seed=1, stratified=True)
    pd.testing.assert_frame_equal(
        normalised(point_in_time_training_set(as_arrow(rows), VIEW, sample)), full
    )

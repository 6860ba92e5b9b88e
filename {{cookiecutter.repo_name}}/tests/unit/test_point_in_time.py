"""The point-in-time join against a brute-force reference on random data.

The random rows repeat (entity, event time) pairs across ingest dates (ties and
corrections), deliver rows late (an early event time on a late ingest date), and mix
label-only, feature-only and partly missing rows.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pytest

from src.data.feature_store import (
    INGEST_DATE,
    latest_feature_rows,
    point_in_time_training_set,
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

from datetime import date

import pytest

from src.data.intervals import DataInterval
from src.errors import ProjectError


def test_single_day_interval_covers_one_day() -> None:
    interval = DataInterval.parse("2025-01-05")
    assert list(interval.days()) == [date(2025, 1, 5)]
    assert interval.filter("ingest_date") == (
        "ingest_date >= '2025-01-05' AND ingest_date < '2025-01-06'"
    )


def test_interval_end_is_exclusive() -> None:
    assert len(list(DataInterval.parse("2025-01-30", "2025-02-02").days())) == 3


@pytest.mark.parametrize(
    ("start", "end"), [("2025-01-05", "2025-01-05"), ("2025-02-01", "2025-01-01")]
)
def test_empty_or_reversed_interval_is_refused(start: str, end: str) -> None:
    with pytest.raises(ProjectError, match="must be after its start"):
        DataInterval.parse(start, end)


def test_malformed_date_names_the_format() -> None:
    with pytest.raises(ProjectError, match="YYYY-MM-DD"):
        DataInterval.parse("05/01/2025")

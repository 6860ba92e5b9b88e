"""Data intervals: the unit of work every pipeline step is idempotent for."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from src.errors import ProjectError


@dataclass(frozen=True)
class DataInterval:
    """Days from `start` (inclusive) to `end` (exclusive), like Airflow's data interval."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ProjectError(f"data interval end {self.end} must be after its start {self.start}")

    @classmethod
    def for_day(cls, day: date) -> DataInterval:
        return cls(day, day + timedelta(days=1))

    @classmethod
    def covering(cls, days: Iterable[date]) -> DataInterval:
        """The smallest interval holding every day of `days`."""
        ordered = sorted(days)
        if not ordered:
            raise ProjectError("no days to cover: the raw zone holds no ingest_date= folders")
        return cls(ordered[0], ordered[-1] + timedelta(days=1))

    @classmethod
    def parse(cls, start: str, end: str | None = None) -> DataInterval:
        """Parse ISO dates; without `end` the interval is the single day `start`."""
        try:
            first = date.fromisoformat(start)
            last = date.fromisoformat(end) if end else first + timedelta(days=1)
        except ValueError as error:
            raise ProjectError(f"dates must be ISO formatted (YYYY-MM-DD): {error}") from error
        return cls(first, last)

    def days(self) -> Iterator[date]:
        day = self.start
        while day < self.end:
            yield day
            day += timedelta(days=1)

    def filter(self, column: str) -> str:
        """An Iceberg/SQL row filter selecting this interval on a date column."""
        return f"{column} >= '{self.start.isoformat()}' AND {column} < '{self.end.isoformat()}'"

    def __str__(self) -> str:
        return f"[{self.start}, {self.end})"

"""Data intervals; light on purpose: the DAG files import it when Airflow parses them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from src.errors import ProjectError

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression


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
    def parse(cls, start: str, end: str | None = None) -> DataInterval:
        """ISO dates; without `end` the interval is the single day `start`."""
        try:
            first = date.fromisoformat(start)
            return cls(first, date.fromisoformat(end) if end else first + timedelta(days=1))
        except ValueError as error:
            raise ProjectError(f"dates must be ISO formatted (YYYY-MM-DD): {error}") from error

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days)]

    def row_filter(self, column: str) -> BooleanExpression:
        from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

        return And(
            GreaterThanOrEqual(term=column, value=self.start.isoformat()),
            LessThan(term=column, value=self.end.isoformat()),
        )

    def sql(self, column: str) -> str:
        """This interval on a DATE column, as SQL both engines accept."""
        return f"{column} >= DATE '{self.start}' AND {column} < DATE '{self.end}'"

    def __str__(self) -> str:
        return f"[{self.start}, {self.end})"

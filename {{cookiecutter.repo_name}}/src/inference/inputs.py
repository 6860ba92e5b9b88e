"""Request rows to the model's input matrix, with every problem named by its location.

The feature order is computed once per loaded model (`FeatureLayout`); each request then
only checks names and values and fills a NumPy matrix, with no pandas on the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Location = tuple[str | int, ...]

# JSON numbers arrive as int or float; bool is an int subclass and is refused on purpose.
NUMBER_TYPES = (int, float)


@dataclass(frozen=True)
class InputProblem:
    location: Location
    message: str
    kind: str

    def as_error(self) -> dict[str, Any]:
        """FastAPI's validation-error item shape."""
        return {"type": self.kind, "loc": list(self.location), "msg": self.message}

    def describe(self) -> str:
        return f"{'.'.join(str(part) for part in self.location)}: {self.message}"


class InvalidInput(ValueError):  # noqa: N818  # reads as "raise InvalidInput(problems)"
    def __init__(self, problems: list[InputProblem]) -> None:
        super().__init__("; ".join(problem.describe() for problem in problems))
        self.problems = problems


class FeatureLayout:
    """The model's features in signature order, and how request rows map onto them."""

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.names = list(feature_names)
        self.name_set = frozenset(self.names)

    def row(self, features: Mapping[str, float], location: Location) -> list[float]:
        """The values of one validated feature mapping, in model order."""
        if features.keys() != self.name_set:
            raise InvalidInput(self.name_problems(features, location))
        return [features[name] for name in self.names]

    def matrix(self, rows: Sequence[Mapping[str, float]], location: Location) -> np.ndarray:
        """A matrix from validated feature mappings; every bad row is reported at once."""
        values: list[list[float]] = []
        problems: list[InputProblem] = []
        for index, features in enumerate(rows):
            try:
                values.append(self.row(features, (*location, index)))
            except InvalidInput as error:
                problems.extend(error.problems)
        if problems:
            raise InvalidInput(problems)
        return np.array(values, dtype=np.float64).reshape(len(values), len(self.names))

    def name_problems(self, features: Mapping[str, Any], location: Location) -> list[InputProblem]:
        missing = [
            InputProblem((*location, name), "Field required: a feature of the model", "missing")
            for name in self.names
            if name not in features
        ]
        extra = [
            InputProblem(
                (*location, name),
                "Extra inputs are not permitted: not a feature of the model",
                "extra_forbidden",
            )
            for name in features
            if name not in self.name_set
        ]
        return missing + extra

    def matrix_from_records(
        self, records: Sequence[Any], location: Location, ignore_extra: bool = False
    ) -> np.ndarray:
        """A matrix from untrusted JSON records ({feature: number}), checking every value."""
        problems: list[InputProblem] = []
        values: list[list[float]] = []
        for index, record in enumerate(records):
            where = (*location, index)
            if not isinstance(record, Mapping):
                problems.append(InputProblem(where, "must be an object of feature values", "type"))
                continue
            names = self.name_problems(record, where)
            if ignore_extra:
                names = [problem for problem in names if problem.kind == "missing"]
            if names:
                problems.extend(names)
                continue
            values.append(self._numbers([record[n] for n in self.names], where, problems))
        return self._finish(values, problems)

    def matrix_from_columns(
        self, columns: Sequence[Any], data: Sequence[Any], location: Location
    ) -> np.ndarray:
        """A matrix from untrusted column names and row lists (pandas' "split" layout)."""
        problems: list[InputProblem] = []
        if not all(isinstance(name, str) for name in columns):
            raise InvalidInput([InputProblem((*location, "columns"), "must be strings", "type")])
        position = {name: index for index, name in enumerate(columns)}
        missing = [
            InputProblem(
                (*location, "columns", n), "Field required: a feature of the model", "missing"
            )
            for n in self.names
            if n not in position
        ]
        if missing:
            raise InvalidInput(missing)
        order = [position[name] for name in self.names]
        values: list[list[float]] = []
        for index, row in enumerate(data):
            where = (*location, "data", index)
            if not isinstance(row, list) or len(row) != len(columns):
                problems.append(
                    InputProblem(where, f"must be a list of {len(columns)} values", "type")
                )
                continue
            values.append(self._numbers([row[i] for i in order], where, problems))
        return self._finish(values, problems)

    def _numbers(
        self, row: list[Any], location: Location, problems: list[InputProblem]
    ) -> list[float]:
        for name, value in zip(self.names, row, strict=True):
            if type(value) not in NUMBER_TYPES:
                problems.append(InputProblem((*location, name), "must be a number", "float_type"))
            elif not _is_finite(value):
                problems.append(
                    InputProblem((*location, name), "must be a finite number", "finite_number")
                )
        return row

    def _finish(self, values: list[list[float]], problems: list[InputProblem]) -> np.ndarray:
        if problems:
            raise InvalidInput(problems)
        return np.array(values, dtype=np.float64).reshape(len(values), len(self.names))


def _is_finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False

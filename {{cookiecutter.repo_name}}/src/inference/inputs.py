"""Request rows to the model's input matrix, with every problem named by its location.

The feature order is computed once per loaded model (`FeatureLayout`); each request then
only checks names and values and fills a NumPy matrix, with no pandas on the hot path.
Numbers fill a float64 matrix; a model with categorical features (strings, booleans)
gets an object matrix. A feature the signature marks optional (nullable in
config/features.yaml) may be null; an unknown category is accepted and encoded by the
model as none of the known ones (docs/own-data.md).
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
NUMBER, STRING, BOOLEAN = "number", "string", "boolean"
Kind = str
BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False}


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

    def __init__(
        self,
        feature_names: Sequence[str],
        kinds: Mapping[str, Kind] | None = None,
        nullable: frozenset[str] = frozenset(),
    ) -> None:
        self.names = list(feature_names)
        self.name_set = frozenset(self.names)
        self.kinds = {name: (kinds or {}).get(name, NUMBER) for name in self.names}
        self.nullable = nullable & self.name_set
        # The sample's case, kept on the fast path: numbers only, none of them optional.
        self.plain_numbers = not self.nullable and all(k == NUMBER for k in self.kinds.values())
        numeric = all(kind == NUMBER for kind in self.kinds.values())
        self.dtype: type = np.float64 if numeric else object

    def row(self, features: Mapping[str, Any], location: Location) -> list[Any]:
        """The values of one feature mapping, in model order, each checked for its kind."""
        if features.keys() != self.name_set:
            raise InvalidInput(self.name_problems(features, location))
        values = [features[name] for name in self.names]
        if self.plain_numbers and all(type(value) in NUMBER_TYPES for value in values):
            return values
        problems: list[InputProblem] = []
        self._check(values, location, problems)
        if problems:
            raise InvalidInput(problems)
        return values

    def matrix(self, rows: Sequence[Mapping[str, Any]], location: Location) -> np.ndarray:
        """A matrix from feature mappings; every bad row is reported at once."""
        values: list[list[Any]] = []
        problems: list[InputProblem] = []
        for index, features in enumerate(rows):
            try:
                values.append(self.row(features, (*location, index)))
            except InvalidInput as error:
                problems.extend(error.problems)
        return self._finish(values, problems)

    def parse_text(
        self, name: str, cell: str, location: Location, problems: list[InputProblem]
    ) -> Any:
        """A CSV cell as the value its feature takes; an empty cell is missing."""
        kind = self.kinds.get(name, NUMBER)
        if cell == "":
            return None
        if kind == STRING:
            return cell
        if kind == BOOLEAN:
            flag = BOOLEAN_TEXT.get(cell.strip().lower())
            if flag is None:
                problems.append(
                    InputProblem(location, f"{cell!r} is not true or false", "bool_type")
                )
            return flag
        try:
            return float(cell)
        except ValueError:
            problems.append(InputProblem(location, f"{cell!r} is not a number", "float_type"))
            return cell

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
            row = [record[n] for n in self.names]
            self._check(row, where, problems)
            values.append(row)
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
            selected = [row[i] for i in order]
            self._check(selected, where, problems)
            values.append(selected)
        return self._finish(values, problems)

    def _check(self, row: list[Any], location: Location, problems: list[InputProblem]) -> None:
        for name, value in zip(self.names, row, strict=True):
            problem = self._value_problem(name, value)
            if problem is not None:
                problems.append(InputProblem((*location, name), *problem))

    def _value_problem(self, name: str, value: Any) -> tuple[str, str] | None:
        if value is None and name in self.nullable:
            return None
        kind = self.kinds[name]
        if kind == STRING:
            return None if type(value) is str else ("must be a string", "string_type")
        if kind == BOOLEAN:
            return None if type(value) is bool else ("must be true or false", "bool_type")
        if type(value) not in NUMBER_TYPES:
            return ("must be a number", "float_type")
        if not _is_finite(value):
            return ("must be a finite number", "finite_number")
        return None

    def _finish(self, values: list[list[Any]], problems: list[InputProblem]) -> np.ndarray:
        if problems:
            raise InvalidInput(problems)
        return np.array(values, dtype=self.dtype).reshape(len(values), len(self.names))


def _is_finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False

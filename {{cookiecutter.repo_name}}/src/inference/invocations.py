"""The MLflow scoring server's request formats (`POST /invocations`), parsed to a matrix.

JSON bodies carry exactly one of `dataframe_split`, `dataframe_records`, `instances` or
`inputs` (and optionally `params`, which scikit-learn models ignore, as MLflow does);
`text/csv` bodies carry a header row. Like MLflow, columns the model does not use are
ignored; missing, non-numeric and non-finite values are errors naming their place.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from src.inference.inputs import FeatureLayout, InputProblem, InvalidInput, Location

DATAFRAME_SPLIT = "dataframe_split"
DATAFRAME_RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
FORMATS = (DATAFRAME_SPLIT, DATAFRAME_RECORDS, INSTANCES, INPUTS)

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"


class UnsupportedContentType(ValueError):  # noqa: N818  # the HTTP status's own name
    pass


def parse_invocation(body: bytes, content_type: str | None, layout: FeatureLayout) -> np.ndarray:
    media_type, _, parameters = (content_type or JSON_TYPE).partition(";")
    charset = parameters.strip().lower().removeprefix("charset=").strip() or "utf-8"
    if charset not in {"utf-8", "utf8"}:
        raise UnsupportedContentType("only UTF-8 bodies are supported")
    media_type = media_type.strip().lower()
    if media_type == JSON_TYPE:
        return parse_json_body(body, layout)
    if media_type == CSV_TYPE:
        return parse_csv_body(body, layout)
    raise UnsupportedContentType(
        f"content type {media_type!r} is not supported; send {JSON_TYPE} or {CSV_TYPE}"
    )


def parse_json_body(body: bytes, layout: FeatureLayout) -> np.ndarray:
    try:
        content = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise _problem((), f"the body is not valid JSON: {error}") from None
    if not isinstance(content, dict):
        raise _problem((), f"the body must be a JSON object with one of: {', '.join(FORMATS)}")
    present = [name for name in FORMATS if name in content]
    if len(present) != 1:
        raise _problem(
            (),
            f"the body must hold exactly one of {', '.join(FORMATS)}; it holds {present or 'none'}",
        )
    name = present[0]
    value = content[name]
    if name == DATAFRAME_SPLIT:
        return _parse_split(value, layout)
    if name == DATAFRAME_RECORDS:
        if not isinstance(value, list):
            raise _problem((name,), "must be a list of records")
        return layout.matrix_from_records(value, (name,), ignore_extra=True)
    return _parse_tensor_input(value, layout, (name,))


def _parse_split(value: Any, layout: FeatureLayout) -> np.ndarray:
    location: Location = (DATAFRAME_SPLIT,)
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise _problem(location, 'must be an object with "columns" and "data" lists')
    columns = value.get("columns", layout.names)
    if not isinstance(columns, list):
        raise _problem((*location, "columns"), "must be a list of column names")
    return layout.matrix_from_columns(columns, value["data"], location)


def _parse_tensor_input(value: Any, layout: FeatureLayout, location: Location) -> np.ndarray:
    """`instances` / `inputs`: records, rows in signature order, or columns (one or many rows)."""
    if isinstance(value, Mapping):
        return layout.matrix_from_records(_columns_to_records(value, location), location, True)
    if not isinstance(value, list) or not value:
        raise _problem(location, "must be a non-empty list of records or rows, or an object")
    if all(isinstance(item, list) for item in value):
        return layout.matrix_from_columns(layout.names, value, location)
    return layout.matrix_from_records(value, location, ignore_extra=True)


def _columns_to_records(columns: Mapping[Any, Any], location: Location) -> list[Any]:
    """{"a": [1, 2], "b": [3, 4]} or {"a": 1, "b": 3} to records."""
    if all(not isinstance(values, list) for values in columns.values()):
        return [dict(columns)]
    lengths = {len(values) for values in columns.values() if isinstance(values, list)}
    if len(lengths) != 1 or not all(isinstance(v, list) for v in columns.values()):
        raise _problem(location, "columns must all be lists of the same length")
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def parse_csv_body(body: bytes, layout: FeatureLayout) -> np.ndarray:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _problem((), "the CSV body is not valid UTF-8") from None
    try:
        # newline="" as the csv module asks (\r\n and a bare \r end rows too); strict, so a
        # broken quote is an error rather than a guess.
        table = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as error:
        raise _problem((), f"the CSV body is malformed: {error}") from None
    header = table[0] if table else None
    if not header:
        raise _problem((), "the CSV body needs a header row naming the columns")
    # Only the model's columns are converted; the others (ids, labels) are ignored.
    wanted = [name in layout.name_set for name in header]
    rows: list[list[Any]] = []
    problems: list[InputProblem] = []
    for number, row in enumerate(table[1:], start=1):
        if len(row) != len(header):
            message = f"has {len(row)} values for {len(header)} columns"
            problems.append(InputProblem(("csv", number), message, "type"))
            continue
        rows.append(
            [
                layout.parse_text(name, cell, ("csv", number, name), problems) if keep else None
                for cell, name, keep in zip(row, header, wanted, strict=True)
            ]
        )
    if problems:
        raise InvalidInput(problems)
    return layout.matrix_from_columns(header, rows, ("csv",))


def _problem(location: Location, message: str) -> InvalidInput:
    return InvalidInput([InputProblem(location, message, "value_error")])

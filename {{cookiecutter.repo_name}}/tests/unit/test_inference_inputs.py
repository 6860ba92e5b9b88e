"""Request rows to model matrices: names, numbers and every problem's location."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from src.errors import DataValidationError
from src.inference.inputs import FeatureLayout, InvalidInput
from src.inference.invocations import UnsupportedContentType, parse_invocation
from src.pipelines.DS.inference_pipeline.loading import load_scoring_table, validate_schema

LAYOUT = FeatureLayout(["b", "a"])


def test_row_follows_the_model_order() -> None:
    assert LAYOUT.row({"a": 1.0, "b": 2.0}, ("features",)) == [2.0, 1.0]


def test_every_missing_and_extra_name_is_reported() -> None:
    with pytest.raises(InvalidInput) as raised:
        LAYOUT.row({"a": 1.0, "c": 3.0}, ("features",))
    assert [(p.location, p.kind) for p in raised.value.problems] == [
        (("features", "b"), "missing"),
        (("features", "c"), "extra_forbidden"),
    ]


def test_matrix_reports_every_bad_row() -> None:
    with pytest.raises(InvalidInput) as raised:
        LAYOUT.matrix([{"a": 1.0}, {"a": 1.0, "b": 2.0}, {"b": 1.0}], ("instances",))
    assert [p.location for p in raised.value.problems] == [
        ("instances", 0, "b"),
        ("instances", 2, "a"),
    ]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("1", "float_type"),
        (True, "float_type"),
        (None, "float_type"),
        (float("nan"), "finite_number"),
        (float("inf"), "finite_number"),
        (10**400, "finite_number"),
    ],
)
def test_untrusted_records_need_finite_numbers(value: object, kind: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        LAYOUT.matrix_from_records([{"a": 1, "b": value}], ("records",))
    (problem,) = raised.value.problems
    assert (problem.location, problem.kind) == (("records", 0, "b"), kind)


def test_extra_columns_can_be_ignored() -> None:
    matrix = LAYOUT.matrix_from_records([{"a": 1, "b": 2, "id": "x"}], (), ignore_extra=True)
    assert matrix.tolist() == [[2.0, 1.0]]


def test_split_layout_reorders_columns() -> None:
    matrix = LAYOUT.matrix_from_columns(["a", "x", "b"], [[1, "skip", 2], [3, None, 4]], ())
    assert matrix.dtype == np.float64
    assert matrix.tolist() == [[2.0, 1.0], [4.0, 3.0]]


@pytest.mark.parametrize(
    "body",
    [
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]], "index": [0]}}',
        b'{"dataframe_records": [{"a": 1, "b": 2}]}',
        b'{"instances": [{"a": 1, "b": 2}]}',
        b'{"instances": [[2, 1]]}',
        b'{"inputs": {"a": [1], "b": [2]}}',
        b'{"inputs": {"a": 1, "b": 2}}',
        b'{"inputs": [[2, 1]], "params": {"x": 1}}',
    ],
)
def test_mlflow_json_formats(body: bytes) -> None:
    assert parse_invocation(body, "application/json", LAYOUT).tolist() == [[2.0, 1.0]]


def test_csv_with_header() -> None:
    body = b"id,a,b\nx,1,2\ny,3,4\n"
    assert parse_invocation(body, "text/csv; charset=utf-8", LAYOUT).tolist() == [
        [2.0, 1.0],
        [4.0, 3.0],
    ]


def test_csv_rows_may_end_with_carriage_returns() -> None:
    assert parse_invocation(b"a,b\r\n1,2\r3,4\r", "text/csv", LAYOUT).tolist() == [
        [2.0, 1.0],
        [4.0, 3.0],
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "needs a header row"),
        (b"\r0", "needs a header row"),
        (b'a,b\n"1,2\n', "malformed"),
        (b"a,b\n\xff,2\n", "not valid UTF-8"),
    ],
)
def test_unreadable_csv_bodies_are_rejected_by_name(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_invocation(body, "text/csv", LAYOUT)


def test_csv_problems_name_row_and_column() -> None:
    with pytest.raises(InvalidInput, match=r"csv\.2\.a: 'x' is not a number"):
        parse_invocation(b"a,b\n1,2\nx,3\n", "text/csv", LAYOUT)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json; charset=latin-1"])
def test_unsupported_content_types(content_type: str) -> None:
    with pytest.raises(UnsupportedContentType):
        parse_invocation(b"{}", content_type, LAYOUT)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"a": [1.0, 2.0]}, "input misses feature columns: b"),
        ({"a": [1.0, 2.0], "b": ["x", "y"]}, r"b \(type string, not a number\)"),
        ({"a": [1.0, float("nan")], "b": [1.0, float("inf")]}, r"a \(1 rows.*b \(1 rows"),
        ({"a": [1.0, 2.0], "b": pa.array([None, None], pa.float64())}, r"b \(2 rows"),
    ],
)
def test_batch_rows_that_are_not_finite_numbers_are_named(
    columns: dict[str, Any], message: str
) -> None:
    with pytest.raises(DataValidationError, match=message):
        validate_schema(pa.table(columns), ["a", "b"])


def test_a_batch_file_with_only_a_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n")
    with pytest.raises(DataValidationError, match="has no rows to score"):
        load_scoring_table(path)

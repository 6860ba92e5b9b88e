"""The seeded sampling rule of the drift checks: bounded, order-free, seed-dependent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from src.data.sampling import filter_stream_by_keys, sample_parquet_file, sample_stream
from src.errors import ProjectError


def rows(count: int = 5000) -> pa.Table:
    return pa.table(
        {
            "prediction_id": [f"p{i:05d}" for i in range(count)],
            "value": np.arange(count, dtype=float),
            "version": ["1", "2", "2", "3", "3"] * (count // 5),
        }
    )


def stream(table: pa.Table, size: int, reverse: bool = False) -> pa.RecordBatchReader:
    batches = table.to_batches(max_chunksize=size)
    return pa.RecordBatchReader.from_batches(table.schema, batches[::-1] if reverse else batches)


def ids(table: pa.Table) -> set[str]:
    return set(table.column("prediction_id").to_pylist())


def test_the_sample_is_bounded_and_does_not_depend_on_order_or_batching() -> None:
    table = rows()
    first = sample_stream(stream(table, 100), "prediction_id", 250, seed=3)
    again = sample_stream(stream(table, 333, reverse=True), "prediction_id", 250, seed=3)
    other = sample_stream(stream(table, 100), "prediction_id", 250, seed=4)
    assert first.num_rows == 250
    assert first.schema == table.schema
    assert ids(first) == ids(again)
    assert ids(first) != ids(other)
    # Kept rows are rows of the stream, unchanged.
    values = dict(zip(table["prediction_id"].to_pylist(), table["value"].to_pylist(), strict=True))
    kept = zip(first["prediction_id"].to_pylist(), first["value"].to_pylist(), strict=True)
    assert all(values[key] == value for key, value in kept)


def test_a_growing_stream_keeps_the_rows_it_had_sampled_when_they_still_draw_lowest() -> None:
    table = rows()
    small = sample_stream(stream(table.slice(0, 1000), 100), "prediction_id", 1000, seed=1)
    assert ids(small) == ids(table.slice(0, 1000))  # below the bound: every row
    large = sample_stream(stream(table, 100), "prediction_id", 100, seed=1)
    subset = sample_stream(stream(table.slice(0, 1000), 100), "prediction_id", 100, seed=1)
    # The lowest draws of the whole stream that lie in the first 1000 rows are among the
    # lowest draws of those 1000 rows.
    assert ids(large) & ids(table.slice(0, 1000)) <= ids(subset)


def test_each_group_gets_its_own_bound() -> None:
    sample = sample_stream(stream(rows(), 100), "prediction_id", 300, seed=1, group_by=["version"])
    counts = dict(zip(*np.unique(sample["version"].to_pylist(), return_counts=True), strict=True))
    assert counts == {"1": 300, "2": 300, "3": 300}


def test_an_empty_stream_gives_no_rows_and_a_bad_bound_an_error() -> None:
    empty = rows().slice(0, 0)
    assert sample_stream(stream(empty, 10), "prediction_id", 5, seed=1).num_rows == 0
    with pytest.raises(ProjectError, match="rows >= 1"):
        sample_stream(stream(rows(), 10), "prediction_id", 0, seed=1)


def test_a_parquet_file_is_sampled_like_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(rows(), path, row_group_size=500)
    from_file = sample_stream(path, "prediction_id", 120, seed=8)
    from_stream = sample_stream(stream(rows(), 100), "prediction_id", 120, seed=8)
    assert ids(from_file) == ids(from_stream)


def test_a_large_file_without_keys_is_cut_to_a_seeded_reservoir(tmp_path: Path) -> None:
    path = tmp_path / "reference.parquet"
    pq.write_table(rows(), path)
    first, again = (sample_parquet_file(path, 300, seed=5) for _ in range(2))
    assert first.num_rows == 300
    assert ids(first) == ids(again)
    assert sample_parquet_file(path, 10_000, seed=5).equals(pq.read_table(path))


def test_a_stream_is_filtered_to_the_wanted_keys() -> None:
    wanted = pa.array(["p00003", "p04999", "missing"])
    found = filter_stream_by_keys(stream(rows(), 64), "prediction_id", wanted)
    assert sorted(found["prediction_id"].to_pylist()) == ["p00003", "p04999"]

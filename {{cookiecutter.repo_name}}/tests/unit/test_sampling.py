import pyarrow as pa
import pytest

from src.data.sampling import sample_batches

TABLE = pa.table({"id": [f"row-{i}" for i in range(5000)], "value": range(5000)})


def batches(size: int) -> list[pa.RecordBatch]:
    found: list[pa.RecordBatch] = TABLE.to_batches(max_chunksize=size)
    return found


def test_a_sample_is_bounded_seeded_and_independent_of_the_batching() -> None:
    first = sample_batches(batches(100), 300, seed=3)
    again = sample_batches(batches(777), 300, seed=3)
    other = sample_batches(batches(100), 300, seed=4)
    assert first.num_rows == 300 and first.schema == TABLE.schema
    assert set(first["id"].to_pylist()) == set(again["id"].to_pylist())
    assert set(first["id"].to_pylist()) != set(other["id"].to_pylist())
    # Uniform over the stream, not its head: rows come from all of it.
    assert max(first["value"].to_pylist()) > 4000 > 1000 > min(first["value"].to_pylist())


def test_a_small_stream_comes_back_whole_and_zero_rows_is_refused() -> None:
    assert sample_batches(batches(64), 5000, seed=1).equals(TABLE.combine_chunks())
    with pytest.raises(ValueError, match="rows >= 1"):
        sample_batches(batches(64), 0, seed=1)

"""The lake facade on a real PyIceberg SQL catalog (SQLite) with DuckDB for SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from src.context import ProjectContext
from src.data.feature_store import (
    INGEST_DATE,
    TrainingSample,
    get_historical_features,
    get_latest_features,
    get_training_set,
    read_training_snapshot,
)
from src.data.lake import Lake
from src.errors import ProjectError
from tests.pit_reference import SMALL_VIEW, brute_force_training_set, random_rows

pytestmark = pytest.mark.integration

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("amount", pa.float64()),
        pa.field("day", pa.date32(), nullable=False),
    ]
)
DAY_1, DAY_2 = date(2025, 1, 1), date(2025, 1, 2)


def rows(*values: tuple[object, ...], schema: pa.Schema = SCHEMA) -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(schema.names, value, strict=False)) for value in values], schema=schema
    )


@pytest.fixture
def lake(context: ProjectContext) -> Lake:
    lake = context.lake
    lake.create_table("payments", SCHEMA, partition_by="day")
    lake.append("payments", rows(("a", 1.0, DAY_1), ("b", 2.0, DAY_1), ("c", 3.0, DAY_2)))
    return lake


def content(lake: Lake, table: str = "payments", **options: object) -> list[dict[str, object]]:
    data = lake.read(table, **options)  # type: ignore[arg-type]
    return sorted(data.to_pylist(), key=lambda row: str(row["id"]))


def test_create_is_idempotent_and_partitions_by_the_column(lake: Lake) -> None:
    again = lake.create_table("payments", SCHEMA, partition_by="day")
    assert [field.name for field in again.spec().fields] == ["day"]
    assert lake.list_tables() == ["payments"]


def test_an_added_column_keeps_old_rows_readable(lake: Lake) -> None:
    wider = SCHEMA.append(pa.field("currency", pa.string()))
    lake.create_table("payments", wider, partition_by="day")
    lake.append("payments", rows(("d", 4.0, DAY_2, "EUR"), schema=wider))
    read = content(lake)
    assert [row["currency"] for row in read] == [None, None, None, "EUR"]
    assert lake.evolve_schema("payments", wider) == []


def test_an_incompatible_change_is_refused_by_name(lake: Lake) -> None:
    changed = pa.schema([pa.field("amount", pa.string()), pa.field("extra", pa.int64())])
    with pytest.raises(ProjectError, match=r"cannot evolve .*payments.*amount"):
        lake.evolve_schema("payments", changed)


def test_overwrite_replaces_one_partition_only(lake: Lake) -> None:
    lake.overwrite("payments", rows(("x", 9.0, DAY_1)), where="day = '2025-01-01'")
    assert [row["id"] for row in content(lake)] == ["c", "x"]


def test_upsert_updates_matching_keys_and_inserts_the_rest(lake: Lake) -> None:
    lake.upsert("payments", rows(("a", 10.0, DAY_1), ("z", 5.0, DAY_2)), keys=["id"])
    assert {row["id"]: row["amount"] for row in content(lake)} == {
        "a": 10.0, "b": 2.0, "c": 3.0, "z": 5.0,
    }  # fmt: skip


def test_read_filters_rows_and_projects_columns(lake: Lake) -> None:
    data = lake.read("payments", where="amount > 1.5 AND day = '2025-01-01'", columns=["id"])
    assert data.column_names == ["id"]
    assert data.column("id").to_pylist() == ["b"]


def test_time_travel_by_snapshot_and_by_timestamp(lake: Lake) -> None:
    first = lake.snapshots("payments")[-1]
    lake.overwrite("payments", rows(("x", 9.0, DAY_1)), where="day = '2025-01-01'")
    assert len(lake.snapshots("payments")) > 1
    past = content(lake, snapshot_id=first.snapshot_id)
    assert [row["id"] for row in past] == ["a", "b", "c"]
    as_of = content(lake, as_of=first.committed_at + timedelta(milliseconds=1))
    assert as_of == past
    with pytest.raises(ProjectError, match="no snapshot at or before"):
        lake.read("payments", as_of=datetime(2000, 1, 1, tzinfo=UTC))


def test_sql_joins_tables_on_duckdb(lake: Lake) -> None:
    lake.create_table("limits", pa.schema([("id", pa.string()), ("limit", pa.float64())]))
    lake.append("limits", pa.table({"id": ["a", "c"], "limit": [0.5, 5.0]}))
    db = lake.database
    result = lake.sql(
        f"SELECT p.id FROM {db}.payments p JOIN {db}.limits l ON p.id = l.id "
        f'WHERE p.amount > l."limit" ORDER BY p.id'
    )
    assert result.column("id").to_pylist() == ["a"]
    with pytest.raises(ProjectError, match="SQL failed"):
        lake.sql(f"SELECT nope FROM {db}.payments")


def test_sql_scans_the_files_lazily_with_added_columns_and_self_joins(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    wider = SCHEMA.append(pa.field("currency", pa.string()))
    lake.create_table("payments", wider, partition_by="day")
    lake.append("payments", rows(("d", 4.0, DAY_2, "EUR"), schema=wider))
    lake.overwrite(
        "payments", rows(("a", 1.5, DAY_1, "USD"), schema=wider), where="day = '2025-01-01'"
    )

    def no_whole_table(*_: object, **__: object) -> pa.Table:
        raise AssertionError("the engine read a table whole")

    monkeypatch.setattr(Lake, "read", no_whole_table)
    db = lake.database
    result = lake.sql(
        f"SELECT p.id, p.amount, p.currency, count(*) OVER () AS n FROM {db}.payments p "
        f"JOIN {db}.payments q ON p.id = q.id ORDER BY p.id"
    )
    assert result.to_pylist() == [
        {"id": "a", "amount": 1.5, "currency": "USD", "n": 3},
        {"id": "c", "amount": 3.0, "currency": None, "n": 3},
        {"id": "d", "amount": 4.0, "currency": "EUR", "n": 3},
    ]


def test_fingerprint_ignores_order_and_excluded_columns(lake: Lake) -> None:
    before = lake.fingerprint("payments", exclude=["amount"])
    lake.overwrite(
        "payments", rows(("b", 7.0, DAY_1), ("a", 8.0, DAY_1)), where="day = '2025-01-01'"
    )
    assert lake.fingerprint("payments", exclude=["amount"]) == before
    assert lake.fingerprint("payments") != before
    assert lake.fingerprint("payments", where="day = '2025-01-02'").rows == 1


def forbid_reading_data_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any read of a data file fails the test: what is counted must come from metadata."""
    from pyiceberg.io.pyarrow import ArrowScan

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a data file was read to count rows")

    monkeypatch.setattr(ArrowScan, "to_table", refuse)
    monkeypatch.setattr(ArrowScan, "to_record_batches", refuse)


def test_count_of_a_day_comes_from_metadata_and_is_exact(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.append("payments", rows(("d", 4.0, DAY_2)))
    lake.overwrite("payments", rows(("a", 9.0, DAY_1)), where=f"day = '{DAY_1}'")
    expected = {
        where: lake.read("payments", where=where).num_rows
        for where in (None, f"day = '{DAY_1}'", f"day >= '{DAY_2}'", f"day > '{DAY_2}'")
    }
    forbid_reading_data_files(monkeypatch)
    counted = {where: lake.count("payments", where=where) for where in expected}
    assert (
        counted
        == expected
        == {
            None: 3,
            f"day = '{DAY_1}'": 1,
            f"day >= '{DAY_2}'": 2,
            f"day > '{DAY_2}'": 0,
        }
    )
    assert lake.partition_values("payments", "day") == {DAY_1, DAY_2}


def test_count_reads_only_files_a_filter_cuts_through(lake: Lake) -> None:
    # amount is no partition column: the manifests cannot answer, the matching rows are counted.
    assert lake.count("payments", where="amount > 1.5") == 2
    assert lake.count("payments", where=f"amount > 1.5 AND day = '{DAY_1}'") == 1


def test_partition_values_need_a_partition_column(lake: Lake) -> None:
    with pytest.raises(ProjectError, match="not partitioned by amount"):
        lake.partition_values("payments", "amount")


def test_read_batches_streams_the_rows_read_gives(lake: Lake) -> None:
    lake.append("payments", rows(("d", 4.0, DAY_2)))
    reader = lake.read_batches("payments", where=f"day = '{DAY_2.isoformat()}'", columns=["id"])
    assert reader.schema.names == ["id"]
    streamed = sorted(row["id"] for batch in reader for row in batch.to_pylist())
    assert streamed == ["c", "d"]
    everything = pa.Table.from_batches(list(lake.read_batches("payments")))
    assert sorted(everything.to_pylist(), key=lambda row: str(row["id"])) == content(lake)


def test_overwrite_batches_replaces_the_rows_of_the_filter(lake: Lake) -> None:
    chunks = [rows(("x", 9.0, DAY_1)), rows(), rows(("y", 8.0, DAY_1))]
    snapshot_id = lake.overwrite_batches(
        "payments", iter(chunks), where=f"day = '{DAY_1.isoformat()}'"
    )
    assert [row["id"] for row in content(lake)] == ["c", "x", "y"]
    assert snapshot_id == lake.snapshots("payments")[-1].snapshot_id


def test_a_failing_chunk_stream_leaves_the_rows_as_they_were(lake: Lake) -> None:
    def failing() -> Iterator[pa.Table]:
        yield rows(("x", 9.0, DAY_1))
        raise RuntimeError("scoring failed")

    before = content(lake)
    with pytest.raises(RuntimeError, match="scoring failed"):
        lake.overwrite_batches("payments", failing(), where=f"day = '{DAY_1.isoformat()}'")
    assert content(lake) == before


def test_missing_table_is_a_clear_error(context: ProjectContext) -> None:
    with pytest.raises(ProjectError, match="does not exist; run the pipeline"):
        context.lake.read("nothing_here")


@pytest.fixture
def random_view_lake(context: ProjectContext) -> tuple[Lake, pd.DataFrame]:
    """A gold table of random rows, appended one ingest date at a time, as they arrive."""
    frame = random_rows(seed=7, rows=400)
    lake = context.lake
    lake.create_table(SMALL_VIEW.table, SMALL_VIEW.arrow_schema(), partition_by=INGEST_DATE)
    schema = SMALL_VIEW.arrow_schema()
    for _, batch in frame.groupby(INGEST_DATE, sort=True):
        lake.append(SMALL_VIEW.table, pa.Table.from_pandas(batch[schema.names], schema=schema,
                                                           preserve_index=False))  # fmt: skip
    return lake, frame


def test_training_set_from_the_lake_matches_the_reference(
    random_view_lake: tuple[Lake, pd.DataFrame],
) -> None:
    lake, frame = random_view_lake
    actual = get_training_set(lake, SMALL_VIEW)
    expected = brute_force_training_set(frame, SMALL_VIEW)
    assert len(actual) == len(expected) > 50
    assert actual["customer_id"].tolist() == expected["customer_id"].tolist()
    assert actual["spend"].fillna(-1).tolist() == expected["spend"].fillna(-1).tolist()
    assert actual["churned"].tolist() == expected["churned"].astype(int).tolist()


def test_the_lake_engine_runs_the_sampled_training_query_at_a_snapshot(
    random_view_lake: tuple[Lake, pd.DataFrame],
) -> None:
    lake, _ = random_view_lake
    full = get_training_set(lake, SMALL_VIEW)
    sample = TrainingSample(max_rows=40, seed=2, stratified=True)
    drawn, snapshot_id = read_training_snapshot(lake, SMALL_VIEW, sample)
    current = lake.load(SMALL_VIEW.table).current_snapshot()
    assert current is not None and snapshot_id == current.snapshot_id
    assert len(full) > 40 and len(drawn) == 40
    assert abs(drawn["churned"].mean() - full["churned"].mean()) <= 1 / 40 + 1e-9
    assert set(drawn["customer_id"]) <= set(full["customer_id"])


def test_historical_features_for_a_spine_and_latest_values(
    random_view_lake: tuple[Lake, pd.DataFrame],
) -> None:
    lake, _ = random_view_lake
    when = datetime(2025, 3, 2, tzinfo=UTC)
    spine = pd.DataFrame({"customer_id": ["C1", "C2"], "event_time": [when, when], "tag": [1, 2]})
    historical = get_historical_features(lake, SMALL_VIEW, spine)
    latest = get_latest_features(lake, SMALL_VIEW, ["C1", "C2"], as_of=when)
    assert historical["tag"].tolist() == [1, 2]
    assert historical["spend"].tolist() == latest["spend"].tolist()
    assert (latest["event_time"] <= when).all()
    with pytest.raises(ProjectError, match="spine misses columns: event_time"):
        get_historical_features(lake, SMALL_VIEW, spine.drop(columns=["event_time"]))

"""The lake on the embedded defaults: a real PyIceberg SQL catalog and DuckDB."""

import threading
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from src.data.intervals import DataInterval
from src.data.lake import Lake, build_lake
from src.errors import ProjectError
from src.names import OWNER_PROPERTY
from tests.conftest import isolated_settings

SCHEMA = pa.schema([("id", pa.string()), ("amount", pa.float64()), ("day", pa.date32())])
DAY_1, DAY_2 = date(2025, 1, 1), date(2025, 1, 2)


def rows(*values: tuple[str, float, date]) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, v, strict=True)) for v in values], SCHEMA)


def ids(lake: Lake, where: str | None = None, snapshot_id: int | None = None) -> list[str]:
    return sorted(lake.read("payments", where, snapshot_id=snapshot_id)["id"].to_pylist())


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = build_lake(isolated_settings(tmp_path))
    lake.create_table("payments", SCHEMA, partition_by="day")
    lake.append("payments", rows(("a", 1.0, DAY_1), ("b", 2.0, DAY_1), ("c", 3.0, DAY_2)))
    return lake


def test_replace_swaps_the_rows_of_its_filter_in_one_snapshot(lake: Lake) -> None:
    before = lake.load("payments").metadata.current_snapshot_id
    day_1 = DataInterval.for_day(DAY_1).row_filter("day")
    lake.replace("payments", day_1, lambda: [rows(("z", 9.0, DAY_1))])
    assert (ids(lake), ids(lake, snapshot_id=before)) == (["c", "z"], ["a", "b", "c"])

    def failing() -> list[pa.Table]:
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError):
        lake.replace("payments", "day = '2025-01-02'", failing)
    assert lake.count("payments") == 2 and lake.count("payments", "amount > 5") == 1


def test_two_writers_of_one_interval_leave_one_writers_rows(lake: Lake) -> None:
    barrier = threading.Barrier(2)
    attempts: list[str] = []

    def write(name: str) -> None:
        def parts() -> list[pa.Table]:
            attempts.append(name)
            if attempts.count(name) == 1:
                barrier.wait(timeout=30)  # both start from the same snapshot
            return [rows((name, 1.0, DAY_1), (name + "2", 2.0, DAY_1))]

        lake.replace("payments", DataInterval.for_day(DAY_1).row_filter("day"), parts)

    threads = [threading.Thread(target=write, args=(name,)) for name in ("p", "q")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert ids(lake, "day = '2025-01-01'") in (["p", "p2"], ["q", "q2"])
    assert len(attempts) == 3, "the writer that lost the race wrote again"


def test_an_added_column_reads_null_in_older_files_in_sql_and_scans(lake: Lake) -> None:
    wider = SCHEMA.append(pa.field("currency", pa.string()))
    lake.create_table("payments", wider, partition_by="day")
    lake.append("payments", pa.Table.from_pylist([{"id": "d", "amount": 4.0, "day": DAY_2,
                                                   "currency": "EUR"}], wider))  # fmt: skip
    query = f"SELECT id, currency FROM {lake.identifier('payments')} ORDER BY id"
    assert lake.sql(query).column("currency").to_pylist() == [None, None, None, "EUR"]
    streamed = pa.Table.from_batches(list(lake.stream("payments", "currency = 'EUR'")))
    assert streamed.column("id").to_pylist() == ["d"]


def test_a_table_of_another_project_is_never_written(lake: Lake) -> None:
    with lake.load("payments").transaction() as transaction:
        transaction.set_properties({OWNER_PROPERTY: "someone_else"})
    with pytest.raises(ProjectError, match="belongs to 'someone_else'"):
        lake.create_table("payments", SCHEMA)
    with pytest.raises(ProjectError, match="does not exist; run the pipeline"):
        lake.read("nothing_here")


def test_maintenance_compacts_closed_days_expires_snapshots_and_deletes_orphans(lake: Lake) -> None:
    one_day, other_day = DataInterval.for_day(DAY_1), DataInterval.for_day(DAY_2)
    lake.replace("payments", one_day.row_filter("day"), lambda: [rows(("x", 1.0, DAY_1))])
    lake.replace("payments", other_day.row_filter("day"), lambda: [rows(("y", 1.0, DAY_2))])
    for day in (DAY_1, DAY_2):  # small appends, as the prediction log's flushes make them
        lake.append("payments", rows(("z", 2.0, day)))
    order = [("day", "ascending"), ("id", "ascending")]
    content = lake.read("payments").sort_by(order)
    folder = Path(lake.load("payments").location().removeprefix("file://"), "data")
    before = sorted(folder.rglob("*.parquet"))
    line = lake.maintain("payments", retention=timedelta(0), orphan_age=timedelta(0))
    assert line.startswith("payments: 2 days compacted"), line
    assert len(lake.load("payments").snapshots()) == 1
    assert len(lake.load("payments").inspect.files()) == 2, "one file per closed day"
    assert len(sorted(folder.rglob("*.parquet"))) < len(before), line
    assert lake.read("payments").sort_by(order).equals(content)

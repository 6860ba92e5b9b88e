"""Batch inference killed with SIGKILL in the middle of its write, then run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from src.context import ProjectContext
from src.data.feature_store import INGEST_DATE
from src.data.predictions import PREDICTION_ID, ensure_predictions_table, read_prediction_window
from src.names import PREDICTIONS_TABLE
from tests.conftest import PROJECT_ROOT, SAMPLE_END, isolated_env

pytestmark = pytest.mark.integration

DAY = SAMPLE_END - timedelta(days=5)
# Enough rows that writing them takes a while: the kill lands inside the write.
ROWS = 400_000


def scoring_file(context: ProjectContext, path: Path) -> Path:
    """The day's gold rows, repeated under distinct entity ids, as a Parquet file."""
    view = context.view
    gold = context.lake.read(view.table, where=f"{INGEST_DATE} = '{DAY.isoformat()}'")
    gold = gold.select([*view.key_columns, *view.feature_names])
    copies = -(-ROWS // gold.num_rows)
    parts = []
    entity = view.entity.name
    for copy in range(copies):
        ids = pc.binary_join_element_wise(
            pc.cast(gold.column(entity), pa.string()), pa.scalar(f"-{copy}"), ""
        )
        parts.append(gold.set_column(0, entity, ids))
    table = pa.concat_tables(parts).slice(0, ROWS)
    pq.write_table(table, path)
    return path


def data_files(context: ProjectContext) -> set[str]:
    location = context.lake.load(PREDICTIONS_TABLE).location().removeprefix("file://")
    folder = Path(location) / "data"
    return {str(path) for path in folder.rglob("*.parquet")} if folder.exists() else set()


def test_a_batch_run_killed_mid_write_and_rerun_leaves_one_copy_of_the_day(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    context = trained_context
    ensure_predictions_table(context.lake, context.view)
    rows_file = scoring_file(context, tmp_path / "day.parquet")
    root = context.settings.data_dir.parent
    command = [sys.executable, "-m", "src", "batch-inference", "--date", DAY.isoformat()]
    command += ["--input", str(rows_file)]
    env = isolated_env(root)
    before = data_files(context)
    victim = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while not (data_files(context) - before) and victim.poll() is None:
        assert time.monotonic() < deadline, "the batch run wrote no data file"
        time.sleep(0.005)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL, victim.stderr.read() if victim.stderr else ""
    # Killed inside the write: a data file is on disk, no snapshot holds the day's rows.
    model = context.settings.model_name
    assert data_files(context) - before
    assert read_prediction_window(context.lake, DAY, 1, model).empty

    rerun = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    frame = read_prediction_window(context.lake, DAY, 1, model)
    assert len(frame) == ROWS
    assert frame[PREDICTION_ID].nunique() == ROWS
    print(f"\nSIGKILL mid-write then rerun: {len(frame)} rows for {DAY}, each once")

    # What the killed run left behind is an orphan: maintenance removes it.
    orphans = data_files(context)
    context.lake.maintain(PREDICTIONS_TABLE, timedelta(days=7), timedelta(0))
    assert data_files(context) < orphans
    assert len(read_prediction_window(context.lake, DAY, 1, model)) == ROWS

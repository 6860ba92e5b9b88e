"""Batch inference: reruns leave the same rows and ids, the day streams in batches, rows
that break the contract are refused naming it, and a run killed mid-write leaves nothing
half-written."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from src.context import ProjectContext
from src.data.feature_store import INGEST_DATE
from src.data.lake import Lake
from src.data.predictions import (
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION_ID,
    ensure_predictions_table,
    predictions_schema,
    read_prediction_window,
    replace_batch_predictions,
)
from src.errors import DataValidationError
from src.monitoring.drift import DriftConfig
from src.names import PREDICTIONS_TABLE
from src.pipelines.DS.inference_pipeline.pipeline import (
    BatchInferenceOutcome,
    check_features,
    run_batch_inference,
)
from tests.conftest import PROJECT_ROOT, SAMPLE_END, feature_rows, isolated_env

pytestmark = pytest.mark.integration
DAY = SAMPLE_END - timedelta(days=1)


def score(
    context: ProjectContext, file: Path | None = None, drift: DriftConfig | None = None
) -> BatchInferenceOutcome:
    context = copy.copy(context)  # the module's context, with this run's drift settings
    drift = drift or context.monitoring.drift
    context.monitoring = context.monitoring.model_copy(update={"drift": drift})
    return run_batch_inference(context, DAY, file)


def day_rows(context: ProjectContext, model: str | None = None) -> dict[str, Any]:
    frame = read_prediction_window(context.lake, DAY, 1, model or context.settings.model_name)
    return dict(zip(frame[context.view.entity.name].astype(str), frame[PREDICTION_ID], strict=True))


def test_a_rerun_gives_every_row_its_id_and_leaves_other_models_rows(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    context = trained_context
    score(context)
    first = day_rows(context)
    gold = context.lake.read(context.view.table, where=f"{INGEST_DATE} = '{DAY}'")
    reordered = tmp_path / "reordered.parquet"  # as a rewritten gold day may hand them over
    pq.write_table(gold.take(pa.array(range(gold.num_rows - 1, -1, -1))), reordered)
    other = read_prediction_window(context.lake, DAY, 1).assign(
        **{MODEL_NAME: "other_model", MODEL_VERSION: "7"}
    )
    other[PREDICTION_ID] = "other-" + other[PREDICTION_ID]
    table = pa.Table.from_pandas(other, schema=predictions_schema(context.view))
    replace_batch_predictions(context.lake, context.view, lambda: [table], DAY, "other_model")
    score(context, reordered)
    assert day_rows(context) == first and len(first) == gold.num_rows > 1
    assert len(day_rows(context, "other_model")) == len(first)


def test_the_day_streams_in_small_batches_and_gives_the_same_rows(
    trained_context: ProjectContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = trained_context
    score(context)
    model = context.settings.model_name
    whole = read_prediction_window(context.lake, DAY, 1, model).sort_values(PREDICTION_ID)
    stream, sizes = Lake.stream, []

    def small_batches(lake: Lake, table: str, *args: Any, **kwargs: Any) -> pa.RecordBatchReader:
        reader = stream(lake, table, *args, **kwargs)

        def pieces() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                for piece in pa.Table.from_batches([batch]).to_batches(max_chunksize=7):
                    sizes.append(piece.num_rows)
                    yield piece

        return pa.RecordBatchReader.from_batches(reader.schema, pieces())

    monkeypatch.setattr(Lake, "stream", small_batches)
    outcome = score(context, drift=DriftConfig(max_current_rows=40, min_rows=30))
    monkeypatch.undo()
    batched = read_prediction_window(context.lake, DAY, 1, model).sort_values(PREDICTION_ID)
    assert len(sizes) > 2 and max(sizes) <= 7 and outcome.rows == len(whole) == len(batched)
    columns = [PREDICTION_ID, "prediction", *context.view.feature_names]
    # A regressor's float sums may differ in the last bits with the batch size (BLAS blocks).
    pd.testing.assert_frame_equal(
        batched[columns].reset_index(drop=True), whole[columns].reset_index(drop=True), rtol=1e-9
    )
    assert "over 40 current rows" in outcome.drift


def test_rows_breaking_the_contract_are_refused_naming_the_feature(
    trained_context: ProjectContext,
) -> None:
    view = trained_context.view
    rows = feature_rows(view, rows=5)[view.feature_names]
    required = next(f for f in view.features if not f.nullable)
    with pytest.raises(DataValidationError, match=f"{required.name}: 1 rows without a value"):
        check_features(rows.assign(**{required.name: [None, *rows[required.name][1:]]}), view)
    with pytest.raises(DataValidationError, match=f"{view.feature_names[-1]} is missing"):
        check_features(rows.drop(columns=view.feature_names[-1]), view)
    categories = view.model_copy(update={"features": [
        f.model_copy(update={"dtype": "string", "values": ["a", "b"]}) if f is required else f
        for f in view.features
    ]})  # fmt: skip
    odd = rows.assign(**{required.name: ["a", "b", "zebra", "a", "b"]})
    with pytest.raises(DataValidationError, match=r"\['zebra'\] not one of \['a', 'b'\]"):
        check_features(odd, categories)


# Enough rows that writing them takes a while: the kill lands inside the write.
ROWS = 400_000
CRASH_DAY = SAMPLE_END - timedelta(days=5)


def scoring_file(context: ProjectContext, path: Path) -> Path:
    """The day's gold rows, repeated under distinct entity ids, as a Parquet file."""
    view = context.view
    gold = context.lake.read(view.table, where=f"{INGEST_DATE} = '{CRASH_DAY.isoformat()}'")
    gold = gold.select([*view.key_columns, *view.feature_names])
    entity = view.entity.name
    ids = pc.cast(gold.column(entity), pa.string())
    parts = [
        gold.set_column(0, entity, pc.binary_join_element_wise(ids, pa.scalar(f"-{copy}"), ""))
        for copy in range(-(-ROWS // gold.num_rows))
    ]
    pq.write_table(pa.concat_tables(parts).slice(0, ROWS), path)
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
    command = [sys.executable, "-m", "src", "batch-inference", "--date", CRASH_DAY.isoformat()]
    command += ["--input", str(rows_file)]
    env = isolated_env(context.settings.data_dir.parent)
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
    leftover = data_files(context) - before
    assert leftover
    assert read_prediction_window(context.lake, CRASH_DAY, 1, model).empty

    rerun = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    frame = read_prediction_window(context.lake, CRASH_DAY, 1, model)
    assert len(frame) == frame[PREDICTION_ID].nunique() == ROWS
    print(f"\nSIGKILL mid-write then rerun: {len(frame)} rows for {CRASH_DAY}, each once")

    # What the killed run left behind is an orphan: maintenance removes it.
    context.lake.maintain(PREDICTIONS_TABLE, timedelta(days=7), timedelta(0))
    assert leftover.isdisjoint(data_files(context))
    assert len(read_prediction_window(context.lake, CRASH_DAY, 1, model)) == ROWS

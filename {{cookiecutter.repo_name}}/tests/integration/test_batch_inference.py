"""Batch inference writes the same rows when a day is scored twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from src.context import ProjectContext
from src.data.lake import Lake
from src.data.predictions import PREDICTION_DATE, read_prediction_window
from src.monitoring.config import DriftConfig
from src.pipelines.DS.inference_pipeline.pipeline import (
    BatchInferenceOutcome,
    run_batch_inference,
)
from tests.conftest import SAMPLE_END

pytestmark = pytest.mark.integration


DAY = SAMPLE_END - timedelta(days=1)


def score(context: ProjectContext, drift: DriftConfig | None = None) -> BatchInferenceOutcome:
    return run_batch_inference(
        context.lake,
        context.store,
        context.view,
        context.mlflow,
        context.settings.model_name,
        DAY,
        context.settings.aws.s3.processed_prefix,
        context.monitoring.model_copy(update={"drift": drift or context.monitoring.drift}),
        context.settings.reports_dir,
    )


def test_scoring_a_day_twice_leaves_the_same_rows(trained_context: ProjectContext) -> None:
    day = DAY
    score(trained_context)
    first = read_prediction_window(trained_context.lake, day, 1)
    score(trained_context)
    second = read_prediction_window(trained_context.lake, day, 1)
    assert len(first) == len(second) > 0
    columns = ["prediction_id", "prediction", trained_context.view.entity.name]
    ordered = [
        frame.sort_values("prediction_id")[columns].reset_index(drop=True)
        for frame in (first, second)
    ]
    assert ordered[0].equals(ordered[1])
    assert set(second[PREDICTION_DATE]) == {day}


def test_the_day_streams_in_batches_and_gives_the_rows_of_one_batch(
    trained_context: ProjectContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scored in batches of 7 rows with the gold table never read whole, the day gives
    the rows (ids, predictions, features) it gives in one batch."""
    context = trained_context
    score(context)
    columns = ["prediction_id", "prediction", *context.view.feature_names]
    whole = read_prediction_window(context.lake, DAY, 1).sort_values("prediction_id")
    original_batches = Lake.stream
    original_read = Lake.read
    batch_sizes: list[int] = []

    def small_batches(lake: Lake, table: str, *args: Any, **kwargs: Any) -> pa.RecordBatchReader:
        reader = original_batches(lake, table, *args, **kwargs)

        def rechunked() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                for piece in pa.Table.from_batches([batch]).to_batches(max_chunksize=7):
                    batch_sizes.append(piece.num_rows)
                    yield piece

        return pa.RecordBatchReader.from_batches(reader.schema, rechunked())

    def no_whole_gold(lake: Lake, table: str, *args: Any, **kwargs: Any) -> pa.Table:
        assert table != context.view.table, "batch inference read the gold day whole"
        return original_read(lake, table, *args, **kwargs)

    monkeypatch.setattr(Lake, "stream", small_batches)
    monkeypatch.setattr(Lake, "read", no_whole_gold)
    outcome = score(context)
    monkeypatch.undo()
    batched = read_prediction_window(context.lake, DAY, 1).sort_values("prediction_id")
    assert len(batch_sizes) > 2 and max(batch_sizes) <= 7
    assert outcome.rows == len(whole) == len(batched)
    assert batched[columns].reset_index(drop=True).equals(whole[columns].reset_index(drop=True))


def test_the_drift_of_the_day_checks_a_bounded_sample(trained_context: ProjectContext) -> None:
    outcome = score(trained_context, DriftConfig(max_current_rows=40, min_rows=30))
    assert outcome.rows > 40
    assert outcome.drift is not None
    assert outcome.drift.current_rows == 40

"""Batch inference writes the same rows when a day is scored twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from src.context import ProjectContext
from src.data.predictions import PREDICTION_DATE, read_prediction_window
from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference
from tests.conftest import SAMPLE_END

pytestmark = pytest.mark.integration


DAY = SAMPLE_END - timedelta(days=1)


def score(context: ProjectContext) -> None:
    run_batch_inference(
        context.lake,
        context.store,
        context.view,
        context.mlflow,
        context.settings.model_name,
        DAY,
        context.settings.aws.s3.processed_prefix,
        context.monitoring.drift,
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

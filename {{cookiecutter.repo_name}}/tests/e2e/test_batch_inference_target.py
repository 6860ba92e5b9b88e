"""`make batch-inference` for a date already scored leaves the same predictions rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from src.context import ProjectContext
from src.data.predictions import (
    PREDICTION,
    PREDICTION_ID,
    SOURCE,
    SOURCE_BATCH,
    read_prediction_window,
)
from tests.conftest import SAMPLE_END, isolated_env, make

pytestmark = pytest.mark.e2e

DAY = SAMPLE_END - timedelta(days=2)


def run_target(root: Path) -> str:
    result = make("batch-inference", isolated_env(root), f"DATE={DAY.isoformat()}")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def batch_rows(context: ProjectContext) -> pd.DataFrame:
    columns = [PREDICTION_ID, PREDICTION, context.view.entity.name]
    frame = read_prediction_window(context.lake, DAY, 1)
    batch = frame[frame[SOURCE] == SOURCE_BATCH]
    return batch[columns].sort_values(PREDICTION_ID).reset_index(drop=True)


def test_rerunning_a_scored_day_leaves_the_same_rows(trained_context: ProjectContext) -> None:
    """The first run in process (the pipeline the target calls), the second through make."""
    context = trained_context
    context.run_batch_inference(DAY)
    first = batch_rows(context)
    summary = run_target(context.settings.data_dir.parent)
    second = batch_rows(context)
    assert f"batch inference {DAY}: {len(first)} rows scored" in summary
    assert len(first) > 0
    assert first[PREDICTION_ID].is_unique
    assert first.equals(second)

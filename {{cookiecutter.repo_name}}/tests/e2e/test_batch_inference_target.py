"""`make batch-inference` twice for one date leaves the same predictions rows."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from src.context import ProjectContext
from src.data.predictions import (
    PREDICTION,
    PREDICTION_ID,
    SOURCE,
    SOURCE_BATCH,
    read_prediction_window,
)
from tests.conftest import SAMPLE_END, isolated_env

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAY = SAMPLE_END - timedelta(days=2)


def run_target(root: Path) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "batch-inference", f"DATE={DAY.isoformat()}"],
        cwd=PROJECT_ROOT, env=isolated_env(root), capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_batch_inference_twice_leaves_the_same_rows(trained_context: ProjectContext) -> None:
    root = trained_context.settings.data_dir.parent
    columns = [PREDICTION_ID, PREDICTION, trained_context.view.entity.name]
    snapshots = []
    for _ in range(2):
        summary = run_target(root)
        assert f"batch inference {DAY}:" in summary
        frame = read_prediction_window(trained_context.lake, DAY, 1)
        batch = frame[frame[SOURCE] == SOURCE_BATCH]
        snapshots.append(batch[columns].sort_values(PREDICTION_ID).reset_index(drop=True))
    first, second = snapshots
    assert len(first) > 0
    assert first[PREDICTION_ID].is_unique
    assert first.equals(second)
    rows = int(summary.split(": ")[1].split(" rows")[0])
    assert rows == len(second)

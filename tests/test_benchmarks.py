"""Every benchmark runs at its smallest size on the current template (it checks that they
run and write their figures, not how fast: speed is measured by running them by hand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE_ROOT

pytestmark = pytest.mark.slow

SMALLEST = {
    "data": ["--rows", "2000", "--features", "4", "--max-rows", "1000"],
    "drift": ["--rows", "3000", "--features", "6"],
    "serving": ["--seconds", "1", "--rows", "2000"],
}
FIGURES = {"data": ["data.json"], "drift": ["drift.json"],
           "serving": ["serving.json", "hostile.json", "batch_inference.json"]}  # fmt: skip


@pytest.mark.parametrize("benchmark", sorted(SMALLEST))
def test_a_benchmark_runs_at_its_smallest_size(benchmark: str, tmp_path: Path) -> None:
    arguments = list(SMALLEST[benchmark])
    if benchmark in ("data", "drift"):
        arguments += ["--output", str(tmp_path / f"{benchmark}.json")]
    env = {**os.environ, "BENCH_RESULTS": str(tmp_path), "BENCH_BUILD": str(tmp_path / "build")}
    command = [sys.executable, f"benchmarks/{benchmark}/run.py", *arguments]
    finished = subprocess.run(
        command, cwd=TEMPLATE_ROOT, env=env, capture_output=True, text=True, timeout=1200,
        check=False,
    )  # fmt: skip
    output = finished.stdout[-3000:] + finished.stderr[-3000:]
    assert finished.returncode == 0, output
    for name in FIGURES[benchmark]:
        assert json.loads((tmp_path / name).read_text()), f"{name} is empty:\n{output}"

"""Live performance once labels arrive, against the version's holdout metrics at training
(its `metric.<name>` tags): a metric worse by more than the tolerance is concept drift."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from src.data.predictions import PREDICTION
from src.model.train import Task
from src.monitoring.config import PerformanceConfig

HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "rmse": False, "mae": False}


@dataclass(frozen=True)
class PerformanceResult:
    labelled_rows: int
    live: dict[str, float]
    training: dict[str, float]
    degraded_metrics: list[str]

    @property
    def concept_drift(self) -> bool:
        return bool(self.degraded_metrics)

    def verdict(self) -> str:
        live = ", ".join(f"{name} {value:.4f}" for name, value in self.live.items())
        training = ", ".join(f"{name} {value:.4f}" for name, value in self.training.items())
        state = "DEGRADED" if self.concept_drift else "performance ok"
        return f"{state} on {self.labelled_rows} labelled rows: {live} (training: {training})"


def live_metrics(task: Task, label: pd.Series, prediction: pd.Series) -> dict[str, float]:
    if task == "regression":
        return {
            "rmse": math.sqrt(mean_squared_error(label, prediction)),
            "mae": float(mean_absolute_error(label, prediction)),
        }
    # Binary 0/1 labels score F1 of class 1, as training does; other label sets average classes.
    average = "binary" if set(pd.unique(pd.concat([label, prediction]))) <= {0, 1} else "macro"
    return {
        "accuracy": float(accuracy_score(label, prediction)),
        "f1": float(f1_score(label, prediction, average=average, zero_division=0)),
    }


def evaluate_performance(
    current: pd.DataFrame,
    label: str,
    task: Task,
    training: dict[str, float],
    config: PerformanceConfig,
) -> PerformanceResult | str:
    """Metrics of the rows of `current` with a label and a prediction, or why there are none."""
    if label not in current.columns or PREDICTION not in current.columns:
        return f"live performance skipped: the current data has no {label} and {PREDICTION}"
    labelled = current[current[label].notna() & current[PREDICTION].notna()]
    if len(labelled) < config.min_labelled_rows:
        return (
            f"live performance skipped: {len(labelled)} labelled rows, needs "
            f"{config.min_labelled_rows} (config/monitoring.yaml performance.min_labelled_rows)"
        )
    live = live_metrics(task, labelled[label], labelled[PREDICTION])
    baseline = {name: value for name, value in training.items() if name in live}
    tolerance = config.max_relative_degradation
    degraded = [
        name for name, value in baseline.items()
        # Worse by more than the tolerance, in the metric's direction.
        if (value - live[name]) * (1 if HIGHER_IS_BETTER[name] else -1) > abs(value) * tolerance
    ]  # fmt: skip
    return PerformanceResult(len(labelled), live, baseline, degraded)

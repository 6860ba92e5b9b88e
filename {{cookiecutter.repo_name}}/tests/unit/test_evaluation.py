"""Metrics, segment analysis, importance and the evaluation pictures of both problem types."""

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from src.errors import ConfigError
from src.model.config import Task
from src.model.evaluate import (
    build_baseline,
    compute_feature_importance,
    compute_segment_metrics,
    segment_labels,
)
from src.model.metrics import get_metric, improvement, metric_names, score
from src.model.plots import (
    build_evaluation_figures,
    plot_feature_importance,
    plot_optimization_history,
)
from src.model.train import build_estimator
from src.model.tuning import COMPLETE, PRUNED, TrialResult

PNG_MAGIC = b"\x89PNG"
Loader = Callable[..., Any]


def fitted(task: Task, frame: pd.DataFrame, target: pd.Series) -> Any:
    name = (
        "sklearn.linear_model.LogisticRegression"
        if task == "classification"
        else "sklearn.linear_model.Ridge"
    )
    return build_estimator(task, name, {}, seed=0).fit(frame, target)


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def titles(figure: Figure) -> list[str]:
    return [axes.get_title() for axes in figure.axes]


def test_every_metric_knows_its_direction() -> None:
    assert metric_names("classification")[0] == "roc_auc"
    assert get_metric("classification", "log_loss").higher_is_better is False
    assert get_metric("regression", "r2").higher_is_better is True
    assert improvement(40.0, 50.0, higher_is_better=False) == 10.0
    with pytest.raises(ConfigError, match="'rmse' is not a classification metric"):
        get_metric("classification", "rmse")


@pytest.mark.parametrize(
    ("task", "loader", "gate"),
    [("classification", load_breast_cancer, "roc_auc"), ("regression", load_diabetes, "rmse")],
)
def test_the_candidate_beats_the_naive_baseline(task: Task, loader: Loader, gate: str) -> None:
    data = loader(as_frame=True)
    model = fitted(task, data.data, data.target)
    baseline = build_baseline(task).fit(data.data, data.target)
    ours = score(task, model, data.data, data.target)[gate]
    naive = score(task, baseline, data.data, data.target)[gate]
    assert improvement(ours, naive, get_metric(task, gate).higher_is_better) > 0


def test_segments_are_values_for_few_valued_features_and_ordered_bins_otherwise() -> None:
    few = segment_labels(pd.Series([1.0, 2.0, 2.0, 1.0]), segments=3)
    assert list(few) == ["= 1", "= 2", "= 2", "= 1"]
    many = segment_labels(pd.Series(np.arange(30, dtype=float)), segments=3)
    assert list(many.cat.categories) == ["(-0.001, 9.667]", "(9.667, 19.33]", "(19.33, 29]"]


def test_segment_metrics_cover_every_row_and_leave_undefined_metrics_empty() -> None:
    x = np.arange(100, dtype=float)
    frame = pd.DataFrame({"x": x, "other": np.cos(x)})
    # The upper half holds one class only: ROC AUC is undefined there.
    labels = pd.Series(np.where(x < 50, x % 2, 1).astype(int))
    model = fitted("classification", frame, labels)
    segments = compute_segment_metrics("classification", model, frame, labels, "x", 2)
    assert list(segments["segment"]) == ["x (-0.001, 49.5]", "x (49.5, 99]"]
    assert list(segments["rows"]) == [50, 50]
    assert segments["accuracy"].notna().all()
    assert segments["roc_auc"].notna().iloc[0] and segments["roc_auc"].isna().iloc[1]
    with pytest.raises(ConfigError, match="'size' is not a feature"):
        compute_segment_metrics("classification", model, frame, labels, "size", 2)


def test_permutation_importance_ranks_an_informative_feature_above_noise() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=300), "noise": rng.normal(size=300)})
    target = pd.Series(3 * frame["signal"] + rng.normal(scale=0.1, size=300))
    model = fitted("regression", frame, target)
    importance = compute_feature_importance("regression", model, frame, target, "rmse", seed=0)
    assert list(importance["feature"]) == ["signal", "noise"]
    assert importance["importance"].iloc[0] > 1.0 > abs(importance["importance"].iloc[1])


BINARY_PICTURES = {
    "confusion_matrix.png",
    "roc_curve.png",
    "precision_recall_curve.png",
    "calibration.png",
}


@pytest.mark.parametrize(
    ("task", "loader", "expected"),
    [
        ("classification", load_breast_cancer, BINARY_PICTURES),
        ("classification", load_iris, BINARY_PICTURES),
        ("regression", load_diabetes, {"residuals.png"}),
    ],
)
def test_each_task_gets_its_pictures(task: Task, loader: Loader, expected: set[str]) -> None:
    data = loader(as_frame=True)
    model = fitted(task, data.data, data.target)
    figures = build_evaluation_figures(task, model, data.data, data.target)
    assert set(figures) == expected
    for figure in figures.values():
        assert png(figure).startswith(PNG_MAGIC)
    if loader is load_iris:
        # Multiclass: one one-vs-rest ROC curve per class, plus the chance line.
        assert len(figures["roc_curve.png"].axes[0].get_lines()) == 3 + 1


def test_importance_and_optimisation_history_pictures() -> None:
    importance = pd.DataFrame({"feature": ["a", "b"], "importance": [0.2, 0.1], "std": [0, 0]})
    assert titles(plot_feature_importance(importance, "rmse")) == [
        "Permutation importance (holdout)"
    ]
    trials = [
        TrialResult(0, {"C": 1.0}, COMPLETE, [0.9, 0.92], 0.91),
        TrialResult(1, {"C": 0.1}, PRUNED, [0.5], None),
        TrialResult(2, {"C": 3.0}, COMPLETE, [0.95, 0.97], 0.96),
    ]
    history = plot_optimization_history(trials, "roc_auc", higher_is_better=True)
    assert titles(history) == ["Optuna optimisation history"]
    best_line = history.axes[0].get_lines()[0]
    assert np.asarray(best_line.get_ydata()).tolist() == [0.91, 0.96]
    assert png(history).startswith(PNG_MAGIC)

"""The evaluation pictures logged with every training run (MLflow shows them as images).

Figures are built with matplotlib's object API, never pyplot's global state, so nothing is
shown, nothing leaks between runs and no display is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    PredictionErrorDisplay,
    RocCurveDisplay,
)

from src.model.config import Task
from src.model.metrics import BINARY
from src.model.tuning import COMPLETE, TrialResult

TOP_FEATURES = 20
CALIBRATION_BINS = 10
SQUARE = (5.0, 4.5)


def new_figure(size: tuple[float, float], left: float = 0.14) -> Figure:
    """A figure with fixed margins: matplotlib's automatic layouts draw it two or three times
    over, which made them most of the cost of the evaluation step."""
    figure = Figure(figsize=size)
    figure.subplots_adjust(left=left, right=0.96, bottom=0.12, top=0.9, wspace=0.3)
    return figure


def plot_confusion_matrix(model: Any, features: pd.DataFrame, label: pd.Series) -> Figure:
    figure = new_figure(SQUARE)
    axes = figure.subplots()
    ConfusionMatrixDisplay.from_predictions(
        label, model.predict(features), labels=model.classes_, ax=axes, colorbar=False
    )
    axes.set_title("Confusion matrix (holdout)")
    return figure


def one_vs_rest(model: Any, features: pd.DataFrame, label: pd.Series) -> list[tuple[Any, Any, Any]]:
    """(class, is-that-class, its probability) per class; only the positive class when binary."""
    probabilities = model.predict_proba(features)
    classes = list(model.classes_)
    shown = classes[1:] if len(classes) == BINARY else classes
    return [(cls, label == cls, probabilities[:, classes.index(cls)]) for cls in shown]


def plot_roc_curves(model: Any, features: pd.DataFrame, label: pd.Series) -> Figure:
    figure = new_figure(SQUARE)
    axes = figure.subplots()
    for cls, truth, probability in one_vs_rest(model, features, label):
        RocCurveDisplay.from_predictions(truth, probability, name=f"class {cls}", ax=axes)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.legend(loc="lower right")
    axes.set_title("ROC curve (holdout)")
    return figure


def plot_precision_recall(model: Any, features: pd.DataFrame, label: pd.Series) -> Figure:
    figure = new_figure(SQUARE)
    axes = figure.subplots()
    for cls, truth, probability in one_vs_rest(model, features, label):
        PrecisionRecallDisplay.from_predictions(truth, probability, name=f"class {cls}", ax=axes)
    axes.set_title("Precision-recall curve (holdout)")
    return figure


def plot_calibration(model: Any, features: pd.DataFrame, label: pd.Series) -> Figure:
    figure = new_figure(SQUARE)
    axes = figure.subplots()
    for cls, truth, probability in one_vs_rest(model, features, label):
        CalibrationDisplay.from_predictions(
            truth, probability, n_bins=CALIBRATION_BINS, name=f"class {cls}", ax=axes
        )
    axes.set_title("Calibration (holdout)")
    return figure


def plot_residuals(model: Any, features: pd.DataFrame, label: pd.Series) -> Figure:
    figure = new_figure((10, 4.5), left=0.08)
    residual_axes, actual_axes = figure.subplots(1, 2)
    predicted = model.predict(features)
    PredictionErrorDisplay.from_predictions(
        label, predicted, kind="residual_vs_predicted", ax=residual_axes
    )
    residual_axes.set_title("Residuals vs predicted (holdout)")
    PredictionErrorDisplay.from_predictions(
        label, predicted, kind="actual_vs_predicted", ax=actual_axes
    )
    actual_axes.set_title("Actual vs predicted (holdout)")
    return figure


def plot_feature_importance(importance: pd.DataFrame, metric: str) -> Figure:
    top = importance.head(TOP_FEATURES).iloc[::-1]
    figure = new_figure((7, 0.3 * len(top) + 1.5), left=0.35)
    axes = figure.subplots()
    axes.barh(top["feature"], top["importance"], xerr=top["std"], color="tab:blue")
    axes.set_xlabel(f"{metric} lost when the feature is shuffled")
    axes.set_title("Permutation importance (holdout)")
    return figure


def plot_optimization_history(
    trials: list[TrialResult], metric: str, higher_is_better: bool
) -> Figure:
    """Each trial's cross-validated score, pruned trials apart, and the best so far."""
    figure = new_figure((6, 4))
    axes = figure.subplots()
    complete = [trial for trial in trials if trial.state == COMPLETE]
    pruned = [trial for trial in trials if trial.state != COMPLETE]
    axes.scatter(
        [t.number for t in complete], [t.cv_mean for t in complete], label="complete", zorder=3
    )
    if pruned:
        axes.scatter(
            [t.number for t in pruned],
            [t.cv_mean for t in pruned],
            marker="x",
            color="grey",
            label="pruned (partial CV)",
        )
    values = np.array([t.cv_mean for t in complete])
    running = np.maximum.accumulate(values) if higher_is_better else np.minimum.accumulate(values)
    axes.step([t.number for t in complete], running, where="post", color="tab:red", label="best")
    axes.set_xlabel("trial")
    axes.set_ylabel(f"cross-validated {metric}")
    axes.set_title("Optuna optimisation history")
    axes.legend()
    return figure


def build_evaluation_figures(
    task: Task, model: Any, features: pd.DataFrame, label: pd.Series
) -> dict[str, Figure]:
    """The holdout pictures of the task, by artifact file name."""
    if task == "regression":
        return {"residuals.png": plot_residuals(model, features, label)}
    if not hasattr(model, "predict_proba"):
        # Curves need scores of each class; LinearSVC, RidgeClassifier only give classes.
        return {"confusion_matrix.png": plot_confusion_matrix(model, features, label)}
    return {
        "confusion_matrix.png": plot_confusion_matrix(model, features, label),
        "roc_curve.png": plot_roc_curves(model, features, label),
        "precision_recall_curve.png": plot_precision_recall(model, features, label),
        "calibration.png": plot_calibration(model, features, label),
    }

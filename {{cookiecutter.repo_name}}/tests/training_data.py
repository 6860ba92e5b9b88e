"""Data and configuration for the model tests: config/features.yaml's features plus a nullable
number, string and boolean, so encoding and missing values are always exercised; the label is
three string classes or a number, so both tasks run on any render."""

from __future__ import annotations

from typing import Any

import pandas as pd

from src.data.feature_store import Column, FeatureView, load_feature_view
from src.model.train import Task, TrainingConfig
from src.settings import FEATURES_FILE
from tests.conftest import feature_rows

AMOUNT, PLAN, FLAG = "test_amount", "test_plan", "test_flag"
CLASSES = ["high", "low", "mid"]
ESTIMATORS = {
    "classification": "sklearn.linear_model.LogisticRegression",
    "regression": "sklearn.linear_model.Ridge",
}
SPACES: dict[str, dict[str, Any]] = {
    "classification": {"C": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}},
    "regression": {"alpha": {"type": "float", "low": 1e-3, "high": 1e3, "log": True}},
}
GATES = {"classification": "roc_auc", "regression": "rmse"}
# The holdout pictures of each task (plots/<name>.png).
PICTURES = {
    "classification": {"confusion_matrix", "roc_curve", "precision_recall_curve", "calibration"},
    "regression": {"residuals"},
}


def task_view(task: Task) -> FeatureView:
    view = load_feature_view(FEATURES_FILE)
    extra = [
        Column(name=AMOUNT, dtype="float64", nullable=True, min=0, max=10),
        Column(name=PLAN, dtype="string", nullable=True, values=["basic", "plus", "pro"]),
        Column(name=FLAG, dtype="bool", nullable=True),
    ]
    label = (
        Column(name=view.label.name, dtype="string", values=CLASSES)
        if task == "classification"
        else Column(name=view.label.name, dtype="float64")
    )
    return view.model_copy(update={"features": [*view.features, *extra], "label": label})


def task_rows(view: FeatureView, rows: int = 300, seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    frame = feature_rows(view, rows, seed)
    return frame[view.feature_names], frame[view.label.name]


def task_config(task: Task, **changes: Any) -> TrainingConfig:
    """A quick search (3 trials, 3 folds) of the task's linear model, gates at zero."""
    gates = {"min_improvement_over_baseline": 0, "min_improvement_over_production": 0}
    content: dict[str, Any] = {
        "task": task,
        "model": {"estimator": ESTIMATORS[task], "params": {}},
        "search": {"n_trials": 3, "cv_folds": 3, "space": SPACES[task]},
        "promotion": {"gate_metric": GATES[task], **gates},
    }
    return TrainingConfig.model_validate({**content, **changes})

"""Metrics as scikit-learn scorers (both tasks, several classes), the segments of the error
analysis, permutation importance and the pictures of each task."""

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, log_loss, mean_squared_error, roc_auc_score
from sklearn.pipeline import Pipeline

from src.model.train import Task, build_model, higher_is_better, score, scorer_name
from src.pipelines.DS.training_pipeline.dataset import DatasetSplit
from src.pipelines.DS.training_pipeline.evaluation import (
    compute_importance,
    plot_holdout,
    score_segments,
    segment_labels,
)
from tests.training_data import AMOUNT, PICTURES, task_config, task_rows, task_view


def fitted(task: Task) -> tuple[Pipeline, pd.DataFrame, pd.Series]:
    view = task_view(task)
    features, labels = task_rows(view)
    return build_model(task_config(task), view).fit(features, labels), features, labels


def test_scores_are_the_metrics_themselves_with_their_direction() -> None:
    assert scorer_name("classification", "f1", pd.Series([0, 1])) == "f1"
    assert not higher_is_better("classification", "log_loss")
    assert not higher_is_better("regression", "rmse") and higher_is_better("regression", "r2")
    model, features, labels = fitted("classification")  # three classes: macro, one-vs-rest
    metrics = score("classification", model, features, labels)
    probabilities = model.predict_proba(features)
    auc = roc_auc_score(labels, probabilities, multi_class="ovr")
    assert metrics["roc_auc"] == pytest.approx(auc)
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, probabilities))
    f1 = f1_score(labels, model.predict(features), average="macro")
    assert metrics["f1"] == pytest.approx(f1)
    model, features, labels = fitted("regression")
    rmse = score("regression", model, features, labels, ["rmse"])["rmse"]
    assert rmse == pytest.approx(mean_squared_error(labels, model.predict(features)) ** 0.5)


def test_segments_are_values_of_few_valued_features_and_ordered_bins_otherwise() -> None:
    few = segment_labels(pd.Series([1.0, 2.0, 2.0, 1.0]), segments=3)
    assert list(few) == ["= 1", "= 2", "= 2", "= 1"]
    many = segment_labels(pd.Series(np.arange(30, dtype=float)), segments=3)
    assert list(many.cat.categories) == ["(-0.001, 9.667]", "(9.667, 19.33]", "(19.33, 29]"]
    categories = segment_labels(pd.Series(list("aaabbc")), segments=2)
    assert list(categories) == ["= a"] * 3 + ["(other)"] * 3


def test_segment_metrics_cover_every_row_and_leave_undefined_metrics_empty() -> None:
    model, features, labels = fitted("classification")
    # Rows of one class in the top third of AMOUNT: ROC AUC is undefined there.
    top = features[AMOUNT] > features[AMOUNT].quantile(2 / 3)
    labels = labels.where(~top, labels.iloc[0])
    split = DatasetSplit(features, features, labels, labels, AMOUNT)
    segments = score_segments("classification", model, split, 3)
    assert segments["rows"].sum() == features[AMOUNT].notna().sum()
    assert segments["accuracy"].notna().all() and segments["roc_auc"].isna().iloc[-1]


def test_permutation_importance_ranks_an_informative_feature_above_noise() -> None:
    model, features, labels = fitted("regression")
    split = DatasetSplit(features, features, labels, labels, AMOUNT)
    importance = compute_importance("regression", model, split, "rmse", seed=0)
    # The synthesized label weighs the first three features most (tests/conftest.py).
    assert importance["feature"].iloc[0] in list(features.columns[:3])
    assert importance["importance"].iloc[0] > 0 and len(importance) == len(features.columns)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_each_task_gets_its_pictures(task: Task) -> None:
    model, features, labels = fitted(task)
    figures = plot_holdout(task, model, features, labels)
    assert set(figures) == {f"{name}.png" for name in PICTURES[task]}
    for figure in figures.values():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        assert buffer.getvalue().startswith(b"\x89PNG")
    if task == "classification":  # one one-vs-rest curve per class
        assert len(figures["roc_curve.png"].axes[0].get_lines()) >= 3

"""The Optuna search on contract data (no MLflow): reproducible, every trial reported, clear
errors on a bad space, a bad parameter or a class rarer than the folds."""

from typing import Any

import optuna
import pytest

from src.errors import ConfigError, DataValidationError
from src.model.train import Task
from src.pipelines.DS.training_pipeline.training import FOLD_SCORES, search_params
from tests.training_data import ESTIMATORS, task_config, task_rows, task_view


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_same_data_and_config_give_the_same_search(task: Task) -> None:
    view = task_view(task)
    features, labels = task_rows(view)
    first = search_params(task_config(task), view, features, labels)
    assert first == search_params(task_config(task), view, features, labels)
    assert first.best_params and first.cv_std > 0 and len(first.fold_scores) == 3


def test_every_trial_is_reported_once_and_the_best_follows_the_metric_direction() -> None:
    view = task_view("regression")
    features, labels = task_rows(view)
    seen: list[optuna.trial.FrozenTrial] = []
    search = search_params(
        task_config("regression"), view, features, labels, [lambda _, t: seen.append(t)]
    )
    assert [trial.number for trial in seen] == [0, 1, 2]
    assert all(len(trial.user_attrs[FOLD_SCORES]) == 3 for trial in seen)
    # rmse: lower is better, scores reported positive (not the scorer's negated values)
    assert search.cv_mean == min(search.history) > 0


BOUNDS = {"type": "float", "low": 1, "high": 2}


@pytest.mark.parametrize(
    ("space", "model", "message"),
    [
        ({"C": {**BOUNDS, "low": 0, "log": True}}, {}, "low > 0"),
        ({"C": {"type": "categorical"}}, {}, "one or more elements"),
        ({"alpha": BOUNDS}, {}, "unexpected keyword argument 'alpha'"),
        ({}, {"params": {"C": -1.0}}, "'C' parameter"),
        ({}, {"estimator": "sklearn.svm.LinearSVC"}, "needs probabilities"),
    ],
)
def test_a_bad_search_is_a_config_error(
    space: dict[str, Any], model: dict[str, Any], message: str
) -> None:
    view = task_view("classification")
    features, labels = task_rows(view)
    model = {"estimator": ESTIMATORS["classification"], **model}
    search = {"n_trials": 1, "cv_folds": 3, "space": space}
    config = task_config("classification", model=model, search=search)
    with pytest.raises(ConfigError, match=message):
        search_params(config, view, features, labels)


def test_a_class_rarer_than_the_folds_is_a_data_error() -> None:
    view = task_view("classification")
    features, labels = task_rows(view)
    rare = labels.where(labels.index > 1, "rare")
    with pytest.raises(DataValidationError, match="rarest class has 2 training rows"):
        search_params(task_config("classification"), view, features, rare)

"""The Optuna search on in-memory data (no MLflow): reproducible, pruned, clear on bad input."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from src.errors import ConfigError, DataValidationError
from src.model.config import Task, TrainingConfig
from src.model.tuning import COMPLETE, PRUNED, SearchProgress, TrialResult, run_search

SPACES: dict[Task, dict[str, Any]] = {
    "classification": {"C": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}},
    "regression": {"alpha": {"type": "float", "low": 1e-3, "high": 1e4, "log": True}},
}
ESTIMATORS = {
    "classification": "sklearn.linear_model.LogisticRegression",
    "regression": "sklearn.linear_model.Ridge",
}
GATES = {"classification": "roc_auc", "regression": "rmse"}


def make_config(task: Task, **search: Any) -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "task": task,
            "model": {"estimator": ESTIMATORS[task]},
            "search": {"n_trials": 5, "cv_folds": 3, "space": SPACES[task], **search},
            "evaluation": {"segment_feature": "x"},
            "promotion": {
                "gate_metric": GATES[task],
                "min_improvement_over_baseline": 0,
                "min_improvement_over_production": 0,
            },
        }
    )


def dataset(task: Task) -> tuple[pd.DataFrame, pd.Series]:
    """The first 300 rows: enough for the search to mean something, quick to fit."""
    loader = load_breast_cancer if task == "classification" else load_diabetes
    bunch = loader(as_frame=True)
    return bunch.data.head(300), bunch.target.head(300)


class Tracker:
    """Stands in for the MLflow child runs: records what each trial's run would get."""

    def __init__(self) -> None:
        self.opened: list[int] = []
        self.recorded: list[TrialResult] = []

    def __call__(self, number: int) -> Any:
        @contextmanager
        def track() -> Iterator[Callable[[TrialResult], None]]:
            self.opened.append(number)
            yield self.recorded.append

        return track()


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_same_data_and_config_give_the_same_search(task: Task) -> None:
    features, labels = dataset(task)
    config = make_config(task)
    first = run_search(config, features, labels, Tracker())
    second = run_search(config, features, labels, Tracker())
    assert first == second
    assert first.best_params and first.best_cv_std > 0


def test_the_best_trial_is_the_best_complete_one_in_the_metric_direction() -> None:
    features, labels = dataset("regression")
    search = run_search(make_config("regression"), features, labels, Tracker())
    complete = [trial for trial in search.trials if trial.state == COMPLETE]
    assert search.best_cv_mean == min(trial.cv_mean for trial in complete)
    assert not search.higher_is_better and search.metric == "rmse"


def test_every_trial_is_tracked_once_with_its_fold_scores() -> None:
    features, labels = dataset("classification")
    tracker = Tracker()
    progress: list[SearchProgress] = []
    config = make_config("classification")
    search = run_search(config, features, labels, tracker, lambda _, state: progress.append(state))
    assert tracker.opened == list(range(config.search.n_trials))
    assert tracker.recorded == search.trials
    assert [state.done for state in progress] == list(range(1, config.search.n_trials + 1))
    for trial in search.trials:
        folds = len(trial.fold_scores)
        assert folds == 3 if trial.state == COMPLETE else 1 <= folds < 3


def test_the_median_pruner_stops_hopeless_trials_early() -> None:
    features, labels = dataset("regression")
    config = make_config(
        "regression",
        n_trials=12,
        cv_folds=5,
        pruner={"kind": "median", "n_startup_trials": 3, "n_warmup_steps": 0},
    )
    search = run_search(config, features, labels, Tracker())
    pruned = [trial for trial in search.trials if trial.state == PRUNED]
    assert pruned and search.pruned == len(pruned)
    assert all(len(trial.fold_scores) < 5 for trial in pruned)
    no_pruning = config.with_search(pruner={"kind": "none"})
    assert run_search(no_pruning, features, labels, Tracker()).pruned == 0


def test_a_space_parameter_the_estimator_lacks_is_a_config_error() -> None:
    features, labels = dataset("classification")
    config = make_config(
        "classification", space={"alpha": {"type": "float", "low": 0.1, "high": 1.0}}
    )
    with pytest.raises(ConfigError, match="does not have: alpha"):
        run_search(config, features, labels, Tracker())


def test_an_invalid_parameter_value_is_a_config_error() -> None:
    features, labels = dataset("classification")
    config = make_config("classification", space={})
    config = config.model_copy(
        update={"model": config.model.model_copy(update={"params": {"C": -1.0}})}
    )
    with pytest.raises(ConfigError, match=r"fitting .*LogisticRegression.* failed"):
        run_search(config, features, labels, Tracker())


def test_a_class_rarer_than_the_folds_is_a_data_error() -> None:
    features, labels = dataset("classification")
    rare = labels.copy()
    rare.iloc[:] = 0
    rare.iloc[:2] = 1
    with pytest.raises(DataValidationError, match="rarest class has 2 training rows"):
        run_search(make_config("classification"), features, rare, Tracker())

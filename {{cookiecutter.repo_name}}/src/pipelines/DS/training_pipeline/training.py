"""Step 3: hyperparameter search with cross-validation, then the candidate on all training rows.

Every Optuna trial is an MLflow child run of the training run (its parameters, the score of
each fold, the CV mean and std, and whether it was pruned); the parent run gets the best
parameters, their CV mean and std, and the optimisation history picture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mlflow

from src.model.config import TrainingConfig
from src.model.mlflow_manager import MlflowManager
from src.model.plots import plot_optimization_history
from src.model.tuning import (
    SearchResult,
    TrialCallback,
    TrialResult,
    TrialTracker,
    build_model,
    fit_model,
    model_params,
    run_search,
)
from src.pipelines.DS.training_pipeline.preprocessing import DatasetSplit

PLOTS_DIR = "plots"


@dataclass(frozen=True)
class TrainedCandidate:
    model: Any
    search: SearchResult
    params: dict[str, Any]


def cv_metric_names(metric: str) -> tuple[str, str]:
    return f"cv_{metric}_mean", f"cv_{metric}_std"


def trial_tracker(manager: MlflowManager, metric: str) -> TrialTracker:
    """Each trial as a child run of the active training run."""

    @contextmanager
    def track(number: int) -> Iterator[Callable[[TrialResult], None]]:
        with manager.start_child_run(f"trial-{number:03d}") as run:

            def record(result: TrialResult) -> None:
                mean, std = cv_metric_names(metric)
                manager.log_batch(
                    run.info.run_id,
                    params=result.params,
                    metrics={mean: result.cv_mean, std: result.cv_std},
                    step_metrics={f"fold_{metric}": result.fold_scores},
                    tags={"optuna_trial": str(result.number), "optuna_state": result.state},
                )

            yield record

    return track


def train_candidate(
    split: DatasetSplit,
    config: TrainingConfig,
    manager: MlflowManager,
    on_trial: TrialCallback | None = None,
) -> TrainedCandidate:
    mlflow.log_params(
        {
            "estimator": config.model.estimator,
            "seed": config.seed,
            "select_k_best": config.preprocessing.select_k_best,
            "n_trials": config.search.n_trials,
            "cv_folds": config.search.cv_folds,
            "pruner": config.search.pruner.kind,
            "train_rows": len(split.x_train),
            "holdout_rows": len(split.x_test),
            **{f"fixed_{name}": value for name, value in config.model.params.items()},
        }
    )
    metric = config.promotion.gate_metric
    search = run_search(
        config, split.x_train, split.y_train, trial_tracker(manager, metric), on_trial, split.kinds
    )
    mean, std = cv_metric_names(metric)
    mlflow.log_params({f"best_{name}": value for name, value in search.best_params.items()})
    mlflow.log_metrics(
        {mean: search.best_cv_mean, std: search.best_cv_std, "trials_pruned": search.pruned}
    )
    manager.log_figure(
        plot_optimization_history(search.trials, metric, search.higher_is_better),
        f"{PLOTS_DIR}/optimization_history.png",
    )
    model = fit_model(
        build_model(config, search.best_params, split.kinds), split.x_train, split.y_train
    )
    params = model_params(config, search.best_params)
    return TrainedCandidate(model=model, search=search, params=params)

"""Step 3, training: Optuna's seeded TPE sampler over `search.space`, each trial scored by
`cross_val_score` on seeded folds (the same data and configuration give the same trials) and
logged as an MLflow child run; then the best parameters fitted on all training rows."""

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import optuna
import pandas as pd
from matplotlib.figure import Figure
from mlflow.entities import Run
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from src.data.feature_store import FeatureView
from src.errors import ConfigError, DataValidationError
from src.model.train import (
    PROBABILISTIC,
    ParamSpace,
    TrainingConfig,
    build_model,
    higher_is_better,
    scorer_name,
)
from src.pipelines.DS.training_pipeline.dataset import DatasetSplit

FOLD_SCORES = "fold_scores"
TrialCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


@dataclass(frozen=True)
class SearchResult:
    metric: str
    best_params: dict[str, Any]
    fold_scores: tuple[float, ...]  # of the best trial
    history: tuple[float, ...]  # each trial's cross-validated mean, in order
    cv_mean: float
    cv_std: float


def suggest_params(trial: optuna.Trial, space: dict[str, ParamSpace]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.type == "categorical":
            params[name] = trial.suggest_categorical(name, spec.choices)
        elif spec.type == "int":
            low, high, step = int(spec.low), int(spec.high), int(spec.step or 1)
            params[name] = trial.suggest_int(name, low, high, step=step, log=spec.log)
        else:
            bounds = (spec.low, spec.high)
            params[name] = trial.suggest_float(name, *bounds, step=spec.step, log=spec.log)
    return params


def build_folds(config: TrainingConfig, labels: pd.Series) -> KFold | StratifiedKFold:
    folds, classes = config.search.cv_folds, config.task == "classification"
    smallest = int(labels.value_counts().min()) if classes else len(labels)
    if smallest < folds:
        raise DataValidationError(
            f"{'the rarest class has' if classes else 'there are'} {smallest} training rows, "
            f"fewer than the {folds} cross-validation folds; lower search.cv_folds or add data"
        )
    return (StratifiedKFold if classes else KFold)(folds, shuffle=True, random_state=config.seed)


def search_params(
    config: TrainingConfig,
    view: FeatureView,
    features: pd.DataFrame,
    labels: pd.Series,
    callbacks: list[TrialCallback] | None = None,
) -> SearchResult:
    """The best parameters by cross-validated gate metric; trials go to the `callbacks`."""
    metric, estimator = config.promotion.gate_metric, build_model(config, view).steps[-1][1]
    if metric in PROBABILISTIC and not hasattr(estimator, "predict_proba"):
        raise ConfigError(
            f"promotion.gate_metric {metric!r} needs probabilities, which "
            f"{type(estimator).__name__} does not give; choose e.g. accuracy or f1"
        )
    folds, scoring = build_folds(config, labels), scorer_name(config.task, metric, labels)
    higher = higher_is_better(config.task, metric)

    def objective(trial: optuna.Trial) -> float:
        model = build_model(config, view, suggest_params(trial, config.search.space))
        values = cross_val_score(
            model, features, labels, cv=folds, scoring=scoring, error_score="raise"
        )
        scores = (values if higher else -values).tolist()  # a `neg_` scorer: the metric itself
        trial.set_user_attr(FOLD_SCORES, scores)
        return statistics.fmean(scores)  # as cv_mean and the child runs average them

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = optuna.samplers.TPESampler(seed=config.seed)
    study = optuna.create_study(direction="maximize" if higher else "minimize", sampler=sampler)
    try:
        study.optimize(objective, n_trials=config.search.n_trials, callbacks=callbacks)
    except ValueError as error:  # Optuna's checks of search.space, the estimator's of values
        raise ConfigError(f"search of {config.model.estimator} failed: {error}") from error
    best, history = study.best_trial, tuple(float(trial.value or 0) for trial in study.trials)
    scores = best.user_attrs[FOLD_SCORES]
    mean, std = statistics.fmean(scores), statistics.pstdev(scores)
    return SearchResult(metric, best.params, tuple(scores), history, mean, std)


def plot_history(search: SearchResult, higher: bool) -> Figure:
    """Each trial's cross-validated score and the best so far."""
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    best = (np.maximum if higher else np.minimum).accumulate(search.history)
    axes.plot(search.history, "o", label="trial")
    axes.step(range(len(best)), best, where="post", label="best")
    axes.set(xlabel="trial", ylabel=f"cross-validated {search.metric}", title="Optuna search")
    axes.legend()
    return figure


def train_candidate(
    split: DatasetSplit,
    view: FeatureView,
    config: TrainingConfig,
    run: Run,
    on_trial: TrialCallback,
) -> tuple[Pipeline, SearchResult]:
    """The search, then the candidate: the best parameters fitted on all training rows."""
    search, metric = config.search, config.promotion.gate_metric
    rows = {"train_rows": len(split.x_train), "holdout_rows": len(split.x_test)}
    fixed = {f"fixed_{name}": value for name, value in config.model.params.items()}
    settings = {"n_trials": search.n_trials, "cv_folds": search.cv_folds, "seed": config.seed}
    k_best = config.preprocessing.select_k_best
    mlflow.log_params(
        {"estimator": config.model.estimator, "select_k_best": k_best, **settings, **rows, **fixed}
    )

    def track(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """The trial as a child run: its parameters, each fold, the mean and the spread."""
        scores, name = trial.user_attrs[FOLD_SCORES], f"trial-{trial.number:03d}"
        with mlflow.start_run(experiment_id=run.info.experiment_id, run_name=name, nested=True):
            mlflow.log_params(trial.params)
            summary = {"mean": statistics.fmean(scores), "std": statistics.pstdev(scores)}
            mlflow.log_metrics({f"cv_{metric}_{key}": value for key, value in summary.items()})
            for step, value in enumerate(scores):
                mlflow.log_metric(f"fold_{metric}", value, step=step)
        on_trial(study, trial)

    result = search_params(config, view, split.x_train, split.y_train, [track])
    mlflow.log_params({f"best_{name}": value for name, value in result.best_params.items()})
    mlflow.log_metrics({f"cv_{metric}_mean": result.cv_mean, f"cv_{metric}_std": result.cv_std})
    plot = plot_history(result, higher_is_better(config.task, metric))
    mlflow.log_figure(plot, "plots/optimization_history.png")
    model = build_model(config, view, result.best_params).fit(split.x_train, split.y_train)
    return model, result

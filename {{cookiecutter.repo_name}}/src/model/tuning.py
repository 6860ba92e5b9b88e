"""Hyperparameter search: Optuna over the configured space, scored by k-fold cross-validation.

Reproducible by construction: the sampler is seeded, trials run one after another in this
process, folds are shuffled with the same seed and every estimator gets it too, so the same
data and configuration give the same trials, the same best parameters and the same scores.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from src.errors import ConfigError, DataValidationError
from src.model.config import ParamSpace, PrunerConfig, SearchConfig, TrainingConfig
from src.model.metrics import Metric, get_metric, score
from src.model.train import FeatureKinds, build_estimator, estimator_of

COMPLETE = "complete"
PRUNED = "pruned"


@dataclass(frozen=True)
class TrialResult:
    number: int
    params: dict[str, Any]
    state: str
    fold_scores: list[float]
    value: float | None

    @property
    def cv_mean(self) -> float:
        return statistics.fmean(self.fold_scores)

    @property
    def cv_std(self) -> float:
        return statistics.pstdev(self.fold_scores)


@dataclass(frozen=True)
class SearchResult:
    metric: str
    higher_is_better: bool
    best_params: dict[str, Any]
    best_cv_mean: float
    best_cv_std: float
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def pruned(self) -> int:
        return sum(trial.state == PRUNED for trial in self.trials)


# Opens the tracking run of one trial (an MLflow child run in the pipeline) and returns a
# function that records the finished trial in it.
TrialTracker = Callable[[int], AbstractContextManager[Callable[[TrialResult], None]]]
TrialCallback = Callable[[TrialResult, "SearchProgress"], None]


@dataclass(frozen=True)
class SearchProgress:
    done: int
    total: int
    best_value: float | None


def suggest_params(trial: optuna.Trial, space: dict[str, ParamSpace]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.type == "categorical":
            params[name] = trial.suggest_categorical(name, spec.choices or [])
        elif spec.type == "int":
            params[name] = trial.suggest_int(
                name,
                int(spec.low or 0),
                int(spec.high or 0),
                step=int(spec.step or 1),
                log=spec.log,
            )
        else:
            params[name] = trial.suggest_float(
                name, float(spec.low or 0), float(spec.high or 0), step=spec.step, log=spec.log
            )
    return params


def build_pruner(config: PrunerConfig, folds: int) -> optuna.pruners.BasePruner:
    if config.kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=config.n_startup_trials, n_warmup_steps=config.n_warmup_steps
        )
    if config.kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    if config.kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=folds)
    return optuna.pruners.NopPruner()


def build_folds(config: TrainingConfig, labels: pd.Series) -> Iterator[tuple[Any, Any]]:
    folds = config.search.cv_folds
    if config.task == "classification":
        smallest = int(labels.value_counts().min())
        if smallest < folds:
            raise DataValidationError(
                f"the rarest class has {smallest} training rows, fewer than the "
                f"{folds} cross-validation folds; lower search.cv_folds or add data"
            )
        splitter: KFold | StratifiedKFold = StratifiedKFold(
            folds, shuffle=True, random_state=config.seed
        )
    else:
        if len(labels) < folds:
            raise DataValidationError(f"{len(labels)} training rows cannot fill {folds} folds")
        splitter = KFold(folds, shuffle=True, random_state=config.seed)
    pairs: Iterator[tuple[Any, Any]] = splitter.split(np.zeros(len(labels)), labels)
    return pairs


def model_params(config: TrainingConfig, searched: dict[str, Any]) -> dict[str, Any]:
    return {**config.model.params, **searched}


def build_model(
    config: TrainingConfig, searched: dict[str, Any], kinds: FeatureKinds | None = None
) -> Any:
    return build_estimator(
        config.task,
        config.model.estimator,
        model_params(config, searched),
        config.seed,
        config.preprocessing.select_k_best,
        kinds,
        config.preprocessing.scale,
    )


def fit_model(model: Any, features: pd.DataFrame, labels: pd.Series) -> Any:
    """Fit a clone of `model`; invalid parameter values surface here, as a ConfigError."""
    fitted = clone(model)
    try:
        fitted.fit(features, labels)
    except ValueError as error:
        raise ConfigError(f"fitting {estimator_of(model)!r} failed: {error}") from error
    return fitted


def fit_and_score(
    config: TrainingConfig,
    metric: Metric,
    model: Any,
    features: pd.DataFrame,
    labels: pd.Series,
    fold: tuple[Any, Any],
) -> float:
    train_index, valid_index = fold
    fitted = fit_model(model, features.iloc[train_index], labels.iloc[train_index])
    valid = score(
        config.task, fitted, features.iloc[valid_index], labels.iloc[valid_index], [metric.name]
    )
    return valid[metric.name]


def run_trial(
    trial: optuna.Trial,
    config: TrainingConfig,
    metric: Metric,
    features: pd.DataFrame,
    labels: pd.Series,
    kinds: FeatureKinds,
) -> TrialResult:
    """Score one parameter set fold by fold, reporting the running mean so the pruner can stop
    a hopeless trial early."""
    params = suggest_params(trial, config.search.space)
    model = build_model(config, params, kinds)
    scores: list[float] = []
    for step, fold in enumerate(build_folds(config, labels)):
        scores.append(fit_and_score(config, metric, model, features, labels, fold))
        trial.report(statistics.fmean(scores), step)
        if trial.should_prune():
            return TrialResult(trial.number, params, PRUNED, scores, None)
    return TrialResult(trial.number, params, COMPLETE, scores, statistics.fmean(scores))


def check_space(config: SearchConfig, estimator_params: set[str]) -> None:
    unknown = sorted(set(config.space) - estimator_params)
    if unknown:
        raise ConfigError(
            f"search.space names parameters the estimator does not have: {', '.join(unknown)}"
        )


def check_metric(metric: Metric, estimator: Any) -> None:
    if metric.needs_probabilities and not hasattr(estimator, "predict_proba"):
        raise ConfigError(
            f"promotion.gate_metric {metric.name!r} needs probabilities, which "
            f"{type(estimator).__name__} does not give (no predict_proba); choose a metric "
            "of its predictions, e.g. accuracy or f1"
        )


def run_search(
    config: TrainingConfig,
    features: pd.DataFrame,
    labels: pd.Series,
    track_trial: TrialTracker,
    on_trial: TrialCallback | None = None,
    kinds: FeatureKinds | None = None,
) -> SearchResult:
    """Search the space with a seeded TPE sampler and the configured pruner; one trial at a
    time, each tracked by `track_trial`. `kinds` (from the feature view) says which features
    are categorical or nullable; by default they are read off `features`."""
    metric = get_metric(config.task, config.promotion.gate_metric)
    kinds = kinds or FeatureKinds.of_frame(features)
    estimator = estimator_of(build_model(config, {}, kinds))
    check_space(config.search, set(estimator.get_params()))
    check_metric(metric, estimator)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if metric.higher_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=build_pruner(config.search.pruner, config.search.cv_folds),
    )
    results: list[TrialResult] = []

    def objective(trial: optuna.Trial) -> float:
        with track_trial(trial.number) as record:
            result = run_trial(trial, config, metric, features, labels, kinds)
            record(result)
        results.append(result)
        if on_trial is not None:
            on_trial(result, SearchProgress(len(results), config.search.n_trials, best(results)))
        if result.state == PRUNED:
            raise optuna.TrialPruned
        return result.cv_mean

    def best(done: list[TrialResult]) -> float | None:
        values = [trial.cv_mean for trial in done if trial.state == COMPLETE]
        if not values:
            return None
        return max(values) if metric.higher_is_better else min(values)

    # Errors are not caught: a broken configuration stops the search at its first trial.
    study.optimize(objective, n_trials=config.search.n_trials, n_jobs=1, catch=())
    completed = [trial for trial in results if trial.state == COMPLETE]
    if not completed:
        raise ConfigError("every trial was pruned; lower search.pruner.n_startup_trials")
    winner = next(trial for trial in completed if trial.number == study.best_trial.number)
    return SearchResult(
        metric=metric.name,
        higher_is_better=metric.higher_is_better,
        best_params=winner.params,
        best_cv_mean=winner.cv_mean,
        best_cv_std=winner.cv_std,
        trials=results,
    )

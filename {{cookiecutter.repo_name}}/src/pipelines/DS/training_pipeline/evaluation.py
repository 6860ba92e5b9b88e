"""Step 4, evaluation: the candidate and the naive baseline on the holdout, error analysis by
segment, permutation importance and the pictures (drawn on matplotlib Figures, never pyplot's
global state, so nothing leaks between runs). Production is scored by the promotion step."""

import warnings
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import CalibrationDisplay
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    PredictionErrorDisplay,
    RocCurveDisplay,
)

from src.model.train import Task, TrainingConfig, score, scorer_name
from src.pipelines.DS.training_pipeline.dataset import DatasetSplit

TOP_FEATURES = 20
# Curves of each class's probability (one-vs-rest; the positive class alone when binary).
CURVES = {
    "roc_curve.png": RocCurveDisplay,
    "precision_recall_curve.png": PrecisionRecallDisplay,
    "calibration.png": CalibrationDisplay,
}


@dataclass(frozen=True)
class Evaluation:
    candidate: dict[str, float]
    baseline: dict[str, float]
    segments: pd.DataFrame
    importance: pd.DataFrame


def segment_labels(values: pd.Series, segments: int) -> pd.Series:
    """Each row's segment: its value when there are few, else its quantile bin for a number,
    else its category if among the most frequent, else "(other)"."""
    many = values.nunique() > segments
    if many and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        bins = pd.qcut(values, q=segments, duplicates="drop")
        names = [f"({b.left:.4g}, {b.right:.4g}]" for b in bins.cat.categories]
        return bins.cat.rename_categories(names)
    common = values.value_counts().index[: segments - 1 if many else segments]
    named = values.map(lambda value: f"= {value:g}" if isinstance(value, float) else f"= {value}")
    return named.where(values.isin(common), "(other)")


def score_segments(task: Task, model: Any, split: DatasetSplit, segments: int) -> pd.DataFrame:
    """One row per segment: its size and every metric (NaN where undefined, as ROC AUC)."""
    feature, x, y = split.segment_feature, split.x_test, split.y_test
    groups, rows = segment_labels(x[feature], segments), []
    for name, index in groups.groupby(groups, observed=True).groups.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics = score(task, model, x.loc[index], y.loc[index], all_labels=y)
        rows.append({"segment": f"{feature} {name}", "rows": len(index), **metrics})
    return pd.DataFrame(rows)


def compute_importance(
    task: Task, model: Any, split: DatasetSplit, metric: str, seed: int
) -> pd.DataFrame:
    """How much `metric` worsens when a feature is shuffled, for any estimator."""
    x, y = split.x_test, split.y_test
    result = permutation_importance(
        model, x, y, scoring=scorer_name(task, metric, y), n_repeats=3, random_state=seed
    )
    frame = pd.DataFrame(
        {"feature": x.columns, "importance": result.importances_mean, "std": result.importances_std}
    )
    return frame.sort_values("importance", ascending=False, ignore_index=True)


def plot_holdout(
    task: Task, model: Any, features: pd.DataFrame, labels: pd.Series
) -> dict[str, Figure]:
    """The task's holdout pictures, by artifact file name."""
    predicted = model.predict(features)
    if task == "regression":
        figure = Figure(figsize=(10, 4.5))
        kinds = ("residual_vs_predicted", "actual_vs_predicted")
        for axes, kind in zip(figure.subplots(1, 2), kinds, strict=True):
            PredictionErrorDisplay.from_predictions(labels, predicted, kind=kind, ax=axes)
        return {"residuals.png": figure}
    figures = {"confusion_matrix.png": Figure()}
    axes = figures["confusion_matrix.png"].subplots()
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, labels=model.classes_, ax=axes, colorbar=False
    )
    if not hasattr(model, "predict_proba"):  # LinearSVC, RidgeClassifier: classes only
        return figures
    probabilities, classes = model.predict_proba(features), list(model.classes_)
    for file, display in CURVES.items():
        figures[file] = Figure()
        axes = figures[file].subplots()
        for cls in classes[1:] if len(classes) == 2 else classes:
            probability = probabilities[:, classes.index(cls)]
            display.from_predictions(labels == cls, probability, name=f"class {cls}", ax=axes)
    return figures


def evaluate_candidate(candidate: Any, split: DatasetSplit, config: TrainingConfig) -> Evaluation:
    task, metric, x, y = config.task, config.promotion.gate_metric, split.x_test, split.y_test
    # The naive model a candidate must beat: class priors, or the mean.
    baseline = DummyClassifier(strategy="prior") if task == "classification" else DummyRegressor()
    baseline.fit(split.x_train, split.y_train)
    scores = score(task, candidate, x, y)
    evaluation = Evaluation(
        candidate=scores,
        baseline=score(task, baseline, x, y, list(scores)),
        segments=score_segments(task, candidate, split, config.evaluation.segments),
        importance=compute_importance(task, candidate, split, metric, config.seed),
    )
    mlflow.log_metrics({f"holdout_{name}": value for name, value in evaluation.candidate.items()})
    mlflow.log_metrics({f"baseline_{name}": value for name, value in evaluation.baseline.items()})
    mlflow.log_table(evaluation.segments, "evaluation/segments.json")
    mlflow.log_table(evaluation.importance, "evaluation/feature_importance.json")
    figures = plot_holdout(task, candidate, x, y)
    top = evaluation.importance.head(TOP_FEATURES).iloc[::-1]
    figures["feature_importance.png"] = bars = Figure(figsize=(7, 0.3 * len(top) + 1.5))
    axes = bars.subplots()
    axes.barh(top["feature"], top["importance"], xerr=top["std"])
    axes.set(xlabel=f"{metric} lost when the feature is shuffled", title="Permutation importance")
    for file, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{file}")
    return evaluation

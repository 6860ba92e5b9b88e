"""A registered model loaded for scoring: the estimator, its features and where it came from.

Callers hand it a NumPy matrix whose columns follow `feature_names`; a model with categorical
features gets a DataFrame typed like its training data (its encoder selects columns by name).
Predictions are the model's own `predict` (a threshold-tuned classifier keeps its rule).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline

from src.data.predictions import PREDICTION, PROBABILITY
from src.model.config import Task
from src.model.train import encoded_categories

# Fitted on a DataFrame, scored on a matrix in the same column order: the warning that the
# matrix has no column names says nothing useful and costs time on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


@dataclass(frozen=True)
class PredictionArrays:
    predictions: np.ndarray
    # Of the predicted class, and of every class in `Predictor.classes` (classifiers only).
    probabilities: np.ndarray | None = None
    class_probabilities: np.ndarray | None = None

    def rows(self, start: int, stop: int) -> PredictionArrays:
        parts: list[Any] = [
            None if part is None else part[start:stop] for part in vars(self).values()
        ]
        return PredictionArrays(*parts)


@dataclass(frozen=True)
class Predictor:
    estimator: Any
    task: Task
    feature_names: list[str]
    model_name: str
    version: str
    alias: str
    run_id: str
    categorical: frozenset[str] = frozenset()  # typed as strings or booleans by the signature
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def classes(self) -> list[Any]:
        return [] if self.is_regression else np.asarray(self.estimator.classes_).tolist()

    @cached_property
    def input_categories(self) -> frozenset[str]:
        """From the signature, or the model's own encoder (a model not yet logged)."""
        return self.categorical or encoded_categories(self.estimator)

    @cached_property
    def steps(self) -> tuple[Any, Any]:
        """(transforms, final estimator): rows are transformed once for both predict and
        predict_proba, whose per-call validation costs more than a small model itself."""
        if isinstance(self.estimator, Pipeline) and len(self.estimator) > 1:
            return self.estimator[:-1], self.estimator[-1]
        return None, self.estimator

    def predict_array(self, matrix: np.ndarray, assume_finite: bool = False) -> PredictionArrays:
        """`assume_finite` skips scikit-learn's scan for NaN and infinities."""
        rows: Any = matrix
        if self.input_categories:
            numbers = [name for name in self.feature_names if name not in self.input_categories]
            rows = pd.DataFrame(matrix, columns=self.feature_names)
            rows = rows.astype(dict.fromkeys(numbers, "float64"))
        transforms, model = self.steps
        with sklearn.config_context(assume_finite=assume_finite, skip_parameter_validation=True):
            rows = rows if transforms is None else transforms.transform(rows)
            predictions = np.asarray(model.predict(rows))
            if self.is_regression or not hasattr(model, "predict_proba"):
                return PredictionArrays(predictions)
            by_class = np.asarray(model.predict_proba(rows), dtype=float)
        classes = np.asarray(self.estimator.classes_)
        order = np.argsort(classes)
        column = order[np.searchsorted(classes, predictions, sorter=order)]
        return PredictionArrays(predictions, by_class[np.arange(len(column)), column], by_class)

    def predict_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Predictions for rows holding at least the model's features."""
        kind = object if self.input_categories else float
        arrays = self.predict_array(features[self.feature_names].to_numpy(dtype=kind))
        result = pd.DataFrame({PREDICTION: arrays.predictions}, index=features.index)
        if arrays.probabilities is not None:
            result[PROBABILITY] = arrays.probabilities
        return result

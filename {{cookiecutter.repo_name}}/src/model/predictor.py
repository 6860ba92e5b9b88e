"""A loaded model with its contract: the one predict path of online and batch inference.

Rows reach the estimator as a NumPy matrix whose columns follow `feature_names`, the
order of the model's signature. Building that matrix is the caller's job, done once per
request or batch without pandas, which costs more than the model call for small models.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator

from src.data.predictions import PREDICTION, PROBABILITY
from src.model.config import Task
from src.model.linear_form import LinearForm, fold_linear

# Models are fitted on DataFrames; scored on a matrix whose column order this class
# guarantees, scikit-learn's feature-name warning says nothing useful and costs time.
warnings.filterwarnings(
    "ignore", message="X does not have valid feature names", category=UserWarning
)


@dataclass(frozen=True)
class PredictionArrays:
    predictions: np.ndarray
    # Probability of the predicted class; None for regression.
    probabilities: np.ndarray | None

    @property
    def values(self) -> np.ndarray:
        """What monitoring follows: the probability (classification) or the predicted value."""
        return self.probabilities if self.probabilities is not None else self.predictions

    def finite_rows(self) -> np.ndarray:
        """Per row, whether its outputs are finite numbers (huge inputs can overflow)."""
        finite = np.isfinite(self.predictions.astype(float, copy=False))
        if self.probabilities is not None:
            finite &= np.isfinite(self.probabilities)
        return np.asarray(finite)

    def slice(self, start: int, stop: int) -> PredictionArrays:
        probabilities = None if self.probabilities is None else self.probabilities[start:stop]
        return PredictionArrays(self.predictions[start:stop], probabilities)


@dataclass(frozen=True)
class Predictor:
    estimator: BaseEstimator
    task: Task
    feature_names: list[str]
    model_name: str
    version: str
    alias: str
    run_id: str
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def output_columns(self) -> list[str]:
        return [PREDICTION, PROBABILITY] if self.task == "classification" else [PREDICTION]

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    def predict_array(self, matrix: np.ndarray, assume_finite: bool = False) -> PredictionArrays:
        """Predictions for a float matrix whose columns are `feature_names`, in that order.

        `assume_finite` skips scikit-learn's NaN/infinity scan, for rows already checked.
        """
        form = self.linear_form
        # Anything unusual (non-finite values, a wrong width) takes scikit-learn's path,
        # which rejects it with its own message.
        if (
            form is not None
            and matrix.ndim == 2
            and matrix.shape[1] == form.weights.shape[0]
            and (assume_finite or np.isfinite(matrix).all())
        ):
            return self._predict(matrix, form)
        with sklearn.config_context(assume_finite=assume_finite):
            return self._predict(matrix, None)

    @cached_property
    def linear_form(self) -> LinearForm | None:
        """The estimator as one affine map when it is a linear pipeline."""
        return fold_linear(self.estimator)

    def _predict(self, matrix: np.ndarray, form: LinearForm | None) -> PredictionArrays:
        if self.task == "classification":
            probabilities = (
                form.probabilities(matrix) if form else self.estimator.predict_proba(matrix)
            )
            best = np.argmax(probabilities, axis=1)
            return PredictionArrays(
                predictions=self.estimator.classes_[best],
                probabilities=probabilities[np.arange(len(best)), best],
            )
        values = form.values(matrix) if form else self.estimator.predict(matrix)
        return PredictionArrays(np.asarray(values, dtype=float), None)

    def predict_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Predictions for rows holding at least the model's features, in the model's order."""
        matrix = features[self.feature_names].to_numpy(dtype=float)
        arrays = self.predict_array(matrix)
        result = pd.DataFrame(index=features.index)
        result[PREDICTION] = arrays.predictions
        if arrays.probabilities is not None:
            result[PROBABILITY] = arrays.probabilities
        return result

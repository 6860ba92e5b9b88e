"""A loaded model with its contract: the one predict path of online and batch inference.

Rows reach the estimator as a NumPy matrix whose columns follow `feature_names`, the
order of the model's signature. Building that matrix is the caller's job, done once per
request or batch without pandas, which costs more than the model call for small models.
The matrix is float64 when every feature is a number; with categorical (string or
boolean) features it holds Python objects, and the model gets a DataFrame typed like the
one it was fitted on, as the MLflow pyfunc gives it.

Predictions are the model's own `predict` (a threshold-tuned classifier keeps its rule);
probabilities come from `predict_proba` where the model has it. Only a folded linear
pipeline, whose predict is the argmax of its probabilities, takes the shortcut.
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
from src.model.train import encoded_categories

# Models are fitted on DataFrames; scored on a matrix whose column order this class
# guarantees, scikit-learn's feature-name warning says nothing useful and costs time.
warnings.filterwarnings(
    "ignore", message="X does not have valid feature names", category=UserWarning
)
# An unseen category is encoded as none of the known ones, as docs/own-data.md documents.
warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)


@dataclass(frozen=True)
class PredictionArrays:
    predictions: np.ndarray
    # Probability of the predicted class; None for regression and models without
    # predict_proba.
    probabilities: np.ndarray | None
    # Every class's probability, columns in the model's class order (classification).
    class_probabilities: np.ndarray | None = None

    @property
    def values(self) -> np.ndarray:
        """What monitoring follows: the probability (classification) or the predicted value."""
        return self.probabilities if self.probabilities is not None else self.predictions

    def finite_rows(self) -> np.ndarray:
        """Per row, whether its outputs are finite numbers (huge inputs can overflow)."""
        if self.predictions.dtype.kind in "fiub":
            finite = np.isfinite(self.predictions.astype(float, copy=False))
        else:  # class labels that are strings
            finite = np.ones(len(self.predictions), dtype=bool)
        if self.probabilities is not None:
            finite &= np.isfinite(self.probabilities)
        return np.asarray(finite)

    def slice(self, start: int, stop: int) -> PredictionArrays:
        probabilities = None if self.probabilities is None else self.probabilities[start:stop]
        classes = None if self.class_probabilities is None else self.class_probabilities[start:stop]
        return PredictionArrays(self.predictions[start:stop], probabilities, classes)


@dataclass(frozen=True)
class Predictor:
    estimator: BaseEstimator
    task: Task
    feature_names: list[str]
    model_name: str
    version: str
    alias: str
    run_id: str
    # Features the signature types as strings or booleans: the model then takes a DataFrame.
    categorical: frozenset[str] = frozenset()
    # Of those, the booleans; and the features that may be missing (optional inputs).
    boolean: frozenset[str] = frozenset()
    nullable: frozenset[str] = frozenset()
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def feature_kinds(self) -> dict[str, str]:
        """Each feature's kind as requests send it: number, string or boolean."""
        return {
            name: "boolean"
            if name in self.boolean
            else "string"
            if name in self.categorical
            else "number"
            for name in self.feature_names
        }

    @property
    def output_columns(self) -> list[str]:
        return [PREDICTION, PROBABILITY] if self.task == "classification" else [PREDICTION]

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def classes(self) -> list[object]:
        """The classes in the order of `class_probabilities` (empty for regression)."""
        if self.is_regression:
            return []
        classes: list[object] = np.asarray(self.estimator.classes_).tolist()
        return classes

    @cached_property
    def has_probabilities(self) -> bool:
        return not self.is_regression and hasattr(self.estimator, "predict_proba")

    def predict_array(self, matrix: np.ndarray, assume_finite: bool = False) -> PredictionArrays:
        """Predictions for a matrix whose columns are `feature_names`, in that order.

        `assume_finite` skips scikit-learn's NaN/infinity scan, for rows already checked.
        """
        form = self.linear_form
        # Anything unusual (non-finite values, a wrong width) takes scikit-learn's path,
        # which rejects it with its own message.
        if (
            form is not None
            and matrix.dtype == np.float64
            and matrix.ndim == 2
            and matrix.shape[1] == form.weights.shape[0]
            and (assume_finite or np.isfinite(matrix).all())
        ):
            return self._predict_folded(matrix, form)
        with sklearn.config_context(assume_finite=assume_finite):
            return self._predict(self.model_input(matrix))

    @cached_property
    def linear_form(self) -> LinearForm | None:
        """The estimator as one affine map when it is a linear pipeline."""
        if self.input_categories:
            return None
        return fold_linear(self.estimator)

    @cached_property
    def input_categories(self) -> frozenset[str]:
        """The categorical features: from the signature, or the model's own encoder (a
        freshly trained model has no signature yet)."""
        return self.categorical or encoded_categories(self.estimator)

    def model_input(self, matrix: np.ndarray) -> np.ndarray | pd.DataFrame:
        """What the estimator takes: the matrix itself, or for categorical features a
        DataFrame with numeric columns as float64 and categories as Python objects."""
        categories = self.input_categories
        if not categories:
            return matrix
        frame = pd.DataFrame(matrix, columns=self.feature_names)
        numeric = {name: "float64" for name in self.feature_names if name not in categories}
        return frame.astype(numeric) if numeric else frame

    def _predict_folded(self, matrix: np.ndarray, form: LinearForm) -> PredictionArrays:
        if self.is_regression:
            return PredictionArrays(np.asarray(form.values(matrix), dtype=float), None)
        # A logistic regression predicts the class of highest probability.
        probabilities = form.probabilities(matrix)
        best = np.argmax(probabilities, axis=1)
        return PredictionArrays(
            predictions=self.estimator.classes_[best],
            probabilities=probabilities[np.arange(len(best)), best],
            class_probabilities=probabilities,
        )

    def _predict(self, rows: np.ndarray | pd.DataFrame) -> PredictionArrays:
        predictions = np.asarray(self.estimator.predict(rows))
        if self.is_regression:
            return PredictionArrays(predictions.astype(float, copy=False), None)
        if not self.has_probabilities:
            return PredictionArrays(predictions, None)
        probabilities = np.asarray(self.estimator.predict_proba(rows), dtype=float)
        classes = np.asarray(self.estimator.classes_)
        order = np.argsort(classes)
        column = order[np.searchsorted(classes, predictions, sorter=order)]
        return PredictionArrays(
            predictions=predictions,
            probabilities=probabilities[np.arange(len(predictions)), column],
            class_probabilities=probabilities,
        )

    def predict_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Predictions for rows holding at least the model's features, in the model's order."""
        selected = features[self.feature_names]
        matrix = selected.to_numpy(dtype=object if self.input_categories else float)
        arrays = self.predict_array(matrix)
        result = pd.DataFrame(index=features.index)
        result[PREDICTION] = arrays.predictions
        if arrays.probabilities is not None:
            result[PROBABILITY] = arrays.probabilities
        return result

"""A fitted linear pipeline folded into one affine map: scores = X @ weights + bias.

Feature selection and standardisation are linear, so with a linear model after them the
whole pipeline is one matrix product. Scikit-learn's own path validates and copies the
input at every step, about 200 us per call whatever the row count; for one row that is
almost all of an online prediction's cost (docs/serving.md). The folded form gives the
same outputs up to floating-point rounding (tests/unit/test_linear_form.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import expit, softmax  # type: ignore[import-untyped]
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

Link = Literal["logistic", "softmax", "identity"]


@dataclass(frozen=True)
class LinearForm:
    weights: np.ndarray  # (n_features, n_outputs)
    bias: np.ndarray  # (n_outputs,)
    link: Link

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities, as the estimator's predict_proba gives them."""
        scores = matrix @ self.weights + self.bias
        if self.link == "logistic":
            positive = expit(scores[:, 0])
            return np.stack([1.0 - positive, positive], axis=1)
        return np.asarray(softmax(scores, axis=1))

    def values(self, matrix: np.ndarray) -> np.ndarray:
        """Predicted values of a regression, as the estimator's predict gives them."""
        return np.asarray((matrix @ self.weights + self.bias)[:, 0])


def fold_linear(estimator: Any) -> LinearForm | None:
    """The affine form of a [SelectKBest] -> [StandardScaler] -> LogisticRegression or Ridge
    pipeline; None for anything else, which keeps scikit-learn's own predict path."""
    if not isinstance(estimator, Pipeline):
        return None
    *transformers, (_, model) = estimator.steps
    if type(model) is LogisticRegression:
        link: Link = "logistic" if len(model.classes_) == 2 else "softmax"
    elif type(model) is Ridge and np.ndim(model.coef_) == 1:
        link = "identity"
    else:
        return None
    # Walk back from the model: each linear step maps the weights onto its own input.
    weights = np.atleast_2d(np.asarray(model.coef_, dtype=float)).T
    bias = np.atleast_1d(np.asarray(model.intercept_, dtype=float)).copy()
    for _, step in reversed(transformers):
        if type(step) is StandardScaler:
            # mean_ is computed even when with_mean is off, and then not subtracted.
            if step.with_std:
                weights = weights / step.scale_[:, np.newaxis]
            if step.with_mean:
                bias = bias - step.mean_ @ weights
        elif type(step) is SelectKBest:
            selected = step.get_support()
            full = np.zeros((selected.size, weights.shape[1]))
            full[selected] = weights
            weights = full
        else:
            return None
    return LinearForm(np.ascontiguousarray(weights), bias, link)

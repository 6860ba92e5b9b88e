"""The folded linear form gives the pipeline's own outputs, and only for linear pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from src.model.linear_form import fold_linear
from src.model.predictor import Predictor

ROWS, FEATURES = 400, 12


def data(classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Features on very different scales and offsets, so that folding the scaler matters."""
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(ROWS, FEATURES)) * rng.uniform(0.01, 500, FEATURES)
    matrix += rng.uniform(-1000, 1000, FEATURES)
    signal = (matrix - matrix.mean(axis=0)) / matrix.std(axis=0) @ rng.normal(size=FEATURES)
    if classes is None:
        return matrix, signal + rng.normal(size=ROWS)
    edges = np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1])
    return matrix, np.digitize(signal + rng.normal(scale=0.5, size=ROWS), edges)


def predictor(estimator: Any, task: str) -> Predictor:
    names = [f"f{i}" for i in range(FEATURES)]
    return Predictor(estimator, task, names, "model", "1", "production", "run")  # type: ignore[arg-type]


CLASSIFIERS = {
    "scaled": lambda: Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]),
    "selected and scaled": lambda: Pipeline(
        [
            ("select", SelectKBest(f_classif, k=5)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.3)),
        ]
    ),
    "scaled without centring": lambda: Pipeline(
        [("scale", StandardScaler(with_mean=False)), ("model", LogisticRegression())]
    ),
}


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classification_outputs_equal_predict_proba(classes: int, name: str) -> None:
    matrix, labels = data(classes)
    pipeline = CLASSIFIERS[name]().fit(matrix, labels)
    assert fold_linear(pipeline) is not None
    fast = predictor(pipeline, "classification").predict_array(matrix, assume_finite=True)
    expected = pipeline.predict_proba(matrix)
    np.testing.assert_array_equal(fast.predictions, pipeline.classes_[expected.argmax(axis=1)])
    assert fast.probabilities is not None
    np.testing.assert_allclose(fast.probabilities, expected.max(axis=1), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("selected", [False, True])
def test_regression_outputs_equal_predict(selected: bool) -> None:
    matrix, target = data(None)
    steps: list[tuple[str, Any]] = [("select", SelectKBest(f_regression, k=4))] if selected else []
    pipeline = Pipeline([*steps, ("scale", StandardScaler()), ("model", Ridge(alpha=2.0))])
    pipeline.fit(matrix, target)
    fast = predictor(pipeline, "regression").predict_array(matrix)
    np.testing.assert_allclose(fast.predictions, pipeline.predict(matrix), rtol=1e-9, atol=1e-9)


def test_one_row_gives_the_same_answer_as_the_whole_batch() -> None:
    matrix, labels = data(2)
    model = predictor(CLASSIFIERS["scaled"]().fit(matrix, labels), "classification")
    whole = model.predict_array(matrix)
    single = model.predict_array(matrix[5:6])
    assert single.predictions[0] == whole.predictions[5]
    assert single.values[0] == pytest.approx(whole.values[5], rel=1e-12)


def test_other_models_keep_scikit_learns_path() -> None:
    matrix, labels = data(2)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(matrix, labels)
    assert fold_linear(forest) is None
    assert fold_linear(Pipeline([("model", forest)])) is None
    bare = LogisticRegression().fit(matrix, labels)
    assert fold_linear(bare) is None, "only pipelines are folded"


def test_non_finite_input_is_still_rejected_by_scikit_learn() -> None:
    matrix, labels = data(2)
    model = predictor(CLASSIFIERS["scaled"]().fit(matrix, labels), "classification")
    broken = matrix[:3].copy()
    broken[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict_array(broken)

"""Estimators: the model pipeline, feature selection inside it, and the skops trust rule."""

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from src.context import FEATURES_FILE, TRAINING_FILE
from src.data.feature_store import load_feature_view
from src.errors import ConfigError, ProjectError
from src.model.config import load_training_config
from src.model.mlflow_manager import trusted_types
from src.model.train import build_estimator
from src.pipelines.DS.training_pipeline.preprocessing import check_feature_settings


def breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    data = load_breast_cancer(as_frame=True)
    return data.data, data.target


def test_feature_selection_keeps_k_features_inside_the_model() -> None:
    features, labels = breast_cancer()
    model = build_estimator("classification", "logistic_regression", {}, 0, select_k_best=5)
    model.fit(features, labels)
    assert [name for name, _ in model.steps] == ["select", "scale", "model"]
    assert model.named_steps["select"].get_support().sum() == 5
    assert model.named_steps["model"].coef_.shape == (1, 5)
    # The model still takes every feature: requests do not change with the selection.
    assert model.predict(features.head(3)).shape == (3,)


def test_trees_are_not_scaled_and_linear_models_are() -> None:
    forest = build_estimator("regression", "random_forest", {"n_estimators": 2}, 0)
    ridge = build_estimator("regression", "ridge", {}, 0)
    assert [name for name, _ in forest.steps] == ["model"]
    assert [name for name, _ in ridge.steps] == ["scale", "model"]


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("svm", {}, "unknown classification estimator 'svm'; choose one of"),
        ("random_forest", {"random_state": 1}, "invalid parameters for random_forest"),
        ("random_forest", {"trees": 3}, "invalid parameters for random_forest"),
    ],
)
def test_bad_estimator_settings_are_config_errors(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_estimator("classification", name, params, 0)


def test_a_selection_larger_than_the_view_is_a_config_error() -> None:
    view = load_feature_view(FEATURES_FILE)
    config = load_training_config(TRAINING_FILE)
    too_many = config.model_copy(
        update={
            "preprocessing": config.preprocessing.model_copy(
                update={"select_k_best": len(view.features) + 1}
            )
        }
    )
    with pytest.raises(ConfigError, match="select_k_best"):
        check_feature_settings(view, too_many)


def test_only_sklearn_and_numpy_types_are_trusted_and_they_load_back() -> None:
    features, labels = breast_cancer()
    model = build_estimator("classification", "logistic_regression", {}, 0, select_k_best=10)
    model.fit(features, labels)
    trusted = trusted_types(model)
    assert all(name.startswith(("sklearn.", "numpy.")) for name in trusted)
    loaded = skops.io.loads(skops.io.dumps(model), trusted=trusted)
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def shift(values: np.ndarray) -> np.ndarray:
    return values + 1


def test_a_model_holding_foreign_code_is_refused() -> None:
    features, labels = breast_cancer()
    inner = build_estimator("classification", "logistic_regression", {}, 0)
    model = Pipeline([("shift", FunctionTransformer(shift)), ("model", inner)])
    model.fit(features, labels)
    with pytest.raises(ProjectError, match=r"cannot be trusted on load.*shift"):
        trusted_types(model)

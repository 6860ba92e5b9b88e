"""Estimators: named by import path, the model pipeline the feature types need, the model's
own predict through the Predictor, and the skops trust rule."""

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from src.context import TRAINING_FILE
from src.data.feature_store import load_feature_view
from src.errors import ConfigError, ProjectError
from src.model.config import load_training_config
from src.model.mlflow_manager import estimator_packages, pinned_requirements, trusted_types
from src.model.predictor import Predictor
from src.model.train import FeatureKinds, build_estimator
from src.pipelines.DS.training_pipeline.preprocessing import check_feature_settings
from src.settings import FEATURES_FILE

LOGISTIC = "sklearn.linear_model.LogisticRegression"


def breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    data = load_breast_cancer(as_frame=True)
    return data.data, data.target


def test_feature_selection_keeps_k_features_inside_the_model() -> None:
    features, labels = breast_cancer()
    model = build_estimator("classification", LOGISTIC, {}, 0, select_k_best=5)
    model.fit(features, labels)
    assert [name for name, _ in model.steps] == ["select", "scale", "model"]
    assert model.named_steps["select"].get_support().sum() == 5
    assert model.named_steps["model"].coef_.shape == (1, 5)
    # The model still takes every feature: requests do not change with the selection.
    assert model.predict(features.head(3)).shape == (3,)


def test_trees_are_not_scaled_and_linear_models_are() -> None:
    forest = build_estimator(
        "regression", "sklearn.ensemble.RandomForestRegressor", {"n_estimators": 2}, 0
    )
    ridge = build_estimator("regression", "sklearn.linear_model.Ridge", {}, 0)
    assert [name for name, _ in forest.steps] == ["model"]
    assert [name for name, _ in ridge.steps] == ["scale", "model"]
    # The seed reaches every estimator that takes one.
    assert forest.named_steps["model"].random_state == 0


FOREST = "sklearn.ensemble.RandomForestClassifier"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("svm", {}, "'svm' is not an import path"),
        ("sklearn.svm.NoSuchModel", {}, "sklearn.svm has no estimator class 'NoSuchModel'"),
        ("nolib.Model", {}, "module 'nolib' cannot be imported"),
        ("sklearn.linear_model.Ridge", {}, "is not a classifier"),
        (FOREST, {"trees": 3}, f"invalid parameters for {FOREST}"),
    ],
)
def test_bad_estimator_settings_are_config_errors(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_estimator("classification", name, params, 0)


def mixed_frame(rows: int = 240) -> tuple[pd.DataFrame, pd.Series]:
    """Numbers with gaps, a string category with gaps, a boolean; three classes."""
    rng = np.random.default_rng(3)
    colour = rng.choice(["red", "green", "blue"], rows).astype(object)
    colour[rng.random(rows) < 0.1] = None
    size = rng.normal(size=rows)
    size[rng.random(rows) < 0.1] = np.nan
    frame = pd.DataFrame(
        {"size": size, "colour": colour, "flag": rng.random(rows) < 0.5, "x": rng.normal(size=rows)}
    )
    labels = pd.Series(np.where(colour == "red", "a", np.where(frame["x"] > 0, "b", "c")))
    return frame, labels


def mixed_predictor(model: Pipeline, frame: pd.DataFrame) -> Predictor:
    return Predictor(
        model,
        "classification",
        list(frame.columns),
        "model",
        "1",
        "production",
        "run",
        categorical=frozenset({"colour", "flag"}),
    )


@pytest.mark.parametrize(
    ("name", "params"),
    [(LOGISTIC, {}), ("lightgbm.LGBMClassifier", {"n_estimators": 20, "verbosity": -1})],
)
def test_categorical_and_missing_values_are_handled_inside_the_model(
    name: str, params: dict[str, object]
) -> None:
    frame, labels = mixed_frame()
    kinds = FeatureKinds.of_frame(frame)
    assert kinds.categorical == ("colour", "flag")
    assert kinds.nullable == frozenset({"size", "colour"})
    model = build_estimator("classification", name, params, 0, kinds=kinds).fit(frame, labels)
    assert next(step for step, _ in model.steps) == "encode"
    predictor = mixed_predictor(model, frame)
    rows = frame.head(5).to_numpy(dtype=object)
    rows[0, 1] = "purple"  # a category never seen in training still gets an answer
    arrays = predictor.predict_array(rows)
    typed = pd.DataFrame(rows, columns=frame.columns).astype({"size": float, "x": float})
    expected = model.predict(typed)
    np.testing.assert_array_equal(arrays.predictions, expected)
    assert arrays.class_probabilities is not None
    assert arrays.class_probabilities.shape == (5, 3)
    assert predictor.classes == ["a", "b", "c"]


def test_an_all_numeric_view_keeps_the_smallest_pipeline() -> None:
    features, _ = breast_cancer()
    kinds = FeatureKinds.of_frame(features)
    model = build_estimator("classification", LOGISTIC, {}, 0, kinds=kinds)
    assert [name for name, _ in model.steps] == ["scale", "model"]


@pytest.mark.parametrize("name", ["sklearn.svm.LinearSVC", "sklearn.linear_model.RidgeClassifier"])
def test_classifiers_without_probabilities_predict_their_own_classes(name: str) -> None:
    features, labels = breast_cancer()
    model = build_estimator("classification", name, {}, 0).fit(features, labels)
    predictor = Predictor(model, "classification", list(features.columns), "m", "1", "p", "r")
    arrays = predictor.predict_array(features.to_numpy())
    np.testing.assert_array_equal(arrays.predictions, model.predict(features.to_numpy()))
    assert arrays.probabilities is None
    assert predictor.output_columns[0] == "prediction"


def test_a_threshold_tuned_classifier_keeps_its_decision_rule() -> None:
    features, labels = breast_cancer()
    name = "sklearn.model_selection.FixedThresholdClassifier"
    inner = build_estimator("classification", LOGISTIC, {}, 0)
    model = build_estimator("classification", name, {"estimator": inner, "threshold": 0.95}, 0)
    model.fit(features, labels)
    predictor = Predictor(model, "classification", list(features.columns), "m", "1", "p", "r")
    arrays = predictor.predict_array(features.to_numpy())
    expected = model.predict(features.to_numpy())
    np.testing.assert_array_equal(arrays.predictions, expected)
    # An argmax of the probabilities would answer differently for some rows.
    assert (np.argmax(model.predict_proba(features.to_numpy()), axis=1) != expected).any()


def test_the_estimator_package_is_trusted_and_pinned() -> None:
    frame, labels = mixed_frame()
    model = build_estimator(
        "classification",
        "lightgbm.LGBMClassifier",
        {"n_estimators": 5, "verbosity": -1},
        0,
        kinds=FeatureKinds.of_frame(frame),
    ).fit(frame, labels)
    assert estimator_packages(model) == ["lightgbm"]
    trusted = trusted_types(model)
    assert "lightgbm.basic.Booster" in trusted
    loaded = skops.io.loads(skops.io.dumps(model), trusted=trusted)
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    requirements = pinned_requirements(model)
    assert any(line.startswith("lightgbm==") for line in requirements)
    assert any(line.startswith("scikit-learn==") for line in requirements)


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
    model = build_estimator("classification", LOGISTIC, {}, 0, select_k_best=10)
    model.fit(features, labels)
    trusted = trusted_types(model)
    assert all(name.startswith(("sklearn.", "numpy.")) for name in trusted)
    loaded = skops.io.loads(skops.io.dumps(model), trusted=trusted)
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def shift(values: np.ndarray) -> np.ndarray:
    return values + 1


def test_a_model_holding_foreign_code_is_refused() -> None:
    features, labels = breast_cancer()
    inner = build_estimator("classification", LOGISTIC, {}, 0)
    model = Pipeline([("shift", FunctionTransformer(shift)), ("model", inner)])
    model.fit(features, labels)
    with pytest.raises(ProjectError, match=r"cannot be trusted on load.*shift"):
        trusted_types(model)

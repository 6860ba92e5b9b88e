"""The model pipeline built from the contract's feature kinds, estimators named by import
path, predictions through the serving Predictor, the signature and the skops trust rule."""

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest
import skops.io
from mlflow.types import DataType
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from src.errors import ConfigError, ProjectError
from src.inference.api import score
from src.model.mlflow_manager import contract_signature, pinned_requirements, trusted_types
from src.model.predictor import Batcher, Predictor
from src.model.train import Task, build_model
from tests.training_data import AMOUNT, FLAG, PLAN, task_config, task_rows, task_view

LIGHTGBM = {"classification": "lightgbm.LGBMClassifier", "regression": "lightgbm.LGBMRegressor"}
SMALL_LIGHTGBM = {"n_estimators": 20, "verbosity": -1}


def with_estimator(task: Task, name: str, **params: object) -> Pipeline:
    config = task_config(task, model={"estimator": name, "params": params})
    return build_model(config, task_view(task))


def names(model: Pipeline) -> list[str]:
    return [name for name, _ in model.steps]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_pipeline_follows_the_feature_kinds_and_the_estimator(task: Task) -> None:
    view = task_view(task)
    linear = build_model(task_config(task), view)
    assert names(linear) == ["encode", "scale", "model"]
    encoder = linear.named_steps["encode"]
    assert [columns for _, _, columns in encoder.transformers][1] == view.categorical_features
    assert encoder.transformers[0][1] != "passthrough"  # nullable numbers are imputed
    trees = with_estimator(task, LIGHTGBM[task], **SMALL_LIGHTGBM)
    assert names(trees) == ["encode", "model"]  # no scaling for trees
    assert trees.named_steps["encode"].transformers[0][1] == "passthrough"  # it takes NaN
    assert trees.named_steps["model"].random_state == 42  # the seed reaches the estimator
    plain = [feature for feature in view.features if feature.is_numeric and not feature.nullable]
    selected = task_config(task, preprocessing={"select_k_best": 2})
    numeric = build_model(selected, view.model_copy(update={"features": plain}))
    assert names(numeric) == ["select", "scale", "model"]


@pytest.mark.parametrize(
    "estimator", ["sklearn.linear_model.LogisticRegression", LIGHTGBM["classification"]]
)
def test_categories_and_missing_values_are_handled_inside_the_model(estimator: str) -> None:
    features, labels = task_rows(task_view("classification"))
    assert features[[AMOUNT, PLAN, FLAG]].isna().any().all()
    params = SMALL_LIGHTGBM if estimator.startswith("lightgbm") else {}
    model = with_estimator("classification", estimator, **params).fit(features, labels)
    categories = frozenset(task_view("classification").categorical_features)
    predictor = Predictor(
        model, "classification", list(features.columns), "m", "1", "p", "r", categories
    )
    rows = features.head(5).copy()
    rows.loc[rows.index[0], PLAN] = "unheard-of"  # an unseen category gets an answer too
    arrays = predictor.predict_array(rows.to_numpy(dtype=object))
    np.testing.assert_array_equal(arrays.predictions, model.predict(rows))
    assert arrays.by_class is not None and arrays.by_class.shape == (5, 3)


def test_a_classifier_without_probabilities_is_served_its_classes_alone() -> None:
    """LinearSVC gives classes only (strings here): the API answers them, with no probability."""
    view = task_view("classification")
    features, labels = task_rows(view)
    model = with_estimator("classification", "sklearn.svm.LinearSVC")
    model.fit(features, labels.map(lambda label: f"class {label}"))
    categories = frozenset(view.categorical_features)
    predictor = Predictor(
        model, "classification", view.feature_names, "m", "1", "p", "r", categories
    )
    rows = features.head(3)
    named = [
        dict(zip(view.feature_names, row, strict=True)) for row in rows.itertuples(index=False)
    ]
    bodies = [SimpleNamespace(features=SimpleNamespace(**row), entity_id=None) for row in named]
    answers, _ = asyncio.run(score(Batcher(), predictor, view.feature_names, bodies))
    assert [answer["prediction"] for answer in answers] == model.predict(rows).tolist()
    assert {answer["probability"] for answer in answers} == {None}


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sklearn.svm.NoSuchModel", {}, "sklearn.svm has no estimator 'NoSuchModel'"),
        ("nolib.Model", {}, "module 'nolib' cannot be imported"),
        ("sklearn.linear_model.Ridge", {}, "is not a classifier"),
        ("sklearn.ensemble.RandomForestClassifier", {"trees": 3}, "invalid parameters for"),
    ],
)
def test_bad_estimator_settings_are_config_errors(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        with_estimator("classification", name, **params)


def test_the_signature_is_the_contract() -> None:
    view = task_view("classification")
    signature = contract_signature(view, np.array(["high", "low"]))
    inputs = {spec.name: spec for spec in signature.inputs.inputs}
    assert list(inputs) == view.feature_names
    kinds = (inputs[PLAN].type, inputs[FLAG].type, inputs[AMOUNT].type)
    assert kinds == (DataType.string, DataType.boolean, DataType.double)
    optional = {name for name, spec in inputs.items() if not spec.required}
    assert optional == set(view.nullable_features)


def test_only_the_estimators_packages_are_trusted_and_pinned() -> None:
    features, labels = task_rows(task_view("classification"))
    model = with_estimator("classification", LIGHTGBM["classification"], **SMALL_LIGHTGBM)
    model.fit(features, labels)
    trusted = trusted_types(model)
    assert "lightgbm.basic.Booster" in trusted
    assert {n.split(".")[0] for n in trusted} <= {"sklearn", "numpy", "lightgbm", "collections"}
    loaded = skops.io.loads(skops.io.dumps(model), trusted=trusted)
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    pins = {pin.split("==")[0] for pin in pinned_requirements(model)}
    assert {"lightgbm", "skops", "scikit-learn"} <= pins
    # A model holding code of its own (a project function) is refused when it is logged.
    foreign = Pipeline([("shift", FunctionTransformer(shift)), ("model", Ridge())])
    foreign.fit(features.select_dtypes("number").fillna(0), np.arange(len(labels)))
    with pytest.raises(ProjectError, match=r"cannot be trusted on load.*shift"):
        trusted_types(foreign)


def shift(values: np.ndarray) -> np.ndarray:
    return values + 1

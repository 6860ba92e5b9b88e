"""MLflow: experiments, runs, model logging, the registry's aliases (`staging`, `production`:
stages are deprecated) and model loading. Models are saved with skops, never pickle, trusting
only scikit-learn's, NumPy's and the estimator package's types, so a model file cannot run
arbitrary code. The signature is the feature contract (config/features.yaml)."""

import logging
import os
import tempfile
import warnings
from importlib.metadata import packages_distributions, version
from pathlib import Path
from typing import Any, cast

import mlflow
import mlflow.sklearn
import pandas as pd
import pyarrow.parquet as pq
import skops.io
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, DataType, Schema, TensorSpec
from sklearn.base import is_classifier

from src.data.feature_store import FeatureView
from src.data.sampling import sample_batches
from src.errors import ModelNotFoundError, ProjectError
from src.model.predictor import Predictor
from src.model.train import Task

REFERENCE_PATH = "reference/reference.parquet"
MODEL_CARD_FILE = "model_card.md"
# Tags of runs and versions: lineage, the gates' decision, and who moved `production` why.
TASK_TAG = "task"
GIT_COMMIT_TAG = "git_commit"
DATA_TABLE_TAG = "data_table"
DATA_SNAPSHOT_TAG = "data_snapshot_id"
DECISION_TAG = "decision"
DECISION_REASON_TAG = "decision_reason"
PROMOTED_BY_TAG = "production_moved_by"
# One version tag per holdout metric, `metric.<name>`: live monitoring compares against them.
METRIC_TAG_PREFIX = "metric."
# MLflow's SQL schema caps version descriptions; the whole model card stays a run artifact.
MAX_DESCRIPTION = 5000
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "collections.OrderedDict", "collections.defaultdict")
PINNED_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")
# A missing value makes a pandas integer column float: nullable int64 features are doubles.
SIGNATURE_TYPES = {
    "float64": DataType.double,
    "int64": DataType.long,
    "string": DataType.string,
    "bool": DataType.boolean,
}
# The schema is the contract's, not inferred; uv environments have no pip for conda.yaml.
warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
# MLflow gates loading scikit-learn models behind this variable; the project loads only skops
# files (load_version refuses others), so it allows them unless an operator says false.
DESERIALIZATION_VARIABLE = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


def estimator_packages(model: Any) -> list[str]:
    """Top-level packages of the estimators in `model` other than scikit-learn."""
    parts = [model, *model.get_params(deep=True).values()]
    packages = {type(p).__module__.split(".")[0] for p in parts if hasattr(p, "get_params")}
    return sorted(packages - {"sklearn"})


def trusted_types(model: Any) -> list[str]:
    """Types skops must trust to load `model`; any but the trusted packages' are refused."""
    prefixes = TRUSTED_PREFIXES + tuple(f"{name}." for name in estimator_packages(model))
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    if foreign := [name for name in untrusted if not name.startswith(prefixes)]:
        raise ProjectError(f"model holds types that cannot be trusted on load: {foreign}")
    return list(untrusted)


def pinned_requirements(model: Any) -> list[str]:
    """The serving requirements at their installed versions, the estimator's package too."""
    extra = [packages_distributions().get(name, [name])[0] for name in estimator_packages(model)]
    names = dict.fromkeys([*PINNED_PACKAGES, *extra])
    return [f"{name}=={version(name)}" for name in names]


def contract_signature(view: FeatureView, outputs: Any) -> ModelSignature:
    """The model's inputs as config/features.yaml types them (nullable ones optional)."""
    specs: list[ColSpec | TensorSpec] = [
        ColSpec(
            DataType.double if f.nullable and f.dtype == "int64" else SIGNATURE_TYPES[f.dtype],
            f.name,
            required=not f.nullable,
        )
        for f in view.features
    ]
    return ModelSignature(Schema(specs), infer_signature(model_output=outputs).outputs)


class MlflowManager:
    def __init__(
        self, tracking_uri: str, experiment_name: str, artifacts: str | None, packages: list[str]
    ) -> None:
        # A model's own MLmodel file lists the types skops may build: each must be allowed here,
        # those of scikit-learn, NumPy and `packages` (the estimator's and any it names).
        self.trusted = TRUSTED_PREFIXES + tuple(f"{name}." for name in packages)
        self.tracking_uri, self.experiment_name = tracking_uri, experiment_name
        self.artifact_location = artifacts
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.activate()

    def activate(self) -> None:
        """Point MLflow's process-wide fluent API at this store (another manager may not)."""
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        os.environ.setdefault(DESERIALIZATION_VARIABLE, "true")

    def get_or_create_experiment(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return self.client.create_experiment(self.experiment_name, self.artifact_location)
        if experiment.lifecycle_stage == "deleted":
            self.client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)

    def log_model(
        self, model: Any, view: FeatureView, example: pd.DataFrame, task: Task
    ) -> ModelInfo:
        """Log the model by skops with the contract's signature and pinned requirements."""
        info: ModelInfo = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=trusted_types(model),
            signature=contract_signature(view, model.predict(example.head(5))),
            input_example=example.head(2),
            pip_requirements=pinned_requirements(model),
            tags={TASK_TAG: task},
        )
        mlflow.set_tag(TASK_TAG, task)
        return info

    def log_reference(self, reference: pd.DataFrame) -> None:
        """Store the reference set drift checks compare against, next to the model."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder, Path(REFERENCE_PATH).name)
            reference.to_parquet(path, index=False)
            mlflow.log_artifact(str(path), artifact_path=str(Path(REFERENCE_PATH).parent))

    def load_reference(self, run_id: str, max_rows: int, seed: int) -> pd.DataFrame:
        """A seeded sample of at most `max_rows` rows of the run's reference set."""
        with tempfile.TemporaryDirectory() as folder:
            path = self.client.download_artifacts(run_id, REFERENCE_PATH, folder)
            batches = pq.ParquetFile(path).iter_batches()
            return cast(pd.DataFrame, sample_batches(batches, max_rows, seed).to_pandas())

    def set_version_tags(self, model_name: str, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model_name, version, key, value)

    def set_alias(self, model_name: str, alias: str, version: str | None) -> None:
        """Point `alias` at `version`, or remove it (None)."""
        if version is None:
            self.client.delete_registered_model_alias(model_name, alias)
        else:
            self.client.set_registered_model_alias(model_name, alias, version)

    def get_version(self, model_name: str, alias: str) -> ModelVersion | None:
        try:
            return self.client.get_model_version_by_alias(model_name, alias)
        except MlflowException as error:
            if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                return None
            raise

    def load_predictor(self, model_name: str, alias: str) -> Predictor:
        version = self.get_version(model_name, alias)
        if version is None:
            raise ModelNotFoundError(
                f"model {model_name!r} has no version with alias {alias!r}; "
                "train one with `make train-local`"
            )
        return self.load_version(model_name, version, alias)

    def load_version(self, model_name: str, version: ModelVersion, alias: str) -> Predictor:
        self.activate()
        uri = f"models:/{model_name}/{version.version}"
        info = Model.load(uri)  # its MLmodel file, whichever registry logged it
        serialization = info.flavors.get("sklearn", {}).get("serialization_format")
        if serialization != mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS:
            raise ProjectError(
                f"{uri} is saved as {serialization or 'no scikit-learn model'}, not skops: "
                "the project never loads pickled models"
            )
        listed = info.flavors["sklearn"].get("skops_trusted_types", [])
        if foreign := [name for name in listed if not name.startswith(self.trusted)]:
            raise ProjectError(f"{uri} asks to trust types outside the allowlist: {foreign}")
        if info.signature is None or info.signature.inputs is None:
            raise ProjectError(f"{uri} was logged without a signature")
        inputs = info.signature.inputs.inputs
        texts = (DataType.string, DataType.boolean)
        estimator = mlflow.sklearn.load_model(uri)
        return Predictor(
            estimator=estimator,
            task="classification" if is_classifier(estimator) else "regression",
            feature_names=[str(spec.name) for spec in inputs],
            categorical=frozenset(str(spec.name) for spec in inputs if spec.type in texts),
            model_name=model_name,
            version=str(version.version),
            alias=alias,
            run_id=str(version.run_id),
        )

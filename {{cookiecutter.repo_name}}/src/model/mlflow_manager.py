"""MLflow: experiments, runs, model logging, the registry, its aliases and model loading.

The registry's lifecycle uses aliases, `staging` and `production` (MLflow's stages are
deprecated). Models are saved with skops, never pickle: only scikit-learn's and NumPy's
own types are trusted on load, so a model file cannot run arbitrary code.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
import skops.io
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from sklearn.base import BaseEstimator

from src.errors import ModelNotFoundError, ProjectError
from src.model.config import Task, parse_task
from src.model.predictor import Predictor

STAGING_ALIAS = "staging"
PRODUCTION_ALIAS = "production"
MODEL_ARTIFACT = "model"
REFERENCE_ARTIFACT_DIR = "reference"
REFERENCE_FILE = "reference.parquet"
TASK_TAG = "task"

TRUSTED_TYPE_PREFIXES = ("sklearn.", "numpy.")
PINNED_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")


def trusted_types(model: BaseEstimator) -> list[str]:
    """Types skops must trust to load `model`; anything outside sklearn/numpy is refused."""
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_TYPE_PREFIXES)]
    if foreign:
        raise ProjectError(f"model holds types that cannot be trusted on load: {foreign}")
    return list(untrusted)


def pinned_requirements() -> list[str]:
    return [f"{name}=={package_version(name)}" for name in PINNED_PACKAGES]


class MlflowManager:
    def __init__(
        self, tracking_uri: str, experiment_name: str, artifact_location: str | None = None
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def get_or_create_experiment(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                self.client.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        return str(
            self.client.create_experiment(
                self.experiment_name, artifact_location=self.artifact_location
            )
        )

    @contextmanager
    def start_run(
        self, run_name: str, tags: dict[str, str] | None = None, nested: bool = False
    ) -> Iterator[Run]:
        experiment_id = self.get_or_create_experiment()
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=run_name, tags=tags, nested=nested
        ) as run:
            yield run

    def log_model(self, model: BaseEstimator, features: pd.DataFrame, task: Task) -> str:
        """Log the model with signature, input example and pinned requirements; returns its URI."""
        signature: ModelSignature = infer_signature(features, model.predict(features.head(5)))
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_ARTIFACT,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=trusted_types(model),
            signature=signature,
            input_example=features.head(2),
            pip_requirements=pinned_requirements(),
            tags={TASK_TAG: task},
        )
        mlflow.set_tag(TASK_TAG, task)
        return str(info.model_uri)

    def log_reference(self, reference: pd.DataFrame) -> None:
        """Store the reference set drift checks compare against, next to the model."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / REFERENCE_FILE
            reference.to_parquet(path, index=False)
            mlflow.log_artifact(str(path), artifact_path=REFERENCE_ARTIFACT_DIR)

    def register(
        self, model_uri: str, model_name: str, run_id: str, tags: dict[str, str], description: str
    ) -> ModelVersion:
        try:
            self.client.create_registered_model(model_name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(
            model_name, source=model_uri, run_id=run_id, tags=tags, description=description
        )
        return version

    def set_version_tags(self, model_name: str, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model_name, version, key, str(value))

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
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
        uri = f"models:/{model_name}/{version.version}"
        info = mlflow.models.get_model_info(uri)
        if info.signature is None or info.signature.inputs is None:
            raise ProjectError(f"{uri} was logged without a signature")
        estimator = mlflow.sklearn.load_model(uri)
        run = self.client.get_run(version.run_id) if version.run_id else None
        if run is None or TASK_TAG not in run.data.tags:
            raise ProjectError(f"{uri} has no run with a {TASK_TAG!r} tag")
        return Predictor(
            estimator=estimator,
            task=parse_task(run.data.tags[TASK_TAG]),
            feature_names=list(info.signature.inputs.input_names()),
            model_name=model_name,
            version=str(version.version),
            alias=alias,
            run_id=str(version.run_id or ""),
        )

    def load_reference(self, run_id: str) -> pd.DataFrame:
        with tempfile.TemporaryDirectory() as folder:
            path = self.client.download_artifacts(
                run_id, f"{REFERENCE_ARTIFACT_DIR}/{REFERENCE_FILE}", folder
            )
            return pd.read_parquet(path)

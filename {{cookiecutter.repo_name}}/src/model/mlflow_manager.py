"""MLflow: experiments, runs, model logging, the registry, its aliases and model loading.

The registry's lifecycle uses aliases, `staging` and `production` (MLflow's stages are
deprecated). Models are saved with skops, never pickle: only the types of scikit-learn,
NumPy and the package of the configured estimator (LightGBM, XGBoost...) are trusted on
load, so a model file cannot run arbitrary code. The model's requirements pin the same
packages at their installed versions.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import packages_distributions
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.sklearn
import pandas as pd
import pyarrow.parquet as pq
import skops.io
from mlflow import MlflowClient
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.pandas_dataset import from_pandas
from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, DataType, Schema, TensorSpec
from sklearn.base import BaseEstimator

from src.data.sampling import sample_batches
from src.errors import ModelNotFoundError, ProjectError
from src.model.config import Task, parse_task
from src.model.predictor import Predictor
from src.names import PRODUCTION_ALIAS as PRODUCTION_ALIAS
from src.names import STAGING_ALIAS as STAGING_ALIAS

if TYPE_CHECKING:
    # Only the training run draws pictures; serving never imports matplotlib.
    from matplotlib.figure import Figure

MODEL_ARTIFACT = "model"
REFERENCE_ARTIFACT_DIR = "reference"
REFERENCE_FILE = "reference.parquet"
MODEL_CARD_FILE = "model_card.md"

# Tags on runs and registered versions: lineage and the promotion decision.
TASK_TAG = "task"
GIT_COMMIT_TAG = "git_commit"
DATA_TABLE_TAG = "data_table"
DATA_SNAPSHOT_TAG = "data_snapshot_id"
DECISION_TAG = "decision"
DECISION_REASON_TAG = "decision_reason"
# One version tag per holdout metric, `metric.<name>`: live monitoring compares against them.
METRIC_TAG_PREFIX = "metric."
# The values of DECISION_TAG: where the version ended up.
PRODUCTION_DECISION = PRODUCTION_ALIAS
STAGING_DECISION = STAGING_ALIAS
REJECTED_DECISION = "rejected"
# Registered model version descriptions hold at most 5000 characters (MLflow's SQL schema).
MAX_DESCRIPTION = 5000

TRUSTED_TYPE_PREFIXES = ("sklearn.", "numpy.")
# Plain containers that estimator packages keep in their state (LightGBM's parameters).
TRUSTED_CONTAINERS = frozenset({"collections.OrderedDict", "collections.defaultdict"})


# MLflow gates loading every scikit-learn format, skops included, behind this variable,
# whose default (true in MLflow 3.17) may change. The project loads only skops files, whose
# trusted types registration checked (trusted_types), from its own registry, and refuses
# any other format itself (load_version); it allows the load explicitly rather than
# relying on the default. An operator who sets the variable to false keeps that choice.
DESERIALIZATION_VARIABLE = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"


def fit_description(description: str) -> str:
    """A version description the registry accepts; the full card stays a run artifact."""
    if len(description) <= MAX_DESCRIPTION:
        return description
    note = "\n\n(truncated; the full model card is the run's model_card.md artifact)"
    return description[: MAX_DESCRIPTION - len(note)] + note


PINNED_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")


def estimator_packages(model: BaseEstimator) -> list[str]:
    """Top-level packages of the estimators in `model` other than scikit-learn (`lightgbm`
    for an LGBMClassifier, also inside a pipeline or a threshold tuner)."""
    parts: list[Any] = [model, *model.get_params(deep=True).values()]
    packages = {
        type(part).__module__.split(".", 1)[0]
        for part in parts
        if hasattr(part, "fit") and hasattr(part, "get_params")
    }
    return sorted(packages - {"sklearn"})


def trusted_types(model: BaseEstimator) -> list[str]:
    """Types skops must trust to load `model`: those of scikit-learn, NumPy and the
    estimator's own package; anything else (a project function, another library) is refused."""
    prefixes = TRUSTED_TYPE_PREFIXES + tuple(f"{name}." for name in estimator_packages(model))
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [
        name
        for name in untrusted
        if not name.startswith(prefixes) and name not in TRUSTED_CONTAINERS
    ]
    if foreign:
        raise ProjectError(f"model holds types that cannot be trusted on load: {foreign}")
    return list(untrusted)


def dataset_source(uri: str) -> DatasetSource:
    """MLflow's source for a dataset URI (file://, s3://, ...); for a scheme MLflow has no
    source type for, the logging code, with the URI kept as a tag."""
    try:
        with warnings.catch_warnings():
            # file:// matches MLflow's local source under two registered schemes; same class.
            warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
            source: DatasetSource = resolve_dataset_source(uri)
    except MlflowException:
        source = CodeDatasetSource(tags={"uri": uri})
    return source


@contextmanager
def quiet_model_logging() -> Iterator[None]:
    """Silence two MLflow messages that do not apply here: uv environments have no pip to
    write into conda.yaml (requirements are pinned instead), and class labels are integers
    on purpose."""
    logger = logging.getLogger("mlflow.utils.environment")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
            yield
    finally:
        logger.setLevel(level)


def distribution_of(package: str) -> str:
    """The installed distribution that provides an importable package (sklearn: scikit-learn)."""
    return packages_distributions().get(package, [package])[0]


def pinned_requirements(model: BaseEstimator | None = None) -> list[str]:
    """The serving requirements at their installed versions, the estimator's package too."""
    extra = [distribution_of(name) for name in estimator_packages(model)] if model else []
    names = [*PINNED_PACKAGES, *(name for name in extra if name not in PINNED_PACKAGES)]
    return [f"{name}=={package_version(name)}" for name in names]


def typed_inputs(schema: Schema, types: Collection[DataType]) -> frozenset[str]:
    """Names of the signature's inputs of the given types."""
    return frozenset(str(spec.name) for spec in schema.inputs if spec.type in types)


def optional_inputs(schema: Schema) -> frozenset[str]:
    return frozenset(str(spec.name) for spec in schema.inputs if not spec.required)


def mark_optional(signature: ModelSignature, nullable: Collection[str]) -> ModelSignature:
    """The signature with the nullable features as optional inputs (null allowed)."""
    if not nullable or signature.inputs is None:
        return signature
    columns: list[ColSpec | TensorSpec] = [
        ColSpec(spec.type, spec.name, required=spec.name not in nullable)
        for spec in signature.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(columns), outputs=signature.outputs)


class MlflowManager:
    def __init__(
        self, tracking_uri: str, experiment_name: str, artifact_location: str | None = None
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.activate()

    def activate(self) -> None:
        """Point MLflow's process-wide fluent API at this manager's store: another manager
        in the same process (a second project context, a test) may have moved it."""
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        os.environ.setdefault(DESERIALIZATION_VARIABLE, "true")

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
        self.activate()
        experiment_id = self.get_or_create_experiment()
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=run_name, tags=tags, nested=nested
        ) as run:
            yield run

    @contextmanager
    def start_child_run(self, run_name: str, tags: dict[str, str] | None = None) -> Iterator[Run]:
        """A run nested under the active one, in the same experiment (the UI groups them)."""
        parent = mlflow.active_run()
        if parent is None:
            raise ProjectError(f"child run {run_name!r} needs an active parent run")
        with mlflow.start_run(
            experiment_id=parent.info.experiment_id, run_name=run_name, tags=tags, nested=True
        ) as run:
            yield run

    def log_dataset(
        self,
        frame: pd.DataFrame,
        name: str,
        context: str,
        source_uri: str,
        targets: str | None = None,
        predictions: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Record a dataset the active run used: schema, profile, digest and where it came from
        (the run's Datasets panel in the UI). The rows themselves are not copied."""
        with warnings.catch_warnings():
            # The hint about integer columns concerns model signatures, not dataset records.
            warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
            dataset = from_pandas(
                frame,
                source=dataset_source(source_uri),
                targets=targets,
                name=name,
                predictions=predictions,
            )
            mlflow.log_input(dataset, context=context, tags=tags)

    def log_batch(
        self,
        run_id: str,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        step_metrics: Mapping[str, Sequence[float]] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Log everything about a run in one request (a trial's run costs one round trip)."""
        now = int(time.time() * 1000)
        entries = [Metric(key, float(value), now, 0) for key, value in (metrics or {}).items()]
        entries += [
            Metric(key, float(value), now, step)
            for key, values in (step_metrics or {}).items()
            for step, value in enumerate(values)
        ]
        self.client.log_batch(
            run_id,
            metrics=entries,
            params=[Param(key, str(value)) for key, value in (params or {}).items()],
            tags=[RunTag(key, value) for key, value in (tags or {}).items()],
        )

    def log_figure(self, figure: Figure, artifact_file: str) -> None:
        mlflow.log_figure(figure, artifact_file)

    def log_model(
        self,
        model: BaseEstimator,
        features: pd.DataFrame,
        task: Task,
        nullable: Collection[str] = (),
    ) -> ModelInfo:
        """Log the model with signature (nullable features optional), input example and
        pinned requirements."""
        with quiet_model_logging():
            signature = mark_optional(
                infer_signature(features, model.predict(features.head(5))), nullable
            )
            info: ModelInfo = mlflow.sklearn.log_model(
                model,
                name=MODEL_ARTIFACT,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                skops_trusted_types=trusted_types(model),
                signature=signature,
                input_example=features.head(2),
                pip_requirements=pinned_requirements(model),
                tags={TASK_TAG: task},
            )
        mlflow.set_tag(TASK_TAG, task)
        return info

    def log_reference(self, reference: pd.DataFrame) -> None:
        """Store the reference set drift checks compare against, next to the model."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / REFERENCE_FILE
            reference.to_parquet(path, index=False)
            mlflow.log_artifact(str(path), artifact_path=REFERENCE_ARTIFACT_DIR)

    def register(
        self,
        model: ModelInfo,
        model_name: str,
        run_id: str,
        tags: dict[str, str],
        description: str,
    ) -> ModelVersion:
        try:
            self.client.create_registered_model(model_name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        # A tracking server only accepts a models:/ source together with its model id.
        return self.client.create_model_version(
            model_name,
            source=model.model_uri,
            run_id=run_id,
            tags=tags,
            description=fit_description(description),
            model_id=model.model_id,
        )

    def set_version_tags(self, model_name: str, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(model_name, version, key, str(value))

    def set_description(self, model_name: str, version: str, description: str) -> None:
        self.client.update_model_version(
            model_name, version, description=fit_description(description)
        )

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(model_name, alias, version)

    def restore_alias(self, model_name: str, alias: str, version: ModelVersion | None) -> None:
        """Point `alias` back at `version`, or remove it when there was none."""
        if version is None:
            self.client.delete_registered_model_alias(model_name, alias)
        else:
            self.set_alias(model_name, alias, str(version.version))

    def get_version_by_number(self, model_name: str, version: str) -> ModelVersion:
        return self.client.get_model_version(model_name, version)

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
        info = mlflow.models.get_model_info(uri)
        if info.signature is None or info.signature.inputs is None:
            raise ProjectError(f"{uri} was logged without a signature")
        serialization = info.flavors.get(mlflow.sklearn.FLAVOR_NAME, {}).get("serialization_format")
        if serialization != mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS:
            raise ProjectError(
                f"{uri} is saved as {serialization or 'no scikit-learn model'}, not skops: "
                "the project never loads pickled models"
            )
        estimator = mlflow.sklearn.load_model(uri)
        run = self.client.get_run(version.run_id) if version.run_id else None
        if run is None or TASK_TAG not in run.data.tags:
            raise ProjectError(f"{uri} has no run with a {TASK_TAG!r} tag")
        inputs = info.signature.inputs
        return Predictor(
            estimator=estimator,
            task=parse_task(run.data.tags[TASK_TAG]),
            feature_names=[str(name) for name in inputs.input_names()],
            categorical=typed_inputs(inputs, (DataType.string, DataType.boolean)),
            boolean=typed_inputs(inputs, (DataType.boolean,)),
            nullable=optional_inputs(inputs),
            model_name=model_name,
            version=str(version.version),
            alias=alias,
            run_id=str(version.run_id or ""),
        )

    def load_reference(
        self, run_id: str, max_rows: int | None = None, seed: int = 0
    ) -> pd.DataFrame:
        """The run's reference set; with `max_rows`, a seeded sample of at most that many
        rows (references logged before their size was bounded can be large)."""
        with tempfile.TemporaryDirectory() as folder:
            path = self.client.download_artifacts(
                run_id, f"{REFERENCE_ARTIFACT_DIR}/{REFERENCE_FILE}", folder
            )
            if max_rows is None:
                return pd.read_parquet(path)
            batches = pq.ParquetFile(path).iter_batches()
            frame: pd.DataFrame = sample_batches(batches, max_rows, seed).to_pandas()
            return frame

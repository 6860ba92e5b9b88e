"""Step 6, promotion: `staging` behind the baseline gate and an integration check, then
`production` behind the production gate. MLflow has no conditional alias update, so every move
of `production` decides and moves under the promotion lock (`move_production`), recorded."""

import hashlib
import json
import tempfile
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from timeit import timeit

import mlflow
import numpy as np
import pandas as pd
import pyarrow.fs as pafs
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from sklearn.pipeline import Pipeline

from src.data.aws_integration import upload_file
from src.errors import ProjectError
from src.model.mlflow_manager import (
    DECISION_REASON_TAG,
    DECISION_TAG,
    PROMOTED_BY_TAG,
    REFERENCE_PATH,
    TASK_TAG,
    MlflowManager,
)
from src.model.predictor import Predictor
from src.model.train import TrainingConfig, higher_is_better, score
from src.names import PRODUCTION_ALIAS, PROMOTION_LEASE, STAGING_ALIAS, release_key
from src.pipelines.DS.training_pipeline.dataset import DatasetSplit
from src.pipelines.DS.training_pipeline.evaluation import Evaluation

REJECTED = "rejected"
# Tag of a version that passed both gates under `train --stage-only`: what `promote` accepts.
AWAITING_PRODUCTION_TAG = "awaiting_production"
# A model released from one registry to another (the CD: staging's to production's) is the
# same files under the same digest: its identity, a tag of its version in each registry.
ARTIFACT_DIGEST_TAG = "artifact_digest"
RELEASE_FILE = "release.json"
# ProjectContext.guard: holds a lock (PROMOTION_LEASE) by name and scope.
LeaseGuard = Callable[[str, str], AbstractContextManager[object]]
# Sees the current production under the lock: why `production` moves, or None to leave it.
Vet = Callable[[ModelVersion | None], str | None]


def unguarded(name: str, scope: str) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class Gate:
    """The candidate's `metric` beats a reference's by `min_improvement`, in its direction."""

    metric: str
    min_improvement: float
    higher_is_better: bool

    def check(
        self, candidate: Mapping[str, float], reference: Mapping[str, float], name: str
    ) -> tuple[bool, str]:
        gain = candidate[self.metric] - reference[self.metric]
        gain = gain if self.higher_is_better else -gain
        passed = gain >= self.min_improvement
        verdict = f"{'meeting' if passed else 'less than'} the required {self.min_improvement}"
        return passed, f"{self.metric} {gain:+.4f} against {name}, {verdict}"


@dataclass(frozen=True)
class Production:
    """The production model scored on the candidate's holdout (metrics None: it cannot be)."""

    version: str
    metrics: dict[str, float] | None
    unavailable: str = ""


@dataclass(frozen=True)
class PromotionDecision:
    state: str  # rejected, staging or production: where the version ended up
    reason: str
    production: Production | None = None
    held: bool = False  # passed both gates under `train --stage-only`: a deployment promotes
    latency_ms: dict[str, float] = field(default_factory=dict)  # informational only

    @property
    def staged(self) -> bool:
        return self.state != REJECTED

    @property
    def promoted(self) -> bool:
        return self.state == PRODUCTION_ALIAS


def decide(
    evaluation: Evaluation, production: Production | None, config: TrainingConfig
) -> PromotionDecision:
    """`staging` needs the baseline beaten, `production` the current production (if any)."""
    rules, higher = config.promotion, higher_is_better(config.task, config.promotion.gate_metric)
    to_staging = Gate(rules.gate_metric, rules.min_improvement_over_baseline, higher)
    passed, reason = to_staging.check(evaluation.candidate, evaluation.baseline, "the baseline")
    if not passed:
        return PromotionDecision(REJECTED, reason)
    for metric in rules.required_holdout_scores:  # each a gate against a fixed score
        floor = Gate(metric, 0.0, higher_is_better(config.task, metric))
        met, why = floor.check(evaluation.candidate, rules.required_holdout_scores, "its floor")
        if not met:
            return PromotionDecision(REJECTED, f"{reason}; but {why}")
    if production is None:
        return PromotionDecision(PRODUCTION_ALIAS, f"{reason}; no production model yet")
    versus, passed = production.unavailable, False
    if production.metrics is not None:
        to_production = Gate(rules.gate_metric, rules.min_improvement_over_production, higher)
        name = f"production v{production.version}"
        passed, versus = to_production.check(evaluation.candidate, production.metrics, name)
    if not passed:
        untouched = f"{reason}; {versus}; production left untouched"
        return PromotionDecision(STAGING_ALIAS, untouched, production)
    return PromotionDecision(PRODUCTION_ALIAS, f"{reason}; {versus}", production)


def score_production(
    production: Predictor, split: DatasetSplit, config: TrainingConfig
) -> Production:
    if missing := [name for name in production.feature_names if name not in split.x_test]:
        why = f"production v{production.version} needs features the holdout lacks: {missing}"
        return Production(production.version, None, why)
    features = split.x_test[production.feature_names]
    metrics = score(config.task, production.estimator, features, split.y_test)
    return Production(production.version, metrics)


def move_production(
    manager: MlflowManager, model_name: str, version: str, actor: str, guard: LeaseGuard, vet: Vet
) -> str | None:
    """A compare-and-set: `production` to `version` (unless it holds it) if `vet` says why;
    returns the version it held."""
    with guard(PROMOTION_LEASE, model_name):
        current = manager.get_version(model_name, PRODUCTION_ALIAS)
        held = None if current is None else str(current.version)
        if held != version and (reason := vet(current)) is not None:
            manager.set_alias(model_name, PRODUCTION_ALIAS, version)
            moved = f"{actor} at {datetime.now(UTC).isoformat(timespec='seconds')}"
            tags = {DECISION_TAG: PRODUCTION_ALIAS, DECISION_REASON_TAG: reason}
            tags |= {PROMOTED_BY_TAG: moved, AWAITING_PRODUCTION_TAG: "false"}
            manager.set_version_tags(model_name, version, tags)
    return held


def promote_staged_version(
    manager: MlflowManager,
    model_name: str,
    version: str,
    guard: LeaseGuard = unguarded,
    actor: str = "promote",
) -> str | None:
    """`production` to the staged, gated `version` (see gated_version)."""

    def vet(current: ModelVersion | None) -> str:
        gated_version(manager, model_name, version)
        return "promoted from staging by a deployment"

    return move_production(manager, model_name, version, actor, guard, vet)


def gated_version(manager: MlflowManager, model_name: str, version: str) -> ModelVersion:
    """`version` if `staging` still holds it (a model staged meanwhile never moves on unseen)
    and it passed the production gate under `train --stage-only`."""
    staged = manager.get_version(model_name, STAGING_ALIAS)
    if staged is None or str(staged.version) != version:
        where = f"v{staged.version}" if staged else "no version"
        raise ProjectError(
            f"{STAGING_ALIAS!r} points at {where}, not v{version}; promote the version "
            "the staging service was tested with"
        )
    if staged.tags.get(AWAITING_PRODUCTION_TAG) != "true":
        reason = staged.tags.get(DECISION_REASON_TAG, "no decision recorded")
        raise ProjectError(f"v{version} did not pass the production gate: {reason}")
    return staged


def folder_digest(folder: Path) -> str:
    """sha256 of every file's path (relative) and content, in path order."""
    digest = hashlib.sha256()
    for path in sorted(path for path in folder.rglob("*") if path.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"sha256:{digest.hexdigest()}"


def export_release(
    manager: MlflowManager, model_name: str, version: str, store: pafs.FileSystem
) -> tuple[str, str]:
    """The staged, gated `version` (model, reference set, task) copied to the object store
    under its digest, for another environment's registry; returns (digest, key)."""
    run = manager.client.get_run(str(gated_version(manager, model_name, version).run_id))
    with tempfile.TemporaryDirectory() as folder:
        # The layout training leaves: model/ and the reference set at REFERENCE_PATH.
        model = Path(folder, "model")
        model.mkdir()
        mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}", dst_path=str(model))
        manager.client.download_artifacts(run.info.run_id, Path(REFERENCE_PATH).parent.name, folder)
        source = {TASK_TAG: run.data.tags[TASK_TAG], "version": version, "run_id": run.info.run_id}
        Path(folder, RELEASE_FILE).write_text(json.dumps(source, sort_keys=True))
        digest = folder_digest(Path(folder))
        key = release_key(model_name, digest)
        upload_file(store, Path(folder), key)
    return digest, key


def register_release(
    manager: MlflowManager, model_name: str, store: pafs.FileSystem, key: str, digest: str
) -> str:
    """This registry's version of the release `digest`: registered from `key` of `store` the
    first time, once its files match the digest."""
    query = f"name = '{model_name}' and tags.{ARTIFACT_DIGEST_TAG} = '{digest}'"
    if found := manager.client.search_model_versions(query):
        return str(found[0].version)
    with tempfile.TemporaryDirectory() as folder:
        pafs.copy_files(key, folder, store, pafs.LocalFileSystem())
        if (actual := folder_digest(Path(folder))) != digest:
            raise ProjectError(f"{key} holds {actual}, not the release {digest}: not registered")
        source = json.loads(Path(folder, RELEASE_FILE).read_text())
        manager.activate()
        experiment = manager.get_or_create_experiment()
        with mlflow.start_run(experiment_id=experiment, run_name="release") as run:
            mlflow.set_tags({TASK_TAG: source[TASK_TAG], ARTIFACT_DIGEST_TAG: digest})
            mlflow.log_artifacts(folder)
    reason = f"released from v{source['version']} of the registry that tested it"
    tags = {ARTIFACT_DIGEST_TAG: digest, DECISION_REASON_TAG: reason}
    registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name, tags=tags)
    return str(registered.version)


def promote_release(
    manager: MlflowManager, model_name: str, store: pafs.FileSystem, key: str, digest: str,
    guard: LeaseGuard = unguarded, actor: str = "promote",
) -> tuple[str, str | None]:  # fmt: skip
    """`production` to the release `digest` (see register_release); returns (the version it
    is here, the version it replaced)."""
    version = register_release(manager, model_name, store, key, digest)

    def vet(current: ModelVersion | None) -> str:
        return f"the release {digest}, promoted by a deployment"

    return version, move_production(manager, model_name, version, actor, guard, vet)


def rollback_production(
    manager: MlflowManager, model_name: str, version: str, guard: LeaseGuard, actor: str
) -> str | None:
    """`production` back to an earlier version (incident response); returns the one replaced."""

    def vet(current: ModelVersion | None) -> str:
        try:
            manager.client.get_model_version(model_name, version)
        except MlflowException as error:
            raise ProjectError(f"model {model_name!r} has no version {version!r}") from error
        return f"rolled back from v{current.version}" if current else "rolled back"

    return move_production(manager, model_name, version, actor, guard, vet)


def promote_to_production(
    manager: MlflowManager,
    model_name: str,
    version: str,
    evaluation: Evaluation,
    scorer: Callable[[Predictor], Production],
    config: TrainingConfig,
    guard: LeaseGuard,
    stage_only: bool = False,
    actor: str = "training",
) -> PromotionDecision:
    """The gates against production as it is under the lock, scored by `scorer`."""
    decision = decide(evaluation, None, config)

    def vet(current: ModelVersion | None) -> str | None:
        nonlocal decision
        loaded = manager.load_version(model_name, current, PRODUCTION_ALIAS) if current else None
        decision = decide(evaluation, scorer(loaded) if loaded else None, config)
        if decision.promoted and stage_only:
            reason = f"{decision.reason}; production awaits the deployment"
            decision = replace(decision, state=STAGING_ALIAS, held=True, reason=reason)
        return decision.reason if decision.promoted else None

    move_production(manager, model_name, version, actor, guard, vet)
    return decision


def measure_latency(staged: Predictor, sample: pd.DataFrame) -> dict[str, float]:
    """Single-row latency: logged, never deciding (on a shared machine it measures the load)."""
    rows = [sample.iloc[[position]] for position in range(len(sample))]
    timings = [timeit(partial(staged.predict_frame, row), number=1) * 1000 for row in rows]
    p50, p95 = np.percentile(timings, [50, 95])
    return {"p50": float(p50), "p95": float(p95)}


def promote_candidate(
    manager: MlflowManager,
    model_name: str,
    version: str,
    candidate: Pipeline,
    evaluation: Evaluation,
    split: DatasetSplit,
    config: TrainingConfig,
    guard: LeaseGuard,
    stage_only: bool,
    actor: str,
) -> PromotionDecision:
    """`staging` if the baseline gate passes and the model loaded back by that alias predicts
    as the candidate does (else `staging` is put back), then `production`; recorded."""
    decision = decide(evaluation, None, config)
    if decision.staged:
        previous = manager.get_version(model_name, STAGING_ALIAS)
        manager.set_alias(model_name, STAGING_ALIAS, version)
        staged = manager.load_predictor(model_name, STAGING_ALIAS)
        sample = split.x_test.head(config.integration.sample_rows)
        expected = replace(staged, estimator=candidate).predict_frame(sample)
        if staged.predict_frame(sample).equals(expected):
            scorer = partial(score_production, split=split, config=config)
            decision = promote_to_production(
                manager, model_name, version, evaluation, scorer, config, guard, stage_only, actor
            )
        else:
            back = str(previous.version) if previous else None
            manager.set_alias(model_name, STAGING_ALIAS, back)
            reason = "integration checks on staging failed: the staged model predicts differently"
            decision = PromotionDecision(REJECTED, f"{reason} from the trained candidate")
        decision = replace(decision, latency_ms=measure_latency(staged, sample))
    tags = {DECISION_TAG: decision.state, DECISION_REASON_TAG: decision.reason}
    if decision.held:
        tags[AWAITING_PRODUCTION_TAG] = "true"
    manager.set_version_tags(model_name, version, tags)
    mlflow.set_tags(tags)
    mlflow.log_metrics({f"integration_latency_ms_{k}": v for k, v in decision.latency_ms.items()})
    if decision.production and decision.production.metrics:
        mlflow.log_metrics({f"production_{k}": v for k, v in decision.production.metrics.items()})
    return decision

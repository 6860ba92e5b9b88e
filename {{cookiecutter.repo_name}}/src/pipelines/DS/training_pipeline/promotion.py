"""Step 6: `staging` behind the baseline gate, integration checks against the staged model,
then `production` behind the production gate. Every outcome is tagged with its reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from src.data.predictions import PREDICTION
from src.errors import ProjectError
from src.model.config import TrainingConfig
from src.model.mlflow_manager import (
    DECISION_REASON_TAG,
    DECISION_TAG,
    MODEL_CARD_FILE,
    PRODUCTION_ALIAS,
    PRODUCTION_DECISION,
    REJECTED_DECISION,
    STAGING_ALIAS,
    STAGING_DECISION,
    MlflowManager,
)
from src.model.predictor import Predictor
from src.names import PROMOTION_LEASE
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.registration import Registration

LATENCY_PERCENTILE = 95
# Version tag of a model that passed both gates under `train --stage-only`: the one mark
# `promote` accepts.
AWAITING_PRODUCTION_TAG = "awaiting_production"
# Each retry follows another promotion that landed meanwhile; more means something loops.
MAX_PROMOTION_ATTEMPTS = 5

# Scores a production model on the candidate's holdout: (metrics, or why it cannot be).
ProductionScorer = Callable[[Predictor], tuple[dict[str, float] | None, str | None]]

# Moves of `production` take the PROMOTION_LEASE lock (src.data.aws_integration.hold_lock).
LeaseGuard = Callable[[str, str], AbstractContextManager[object]]


def unguarded(name: str, scope: str) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class IntegrationReport:
    """What the model loaded back by the `staging` alias did on a holdout sample."""

    rows: int
    p95_latency_ms: float
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class PromotionDecision:
    staged: bool
    promoted: bool
    reason: str
    integration: IntegrationReport | None = None
    # Passed the production gate, held at `staging` for a deployment to promote.
    held: bool = False

    @property
    def state(self) -> str:
        if self.promoted:
            return PRODUCTION_DECISION
        return STAGING_DECISION if self.staged else REJECTED_DECISION


def decide_promotion(evaluation: Evaluation, config: TrainingConfig) -> PromotionDecision:
    """What the two gates say about the candidate's holdout metrics."""
    gates = config.promotion
    metric = gates.gate_metric
    over_baseline = evaluation.gain_over_baseline()
    if over_baseline < gates.min_improvement_over_baseline:
        return PromotionDecision(
            staged=False,
            promoted=False,
            reason=(
                f"{metric} beats the baseline by {over_baseline:.4f}, "
                f"less than the required {gates.min_improvement_over_baseline}"
            ),
        )
    if evaluation.production_unavailable:
        return PromotionDecision(
            True, False, f"{evaluation.production_unavailable}; production left untouched"
        )
    over_production = evaluation.gain_over_production()
    if over_production is None:
        return PromotionDecision(True, True, "no production model yet; the first passing model")
    if over_production < gates.min_improvement_over_production:
        return PromotionDecision(
            staged=True,
            promoted=False,
            reason=(
                f"{metric} changes by {over_production:+.4f} against production "
                f"v{evaluation.production_version}, less than the required "
                f"{gates.min_improvement_over_production}; production left untouched"
            ),
        )
    return PromotionDecision(
        True,
        True,
        f"{metric} changes by {over_production:+.4f} against production "
        f"v{evaluation.production_version}, meeting the required "
        f"{gates.min_improvement_over_production}",
    )


def hold_production(decision: PromotionDecision) -> PromotionDecision:
    """Stop at `staging`: a deployment promotes the model once its staging service passed."""
    if not decision.promoted:
        return decision
    return replace(
        decision,
        promoted=False,
        held=True,
        reason=f"{decision.reason}; production awaits the deployment",
    )


def promote_staged_version(
    manager: MlflowManager, model_name: str, version: str, guard: LeaseGuard = unguarded
) -> str | None:
    """Point `production` at `version`, held at `staging` by `train --stage-only`.

    Returns the version it replaced, or `version` itself when it already was in production.
    The deployment names the version its staging service was tested with, so a model staged
    meanwhile is never promoted unseen, and one that failed the production gate never is.
    """
    with guard(PROMOTION_LEASE, model_name):
        return _promote_staged_version(manager, model_name, version)


def _promote_staged_version(manager: MlflowManager, model_name: str, version: str) -> str | None:
    staged = manager.get_version(model_name, STAGING_ALIAS)
    if staged is None:
        raise ProjectError(f"model {model_name!r} has no version with alias {STAGING_ALIAS!r}")
    if str(staged.version) != version:
        raise ProjectError(
            f"{STAGING_ALIAS!r} points at v{staged.version}, not v{version}; "
            "promote the version the staging service was tested with"
        )
    previous = manager.get_version(model_name, PRODUCTION_ALIAS)
    if previous is not None and str(previous.version) == version:
        return version
    if staged.tags.get(AWAITING_PRODUCTION_TAG) != "true":
        reason = staged.tags.get(DECISION_REASON_TAG, "no decision recorded")
        raise ProjectError(f"v{version} did not pass the production gate: {reason}")
    manager.set_alias(model_name, PRODUCTION_ALIAS, version)
    manager.set_version_tags(
        model_name,
        version,
        {
            DECISION_TAG: PRODUCTION_DECISION,
            DECISION_REASON_TAG: "promoted from staging by a deployment",
            AWAITING_PRODUCTION_TAG: "false",
        },
    )
    return None if previous is None else str(previous.version)


def move_production(
    manager: MlflowManager,
    model_name: str,
    version: str,
    decision: PromotionDecision,
    evaluation: Evaluation,
    config: TrainingConfig,
    guard: LeaseGuard,
    rescore: ProductionScorer | None,
) -> PromotionDecision:
    """Compare-and-set `production`: move it only while it is the version compared against.

    MLflow has no conditional alias update, so every writer of `production` holds the
    promotion lease while it reads and moves the alias. When another promotion landed
    since the evaluation, the candidate is compared again against the new production
    (scored by `rescore` on the same holdout) and the loop starts over.
    """
    for _ in range(MAX_PROMOTION_ATTEMPTS):
        with guard(PROMOTION_LEASE, model_name):
            current = manager.get_version(model_name, PRODUCTION_ALIAS)
            current_version = None if current is None else str(current.version)
            if current_version == evaluation.production_version:
                manager.set_alias(model_name, PRODUCTION_ALIAS, version)
                return decision
        if current is None:
            evaluation = replace(
                evaluation, production=None, production_version=None, production_unavailable=None
            )
        else:
            if rescore is None:
                raise ProjectError(
                    f"production moved to v{current_version} during the promotion of "
                    f"v{version} and nothing can score it again; train again"
                )
            production = manager.load_version(model_name, current, PRODUCTION_ALIAS)
            metrics, unavailable = rescore(production)
            evaluation = replace(
                evaluation,
                production=metrics,
                production_version=current_version,
                production_unavailable=unavailable,
            )
        again = decide_promotion(evaluation, config)
        decision = replace(
            again,
            staged=decision.staged,
            integration=decision.integration,
            reason=f"production moved to v{current_version} meanwhile; {again.reason}",
        )
        if not decision.promoted:
            return decision
    raise ProjectError(
        f"production of {model_name} moved {MAX_PROMOTION_ATTEMPTS} times during the "
        f"promotion of v{version}; train again once the other promotions settle"
    )


def measure_latency_ms(predictor: Predictor, sample: pd.DataFrame) -> float:
    """The p95 of single-row predictions, as the online API makes them."""
    timings = []
    for position in range(len(sample)):
        started = time.perf_counter()
        predictor.predict_frame(sample.iloc[[position]])
        timings.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(timings, LATENCY_PERCENTILE))


def compare_predictions(expected: pd.DataFrame, actual: pd.DataFrame) -> list[str]:
    if list(actual.columns) != list(expected.columns):
        return [f"output columns {list(actual.columns)} instead of {list(expected.columns)}"]
    if actual.isna().to_numpy().any():
        return ["predictions contain missing values"]
    if expected[PREDICTION].dtype.kind in "fc":
        same = np.allclose(expected.to_numpy(float), actual.to_numpy(float))
    else:
        same = expected[PREDICTION].equals(actual[PREDICTION]) and np.allclose(
            expected.drop(columns=PREDICTION).to_numpy(float),
            actual.drop(columns=PREDICTION).to_numpy(float),
        )
    return [] if same else ["the staged model predicts differently from the trained candidate"]


def check_staged_model(
    manager: MlflowManager,
    model_name: str,
    version: str,
    candidate: Any,
    sample: pd.DataFrame,
    config: TrainingConfig,
) -> IntegrationReport:
    """Load the model by its `staging` alias, as serving will, and check what it does."""
    staged = manager.load_predictor(model_name, STAGING_ALIAS)
    failures = []
    if staged.version != version:
        failures.append(f"`staging` resolves to v{staged.version}, not v{version}")
    trained = Predictor(
        candidate,
        config.task,
        staged.feature_names,
        model_name,
        version,
        "",
        "",
        categorical=staged.categorical,
        boolean=staged.boolean,
        nullable=staged.nullable,
    )
    failures += compare_predictions(trained.predict_frame(sample), staged.predict_frame(sample))
    latency = measure_latency_ms(staged, sample)
    budget = config.integration.latency_budget_ms
    if latency > budget:
        failures.append(f"p95 single-row latency {latency:.2f} ms exceeds the {budget} ms budget")
    return IntegrationReport(rows=len(sample), p95_latency_ms=latency, failures=tuple(failures))


def record_decision(
    manager: MlflowManager,
    model_name: str,
    registration: Registration,
    decision: PromotionDecision,
) -> None:
    tags = {DECISION_TAG: decision.state, DECISION_REASON_TAG: decision.reason}
    if decision.held:
        tags[AWAITING_PRODUCTION_TAG] = "true"
    if decision.integration is not None:
        tags["integration_p95_latency_ms"] = f"{decision.integration.p95_latency_ms:.3f}"
        mlflow.log_metric("integration_p95_latency_ms", decision.integration.p95_latency_ms)
    manager.set_version_tags(model_name, registration.version, tags)
    mlflow.set_tags(tags)
    card = registration.card.render(f"{decision.state} ({decision.reason})")
    mlflow.log_text(card, MODEL_CARD_FILE)
    manager.set_description(model_name, registration.version, card)


def promote_candidate(
    manager: MlflowManager,
    model_name: str,
    registration: Registration,
    candidate: Any,
    sample: pd.DataFrame,
    evaluation: Evaluation,
    config: TrainingConfig,
    stage_only: bool = False,
    guard: LeaseGuard = unguarded,
    rescore: ProductionScorer | None = None,
) -> PromotionDecision:
    """Apply the gates; with `stage_only` a model that passes both is held at `staging`.

    `production` moves by compare-and-set under `guard`'s promotion lease (`move_production`).
    """
    decision = decide_promotion(evaluation, config)
    version = registration.version
    if decision.staged:
        previous = manager.get_version(model_name, STAGING_ALIAS)
        manager.set_alias(model_name, STAGING_ALIAS, version)
        report = check_staged_model(manager, model_name, version, candidate, sample, config)
        decision = replace(decision, integration=report)
        if not report.passed:
            manager.restore_alias(model_name, STAGING_ALIAS, previous)
            decision = replace(
                decision,
                staged=False,
                promoted=False,
                reason=f"integration checks on staging failed: {'; '.join(report.failures)}",
            )
    if stage_only:
        decision = hold_production(decision)
    if decision.promoted:
        decision = move_production(
            manager, model_name, version, decision, evaluation, config, guard, rescore
        )
    record_decision(manager, model_name, registration, decision)
    return decision

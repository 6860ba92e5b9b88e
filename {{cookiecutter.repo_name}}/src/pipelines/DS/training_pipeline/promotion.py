"""Step 6: move `staging` and `production` only when the gates are passed."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow

from src.errors import ProjectError
from src.model.config import TrainingConfig
from src.model.mlflow_manager import PRODUCTION_ALIAS, STAGING_ALIAS, MlflowManager
from src.pipelines.DS.training_pipeline.evaluation import Evaluation

# Version tag of a model that passed both gates under `train --stage-only`: the one mark
# `promote` accepts.
AWAITING_PRODUCTION_TAG = "awaiting_production"


@dataclass(frozen=True)
class PromotionDecision:
    staged: bool
    promoted: bool
    reason: str
    # Passed the production gate, held at `staging` for a deployment to promote.
    held: bool = False


def decide_promotion(evaluation: Evaluation, config: TrainingConfig) -> PromotionDecision:
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
        f"{metric} improves by {over_production:+.4f} over production "
        f"v{evaluation.production_version}",
    )


def hold_production(decision: PromotionDecision) -> PromotionDecision:
    """Stop at `staging`: a deployment promotes the model once its staging service passed."""
    if not decision.promoted:
        return decision
    return PromotionDecision(
        True, False, f"{decision.reason}; production awaits the deployment", held=True
    )


def promote_staged_version(manager: MlflowManager, model_name: str, version: str) -> str | None:
    """Point `production` at `version`, held at `staging` by `train --stage-only`.

    Returns the version it replaced, or `version` itself when it already was in production.
    The deployment names the version its staging service was tested with, so a model staged
    meanwhile is never promoted unseen, and one that failed the production gate never is.
    """
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
        reason = staged.tags.get("decision_reason", "no decision recorded")
        raise ProjectError(f"v{version} did not pass the production gate: {reason}")
    manager.set_alias(model_name, PRODUCTION_ALIAS, version)
    manager.set_version_tags(
        model_name,
        version,
        {
            "decision": PRODUCTION_ALIAS,
            "decision_reason": "promoted from staging by a deployment",
            AWAITING_PRODUCTION_TAG: "false",
        },
    )
    return None if previous is None else str(previous.version)


def promote(
    manager: MlflowManager, model_name: str, version: str, decision: PromotionDecision
) -> None:
    if decision.staged:
        manager.set_alias(model_name, STAGING_ALIAS, version)
    if decision.promoted:
        manager.set_alias(model_name, PRODUCTION_ALIAS, version)
    outcome = "production" if decision.promoted else "staging" if decision.staged else "rejected"
    tags = {"decision": outcome, "decision_reason": decision.reason}
    if decision.held:
        tags[AWAITING_PRODUCTION_TAG] = "true"
    manager.set_version_tags(model_name, version, tags)
    mlflow.set_tags({"decision": outcome, "decision_reason": decision.reason})

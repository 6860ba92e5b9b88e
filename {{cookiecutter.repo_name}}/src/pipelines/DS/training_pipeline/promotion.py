"""Step 6: move `staging` and `production` only when the gates are passed."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow

from src.model.config import TrainingConfig
from src.model.mlflow_manager import PRODUCTION_ALIAS, STAGING_ALIAS, MlflowManager
from src.pipelines.DS.training_pipeline.evaluation import Evaluation


@dataclass(frozen=True)
class PromotionDecision:
    staged: bool
    promoted: bool
    reason: str


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


def promote(
    manager: MlflowManager, model_name: str, version: str, decision: PromotionDecision
) -> None:
    if decision.staged:
        manager.set_alias(model_name, STAGING_ALIAS, version)
    if decision.promoted:
        manager.set_alias(model_name, PRODUCTION_ALIAS, version)
    outcome = "production" if decision.promoted else "staging" if decision.staged else "rejected"
    manager.set_version_tags(
        model_name, version, {"decision": outcome, "decision_reason": decision.reason}
    )
    mlflow.set_tags({"decision": outcome, "decision_reason": decision.reason})

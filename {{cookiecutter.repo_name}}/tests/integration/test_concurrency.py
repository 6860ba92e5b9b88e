"""Concurrent runs: a lock keeps moves of `production` apart, so a promotion race leaves
the better model in production. (Two data pipeline runs of one interval: Iceberg's own
commit conflicts, tests/integration/test_data_pipeline.py.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from src.context import ProjectContext
from src.data.aws_integration import hold_lock
from src.errors import ProjectError
from src.model.metrics import get_metric
from src.model.mlflow_manager import PRODUCTION_ALIAS
from src.model.predictor import Predictor
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.promotion import decide_promotion, move_production
from src.settings import Settings
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("where", ["local", "aws"])
def test_a_held_lock_makes_a_second_holder_wait_then_fail_naming_it(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if where == "aws":
        settings: Settings = request.getfixturevalue("aws_settings")
        from src.data.aws_integration import ensure_aws_resources

        ensure_aws_resources(settings)
    else:
        settings = isolated_settings(tmp_path)
    with (
        hold_lock(settings, "promotion/model"),
        pytest.raises(ProjectError, match="promotion/model is held by another run"),
        hold_lock(settings, "promotion/model", wait_seconds=0),
    ):
        pass
    with hold_lock(settings, "promotion/model", wait_seconds=0):
        pass  # released: the next holder takes it at once


def candidate_evaluation(
    context: ProjectContext, candidate: float, production: float
) -> Evaluation:
    metric = get_metric(context.training.task, context.training.promotion.gate_metric)
    worst = -1e6 if metric.higher_is_better else 1e6
    return Evaluation(
        candidate={metric.name: candidate},
        baseline={metric.name: worst},
        production={metric.name: production},
        production_version="1",
        gate_metric=metric.name,
        higher_is_better=metric.higher_is_better,
    )


def test_a_promotion_race_of_two_candidates_leaves_production_at_the_better_one(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    context = trained_context
    manager, name = context.mlflow, context.settings.model_name
    # MLflow resolves a models:/ source of create_model_version through its process-wide
    # tracking URI, which a test run before this one in the process may have moved.
    manager.activate()
    first = manager.get_version_by_number(name, "1")
    assert first.source is not None
    metric = get_metric(context.training.task, context.training.promotion.gate_metric)
    sign = 1.0 if metric.higher_is_better else -1.0
    versions = {
        label: str(manager.client.create_model_version(name, first.source, first.run_id).version)
        for label in ("better", "worse")
    }
    # Both candidates were evaluated against v1; each beats it, the better one by more.
    scores = {"1": 0.5, versions["worse"]: 0.5 + 0.1 * sign, versions["better"]: 0.5 + 0.3 * sign}

    def rescore(production: Predictor) -> tuple[dict[str, float] | None, str | None]:
        return {metric.name: scores[production.version]}, None

    guard = context.guard

    def promote(label: str) -> Callable[[], None]:
        def run() -> None:
            evaluation = candidate_evaluation(context, scores[versions[label]], scores["1"])
            decision = decide_promotion(evaluation, context.training)
            assert decision.promoted
            move_production(
                manager, name, versions[label], decision, evaluation, context.training,
                guard, rescore,
            )  # fmt: skip

        return run

    outcomes = {}
    try:
        for order in (("worse", "better"), ("better", "worse"), "threads"):
            manager.set_alias(name, PRODUCTION_ALIAS, "1")
            if order == "threads":
                threads = [threading.Thread(target=promote(label)) for label in versions]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=120)
            else:
                # Both read production v1 before either moved it: the stale-read race.
                for label in order:
                    promote(label)()
            production = manager.get_version(name, PRODUCTION_ALIAS)
            assert production is not None
            outcomes["+".join(order) if order != "threads" else order] = str(production.version)
    finally:
        manager.set_alias(name, PRODUCTION_ALIAS, "1")
    print(f"\npromotion race (better is v{versions['better']}): production after {outcomes}")
    assert set(outcomes.values()) == {versions["better"]}

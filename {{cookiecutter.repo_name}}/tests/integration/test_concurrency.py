"""Concurrent runs: a lock keeps moves of `production` apart, so a promotion race leaves
the better model in production. (Two data pipeline runs of one interval: Iceberg's own
commit conflicts, tests/integration/test_data_pipeline.py.)"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from src.context import ProjectContext
from src.data.aws_integration import ensure_aws_resources, hold_lock
from src.errors import ProjectError
from src.model.predictor import Predictor
from src.model.train import higher_is_better
from src.names import PRODUCTION_ALIAS
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.promotion import Production, promote_to_production
from src.settings import Settings
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("where", ["local", "aws"])
def test_a_held_lock_makes_a_second_holder_wait_then_fail_naming_it(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if where == "aws":
        settings: Settings = request.getfixturevalue("aws_settings")
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


def test_a_promotion_race_of_two_candidates_leaves_production_at_the_better_one(
    trained_context: ProjectContext,
) -> None:
    """Two candidates better than v1, promoted in both orders and at once: production ends at
    the better one, because each decides against the production it finds under the lock."""
    context, shipped = trained_context, trained_context.training
    # The candidates' evaluations hold the gate metric alone: no required holdout scores.
    gates = shipped.promotion.model_copy(update={"required_holdout_scores": {}})
    config = shipped.model_copy(update={"promotion": gates})
    manager, name = context.mlflow, context.settings.model_name
    metric = config.promotion.gate_metric
    manager.activate()  # create_model_version resolves models:/ through the global URI
    first = manager.client.get_model_version(name, "1")
    assert first.source is not None
    sign = 1.0 if higher_is_better(config.task, metric) else -1.0
    versions = {}
    for label in ("better", "worse"):
        version = manager.client.create_model_version(name, first.source, first.run_id)
        versions[label] = str(version.version)
    scores = {"1": 0.5, versions["worse"]: 0.5 + 0.1 * sign, versions["better"]: 0.5 + 0.3 * sign}

    def promote(label: str) -> None:
        version = versions[label]
        evaluation = Evaluation(
            {metric: scores[version]}, {metric: -1e6 * sign}, pd.DataFrame(), pd.DataFrame()
        )

        def scorer(production: Predictor) -> Production:
            return Production(production.version, {metric: scores[production.version]})

        decision = promote_to_production(
            manager, name, version, evaluation, scorer, config, context.guard
        )
        assert decision.staged

    outcomes = {}
    try:
        for order in (("worse", "better"), ("better", "worse"), ("threads",)):
            manager.set_alias(name, PRODUCTION_ALIAS, "1")
            if order == ("threads",):
                threads = [threading.Thread(target=promote, args=(label,)) for label in versions]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=120)
            else:
                for label in order:
                    promote(label)
            production = manager.get_version(name, PRODUCTION_ALIAS)
            assert production is not None
            outcomes["+".join(order)] = str(production.version)
    finally:
        manager.set_alias(name, PRODUCTION_ALIAS, "1")
    assert outcomes == dict.fromkeys(outcomes, versions["better"])

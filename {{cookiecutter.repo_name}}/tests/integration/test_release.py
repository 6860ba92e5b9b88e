"""The CD's model path for real: train --stage-only, serve @staging, promote, smoke-test."""

from __future__ import annotations

import pytest

from src.context import ProjectContext
from src.errors import ProjectError
from src.inference.api import create_app
from src.names import PRODUCTION_ALIAS, STAGING_ALIAS
from src.pipelines.DS.training_pipeline import run_training_pipeline
from src.pipelines.DS.training_pipeline.promotion import promote_staged_version
from src.release import SmokeTestError, run_smoke_test
from tests.serving import running_server, serving_settings

pytestmark = pytest.mark.integration


def test_stage_promote_and_smoke(lake_context: ProjectContext) -> None:
    context, name = lake_context, lake_context.settings.model_name
    outcome = run_training_pipeline(
        context.lake, context.view, context.training, context.mlflow, name, stage_only=True
    )
    assert outcome.decision.staged and not outcome.decision.promoted
    assert context.mlflow.get_version(name, PRODUCTION_ALIAS) is None
    staged = context.mlflow.get_version(name, STAGING_ALIAS)
    assert staged is not None and str(staged.version) == outcome.version

    staging = serving_settings(context, model_alias="staging")
    with running_server(create_app(staging)) as url:
        assert run_smoke_test(url, wait=30) == outcome.version
        with pytest.raises(SmokeTestError, match="not v42"):
            run_smoke_test(url, expected_version="42", wait=5)

    with pytest.raises(ProjectError, match="not v99"):
        promote_staged_version(context.mlflow, name, "99")
    assert promote_staged_version(context.mlflow, name, outcome.version) is None
    assert promote_staged_version(context.mlflow, name, outcome.version) == outcome.version
    production = serving_settings(context)
    with running_server(create_app(production)) as url:
        assert run_smoke_test(url, expected_version=outcome.version, wait=30) == outcome.version


def test_promote_refuses_a_model_that_failed_the_production_gate(
    lake_context: ProjectContext,
) -> None:
    context, name = lake_context, lake_context.settings.model_name
    run_training_pipeline(context.lake, context.view, context.training, context.mlflow, name)
    # A second, identical model is staged but does not beat production by the margin.
    stricter = context.training.promotion.model_copy(update={"min_improvement_over_production": 1})
    config = context.training.model_copy(update={"promotion": stricter})
    second = run_training_pipeline(
        context.lake, context.view, config, context.mlflow, name, stage_only=True
    )
    assert second.decision.staged and not second.decision.held
    with pytest.raises(ProjectError, match="did not pass the production gate"):
        promote_staged_version(context.mlflow, name, second.version)

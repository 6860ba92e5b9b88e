"""The CD's model path for real: train --stage-only, serve @staging, promote, smoke-test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from src.context import ProjectContext
from src.errors import ProjectError
from src.inference.api import create_app
from src.names import PRODUCTION_ALIAS, STAGING_ALIAS
from src.pipelines.DS.training_pipeline import run_training_pipeline
from src.pipelines.DS.training_pipeline.promotion import (
    ARTIFACT_DIGEST_TAG,
    export_release,
    promote_release,
    promote_staged_version,
)
from src.release import SmokeTestError, run_smoke_test
from tests.conftest import isolated_settings
from tests.serving import running_server, serving_settings

pytestmark = pytest.mark.integration


def test_stage_promote_and_smoke(lake_context: ProjectContext, tmp_path: Path) -> None:
    """Two registries, as on AWS: the version staging served is exported, registered in
    production's by its digest, promoted there and served; `promote --version` within one."""
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
        export_release(context.mlflow, name, "99", context.store)
    digest, key = export_release(context.mlflow, name, outcome.version, context.store)
    released, disk = f"{context.settings.object_store_root}/{key}", pafs.LocalFileSystem()
    production = ProjectContext(isolated_settings(tmp_path / "production"))
    tampered = shutil.copytree(released, tmp_path / "tampered")
    (tampered / "release.json").write_text("{}")
    with pytest.raises(ProjectError, match="not the release"):
        promote_release(production.mlflow, name, disk, str(tampered), digest)
    version, previous = promote_release(production.mlflow, name, disk, released, digest)
    assert previous is None
    assert promote_release(production.mlflow, name, disk, released, digest) == (version, version)
    served = production.mlflow.load_predictor(name, PRODUCTION_ALIAS)
    assert (
        production.mlflow.client.get_model_version(name, version).tags[ARTIFACT_DIGEST_TAG]
        == digest
    )
    sample = context.lake.read(context.view.table).to_pandas().head(50)
    assert served.predict_frame(sample).equals(
        context.mlflow.load_predictor(name, STAGING_ALIAS).predict_frame(sample)
    )
    assert len(production.mlflow.load_reference(served.run_id, 100, seed=0)) == 100  # drift's
    with running_server(create_app(serving_settings(production))) as url:
        assert run_smoke_test(url, expected_version=version, wait=30) == version

    with pytest.raises(ProjectError, match="not v99"):
        promote_staged_version(context.mlflow, name, "99")
    assert promote_staged_version(context.mlflow, name, outcome.version) is None
    assert promote_staged_version(context.mlflow, name, outcome.version) == outcome.version


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

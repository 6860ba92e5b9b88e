"""Batch prediction ids survive reruns, and each model owns its own rows of a day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from src.context import ProjectContext
from src.data.feature_store import INGEST_DATE
from src.data.predictions import (
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION_ID,
    prediction_window_versions,
    read_prediction_window,
    replace_predictions,
    sample_prediction_window,
    stable_prediction_ids,
)
from src.pipelines.DS.inference_pipeline.pipeline import run_batch_inference
from tests.conftest import SAMPLE_END

pytestmark = pytest.mark.integration

# Not the day other tests of the shared trained lake score.
DAY = SAMPLE_END - timedelta(days=3)


def score(context: ProjectContext, input_file: Path | None = None) -> None:
    run_batch_inference(
        context.lake,
        context.store,
        context.view,
        context.mlflow,
        context.settings.model_name,
        DAY,
        context.settings.aws.s3.processed_prefix,
        context.monitoring,
        context.settings.reports_dir,
        input_file=input_file,
    )


def ids_by_entity(context: ProjectContext) -> dict[str, str]:
    frame = read_prediction_window(context.lake, DAY, 1, context.settings.model_name)
    entity = context.view.entity.name
    return dict(zip(frame[entity].astype(str), frame[PREDICTION_ID], strict=True))


def test_ids_depend_on_entity_time_and_model_not_on_row_order() -> None:
    entities = pa.array(["a", "b", "c"])
    times = pa.array(pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"], utc=True))
    ids = stable_prediction_ids("m", "1", entities, times).to_pylist()
    reversed_ids = stable_prediction_ids("m", "1", entities[::-1], times[::-1]).to_pylist()
    assert ids == reversed_ids[::-1]
    assert len(set(ids)) == 3
    assert set(ids).isdisjoint(stable_prediction_ids("m", "2", entities, times).to_pylist())
    assert set(ids).isdisjoint(stable_prediction_ids("n", "1", entities, times).to_pylist())
    with pytest.raises(ValueError, match="entity id and an event time"):
        stable_prediction_ids("m", "1", pa.array(["a", None]), times[:2])


def test_a_rerun_on_reordered_rows_gives_every_entity_its_id(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    context = trained_context
    score(context)
    first = ids_by_entity(context)
    gold = context.lake.read(context.view.table, where=f"{INGEST_DATE} = '{DAY.isoformat()}'")
    # The same rows in the opposite order, as a rewritten gold day may hand them over.
    shuffled = tmp_path / "reordered.parquet"
    pq.write_table(gold.take(pa.array(range(gold.num_rows - 1, -1, -1))), shuffled)
    score(context, input_file=shuffled)
    second = ids_by_entity(context)
    assert len(first) == gold.num_rows > 1
    assert second == first


def test_a_rerun_of_one_model_leaves_another_models_rows(trained_context: ProjectContext) -> None:
    context = trained_context
    score(context)
    mine = read_prediction_window(context.lake, DAY, 1, context.settings.model_name)
    other = mine.assign(**{MODEL_NAME: "other_model", MODEL_VERSION: "7"})
    other[PREDICTION_ID] = "other-" + other[PREDICTION_ID]
    replace_predictions(context.lake, context.view, other, DAY, "other_model")
    score(context)
    both = read_prediction_window(context.lake, DAY, 1)
    counts = both.groupby(MODEL_NAME).size().to_dict()
    assert counts == {context.settings.model_name: len(mine), "other_model": len(mine)}
    # The drift window of the production version holds its own rows only.
    version = str(mine[MODEL_VERSION].iloc[0])
    checked = sample_prediction_window(
        context.lake, DAY, 1, context.settings.model_name, version, len(both), seed=0
    )
    assert sorted(checked[PREDICTION_ID]) == sorted(mine[PREDICTION_ID])
    assert prediction_window_versions(context.lake, DAY, 1, "other_model") == ["7"]

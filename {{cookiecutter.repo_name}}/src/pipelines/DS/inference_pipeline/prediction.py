"""Step 4: predictions with the identifiers that make each row traceable, and a summary."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa

from src.data.feature_store import FeatureView
from src.data.predictions import (
    SOURCE_BATCH,
    ScoredRows,
    positional_prediction_ids,
    stable_prediction_ids,
)
from src.model.predictor import Predictor

logger = logging.getLogger(__name__)


def batch_prediction_ids(
    table: pa.Table, view: FeatureView, model_name: str, model_version: str, day: date
) -> pa.Array:
    """Ids that survive reruns: from entity, event time and model when the rows name them.

    Gold rows always do; a scoring file without those columns gets positional ids.
    """
    entity, event_time = view.key_columns
    if entity in table.column_names and event_time in table.column_names:
        return stable_prediction_ids(
            model_name, model_version, table.column(entity), table.column(event_time)
        )
    logger.warning("the rows name no %s and %s: prediction ids are positional", entity, event_time)
    return positional_prediction_ids(model_name, model_version, day, table.num_rows)


def predict_batch(
    predictor: Predictor, table: pa.Table, matrix: np.ndarray, view: FeatureView, day: date
) -> ScoredRows:
    # validate_schema checked every value finite: scikit-learn need not scan them again.
    arrays = predictor.predict_array(matrix, assume_finite=True)
    entity = view.entity.name
    scored = ScoredRows(
        prediction_ids=batch_prediction_ids(
            table, view, predictor.model_name, predictor.version, day
        ),
        entity_ids=table.column(entity).combine_chunks() if entity in table.column_names else None,
        feature_names=view.feature_names,
        features=matrix,
        predictions=arrays.predictions,
        probabilities=arrays.probabilities,
        model_name=predictor.model_name,
        model_version=predictor.version,
        source=SOURCE_BATCH,
        predicted_at=datetime.now(UTC),
        prediction_date=day,
    )
    logger.info(
        "scored %d rows with v%s: %s",
        len(scored),
        predictor.version,
        summarize(arrays.predictions, predictor.is_regression),
    )
    return scored


def summarize(predictions: np.ndarray, regression: bool) -> str:
    if regression:
        return f"mean {float(np.mean(predictions)):.3f}"
    labels, counts = np.unique(predictions, return_counts=True)
    return ", ".join(
        f"class {label}: {count}"
        for label, count in zip(labels.tolist(), counts.tolist(), strict=True)
    )

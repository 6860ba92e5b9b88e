"""Step 4: predictions with the identifiers that make each row traceable, and a summary."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from src.data.feature_store import FeatureView
from src.data.predictions import SOURCE_BATCH, ScoredRows
from src.model.predictor import Predictor

logger = logging.getLogger(__name__)


def batch_prediction_ids(day: date, rows: int) -> pa.Array:
    """Deterministic ids: re-running a day rewrites the same rows, not new ones."""
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(rows)), pa.string()), 8, "0")
    return pc.binary_join_element_wise(f"batch-{day.isoformat()}-", numbers, "")


def predict_batch(
    predictor: Predictor, table: pa.Table, matrix: np.ndarray, view: FeatureView, day: date
) -> ScoredRows:
    # validate_schema checked every value finite: scikit-learn need not scan them again.
    arrays = predictor.predict_array(matrix, assume_finite=True)
    entity = view.entity.name
    scored = ScoredRows(
        prediction_ids=batch_prediction_ids(day, table.num_rows),
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

"""Step 4: predictions with the identifiers that make each row traceable, and a summary."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

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
    table: pa.Table,
    view: FeatureView,
    model_name: str,
    model_version: str,
    day: date,
    start: int = 0,
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
    return positional_prediction_ids(model_name, model_version, day, table.num_rows, start)


def predict_batch(
    predictor: Predictor,
    table: pa.Table,
    matrix: np.ndarray,
    view: FeatureView,
    day: date,
    predicted_at: datetime,
    start: int = 0,
) -> ScoredRows:
    """One batch scored; `start` is the position of its first row in the run's stream."""
    # validate_schema checked every value finite: scikit-learn need not scan them again.
    arrays = predictor.predict_array(matrix, assume_finite=True)
    entity = view.entity.name
    return ScoredRows(
        prediction_ids=batch_prediction_ids(
            table, view, predictor.model_name, predictor.version, day, start
        ),
        entity_ids=table.column(entity).combine_chunks() if entity in table.column_names else None,
        feature_names=view.feature_names,
        features=matrix,
        predictions=arrays.predictions,
        probabilities=arrays.probabilities,
        model_name=predictor.model_name,
        model_version=predictor.version,
        source=SOURCE_BATCH,
        predicted_at=predicted_at,
        prediction_date=day,
    )


@dataclass
class ScoringSummary:
    """What the run's predictions look like, gathered batch by batch."""

    regression: bool
    rows: int = 0
    total: float = 0.0
    classes: Counter[object] = field(default_factory=Counter)

    def add(self, predictions: np.ndarray) -> None:
        self.rows += len(predictions)
        if self.regression:
            self.total += float(np.sum(predictions))
            return
        labels, counts = np.unique(predictions, return_counts=True)
        self.classes.update(dict(zip(labels.tolist(), counts.tolist(), strict=True)))

    def describe(self) -> str:
        if self.regression:
            return f"mean {self.total / self.rows:.3f}" if self.rows else "no rows"
        return ", ".join(f"class {label}: {count}" for label, count in sorted(self.classes.items()))


def summarize(predictions: np.ndarray, regression: bool) -> str:
    summary = ScoringSummary(regression)
    summary.add(predictions)
    return summary.describe()

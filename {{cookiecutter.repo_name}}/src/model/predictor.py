"""A loaded model with its contract: the one predict path of online and batch inference."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from src.data.predictions import PREDICTION, PROBABILITY
from src.model.config import Task


@dataclass(frozen=True)
class Predictor:
    estimator: BaseEstimator
    task: Task
    feature_names: list[str]
    model_name: str
    version: str
    alias: str
    run_id: str
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def output_columns(self) -> list[str]:
        return [PREDICTION, PROBABILITY] if self.task == "classification" else [PREDICTION]

    def predict_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Predictions for rows holding at least the model's features, in the model's order."""
        ordered = features[self.feature_names]
        result = pd.DataFrame(index=features.index)
        if self.task == "classification":
            probabilities = self.estimator.predict_proba(ordered)
            classes = self.estimator.classes_
            best = np.argmax(probabilities, axis=1)
            result[PREDICTION] = classes[best]
            result[PROBABILITY] = probabilities[np.arange(len(best)), best]
        else:
            result[PREDICTION] = self.estimator.predict(ordered).astype(float)
        return result

"""Step 2: split the training set into a training part and a holdout, reproducibly."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from src.data.feature_store import FeatureView
from src.model.config import TrainingConfig


@dataclass(frozen=True)
class DatasetSplit:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series


def split_training_set(
    frame: pd.DataFrame, view: FeatureView, config: TrainingConfig
) -> DatasetSplit:
    features = frame[view.feature_names]
    label = frame[view.label.name]
    stratify = label if config.task == "classification" else None
    x_train, x_test, y_train, y_test = train_test_split(
        features, label, test_size=config.test_size, random_state=config.seed, stratify=stratify
    )
    return DatasetSplit(x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test)

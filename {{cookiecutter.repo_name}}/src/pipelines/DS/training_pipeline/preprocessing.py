"""Step 2: a seeded split into training rows and a holdout, and the feature the error
analysis slices by. Encoding, imputation, selection and scaling are steps inside the model
pipeline (src/model/train.py): fitted on training folds only, they travel with the model."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from src.data.feature_store import FeatureView
from src.errors import ConfigError
from src.model.config import TrainingConfig


@dataclass(frozen=True)
class DatasetSplit:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    segment_feature: str


def choose_segment_feature(frame: pd.DataFrame, view: FeatureView, config: TrainingConfig) -> str:
    """`evaluation.segment_feature`, else a natural slice: of the categories and features of
    few values, the one with the fewest; else the first feature."""
    chosen = config.evaluation.segment_feature
    if chosen is not None and chosen not in view.feature_names:
        raise ConfigError(f"evaluation.segment_feature {chosen!r} is not a feature of {view.name}")
    counts = {name: int(frame[name].nunique()) for name in view.feature_names}
    few = [
        n
        for n in counts
        if n in view.categorical_features or counts[n] <= config.evaluation.segments
    ]
    return chosen or min(few, key=counts.__getitem__, default=view.feature_names[0])


def split_dataset(frame: pd.DataFrame, view: FeatureView, config: TrainingConfig) -> DatasetSplit:
    label = frame[view.label.name]
    x_train, x_test, y_train, y_test = train_test_split(
        frame[view.feature_names],
        label,
        test_size=config.test_size,
        random_state=config.seed,
        stratify=label if config.task == "classification" else None,
    )
    return DatasetSplit(
        x_train, x_test, y_train, y_test, choose_segment_feature(frame, view, config)
    )

"""Step 2: feature settings checked against the view, and a seeded split into training rows
and a holdout. Encoding, imputation, selection and scaling are steps inside the model
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
    # The feature whose segments the error analysis scores (evaluation.segment_feature).
    segment_feature: str


def check_feature_settings(view: FeatureView, config: TrainingConfig) -> None:
    selected = config.preprocessing.select_k_best
    if selected is not None and selected > len(view.features):
        raise ConfigError(
            f"preprocessing.select_k_best is {selected} but {view.name} has "
            f"{len(view.features)} features"
        )
    segment = config.evaluation.segment_feature
    if segment is not None and segment not in view.feature_names:
        raise ConfigError(
            f"evaluation.segment_feature {segment!r} is not a feature of {view.name}; "
            f"choose one of: {', '.join(view.feature_names)}"
        )


def choose_segment_feature(frame: pd.DataFrame, view: FeatureView, config: TrainingConfig) -> str:
    """The configured feature, else a natural slice: the category or feature of few values
    with the fewest values; else the first feature."""
    if config.evaluation.segment_feature is not None:
        return config.evaluation.segment_feature
    counts = {name: int(frame[name].nunique()) for name in view.feature_names}
    few = [
        name
        for name in view.feature_names
        if name in view.categorical_features or counts[name] <= config.evaluation.segments
    ]
    return min(few, key=counts.__getitem__) if few else view.feature_names[0]


def split_dataset(frame: pd.DataFrame, view: FeatureView, config: TrainingConfig) -> DatasetSplit:
    check_feature_settings(view, config)
    label = frame[view.label.name]
    x_train, x_test, y_train, y_test = train_test_split(
        frame[view.feature_names],
        label,
        test_size=config.test_size,
        random_state=config.seed,
        stratify=label if config.task == "classification" else None,
    )
    segment = choose_segment_feature(frame, view, config)
    return DatasetSplit(x_train, x_test, y_train, y_test, segment)

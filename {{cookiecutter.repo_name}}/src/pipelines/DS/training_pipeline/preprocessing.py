"""Step 2: feature checks and a reproducible split into a training part and a holdout.

Transformations (scaling) and feature selection live inside the model pipeline (see
`src.model.train`), so they are fitted on training folds only and travel with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from src.data.feature_store import FeatureView
from src.errors import ConfigError
from src.model.config import TrainingConfig
from src.model.train import FeatureKinds


@dataclass(frozen=True)
class DatasetSplit:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    kinds: FeatureKinds


def feature_kinds(view: FeatureView) -> FeatureKinds:
    """What the model pipeline encodes and imputes, from config/features.yaml."""
    return FeatureKinds(
        numeric=tuple(view.numeric_features),
        categorical=tuple(view.categorical_features),
        nullable=frozenset(view.nullable_features),
    )


def choose_segment_feature(frame: pd.DataFrame, view: FeatureView, segments: int) -> str:
    """The default error-analysis feature: a category or a feature of few values (a
    natural slice such as sex), the one with the fewest; else the first feature."""
    categorical = set(view.categorical_features)
    counts = {name: int(frame[name].nunique()) for name in view.feature_names}
    candidates = [n for n in view.feature_names if n in categorical or counts[n] <= segments]
    if not candidates:
        return view.feature_names[0]
    return min(candidates, key=lambda name: counts[name])


def with_segment_feature(
    frame: pd.DataFrame, view: FeatureView, config: TrainingConfig
) -> TrainingConfig:
    """The configuration with evaluation.segment_feature chosen when it is null."""
    if config.evaluation.segment_feature is not None:
        return config
    chosen = choose_segment_feature(frame, view, config.evaluation.segments)
    evaluation = config.evaluation.model_copy(update={"segment_feature": chosen})
    return config.model_copy(update={"evaluation": evaluation})


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
            f"evaluation.segment_feature {config.evaluation.segment_feature!r} is not a feature "
            f"of {view.name}; choose one of: {', '.join(view.feature_names)}"
        )


def split_training_set(
    frame: pd.DataFrame, view: FeatureView, config: TrainingConfig
) -> DatasetSplit:
    check_feature_settings(view, config)
    features = frame[view.feature_names]
    label = frame[view.label.name]
    stratify = label if config.task == "classification" else None
    x_train, x_test, y_train, y_test = train_test_split(
        features, label, test_size=config.test_size, random_state=config.seed, stratify=stratify
    )
    return DatasetSplit(
        x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test, kinds=feature_kinds(view)
    )

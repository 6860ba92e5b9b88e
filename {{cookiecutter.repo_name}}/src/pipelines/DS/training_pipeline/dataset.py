"""Steps 1 and 2, extraction and preprocessing: the labelled rows as of one snapshot, checked,
then a seeded split. Encoding, imputation, selection and scaling are steps of the model
pipeline (src/model/train.py), fitted on training folds only."""

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from src.data.feature_store import FeatureView, TrainingSample, get_training_set
from src.data.lake import Lake
from src.errors import ConfigError, DataValidationError
from src.model.train import TrainingConfig

MIN_TRAINING_ROWS = 50


@dataclass(frozen=True)
class DatasetSplit:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    segment_feature: str  # the feature the error analysis slices by


def extract_training_set(
    lake: Lake, view: FeatureView, config: TrainingConfig
) -> tuple[pd.DataFrame, str]:
    """At most `data.max_rows` labelled rows (a seeded sample), and the snapshot read."""
    classes = config.task == "classification"
    sample = TrainingSample(max_rows=config.data.max_rows, seed=config.seed, stratified=classes)
    frame, snapshot_id = get_training_set(lake, view, sample)
    if len(frame) < MIN_TRAINING_ROWS:
        raise DataValidationError(
            f"{view.table} holds {len(frame)} labelled rows; training needs at least "
            f"{MIN_TRAINING_ROWS}. Run the data pipeline first (make setup)."
        )
    if frame[view.label.name].nunique() < 2:
        raise DataValidationError(f"label {view.label.name} has a single value; nothing to learn")
    # Missing values are the model's to handle only where the contract allows them.
    required = [name for name in view.feature_names if name not in view.nullable_features]
    if incomplete := [name for name in required if frame[name].isna().any()]:
        raise DataValidationError(
            f"{view.table} has missing values in features {', '.join(incomplete)}; features "
            "not marked nullable in config/features.yaml must be complete (see the silver rules)"
        )
    return frame, "none" if snapshot_id is None else str(snapshot_id)


def split_dataset(frame: pd.DataFrame, view: FeatureView, config: TrainingConfig) -> DatasetSplit:
    label = frame[view.label.name]
    x_train, x_test, y_train, y_test = train_test_split(
        frame[view.feature_names],
        label,
        test_size=config.test_size,
        random_state=config.seed,
        stratify=label if config.task == "classification" else None,
    )
    # The slice error analysis uses: the configured one, else the category or feature of
    # fewest values (at most `evaluation.segments`), else the first feature.
    chosen = config.evaluation.segment_feature
    if chosen is not None and chosen not in view.feature_names:
        raise ConfigError(f"evaluation.segment_feature {chosen!r} is not a feature of {view.name}")
    counts = {name: int(frame[name].nunique()) for name in view.feature_names}
    limit = config.evaluation.segments
    few = [n for n in counts if n in view.categorical_features or counts[n] <= limit]
    chosen = chosen or min(few, key=counts.__getitem__, default=view.feature_names[0])
    return DatasetSplit(x_train, x_test, y_train, y_test, chosen)

"""Live performance once labels arrive: the labels table (ground truth upserted by its
prediction id, so a label sent twice or corrected leaves one row) joined to the predictions,
against the version's holdout metrics at training (its `metric.<name>` tags): a metric worse
by more than the tolerance is concept drift."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field
from pyiceberg.expressions import GreaterThanOrEqual
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, root_mean_squared_error

from src.data.feature_store import ARROW_TYPES, EVENT_TIME_TYPE, FeatureView
from src.data.lake import Lake
from src.data.predictions import PREDICTION, PREDICTION_DATE, PREDICTION_ID
from src.errors import DataValidationError
from src.model.train import Task, higher_is_better
from src.names import LABELS_TABLE

LABELED_AT, LABEL_DATE = "labeled_at", "label_date"


class PerformanceConfig(BaseModel):
    min_labelled_rows: int = Field(default=30, ge=1)
    # Degraded (concept drift) when a live metric is this much (relative) worse than training.
    max_relative_degradation: float = Field(default=0.1, gt=0, lt=1)


@dataclass(frozen=True)
class PerformanceResult:
    labelled_rows: int
    live: dict[str, float]
    training: dict[str, float]
    degraded_metrics: list[str]

    @property
    def concept_drift(self) -> bool:
        return bool(self.degraded_metrics)

    def verdict(self) -> str:
        live = ", ".join(f"{name} {value:.4f}" for name, value in self.live.items())
        training = ", ".join(f"{name} {value:.4f}" for name, value in self.training.items())
        state = "DEGRADED" if self.concept_drift else "performance ok"
        return f"{state} on {self.labelled_rows} labelled rows: {live} (training: {training})"


def evaluate_performance(
    current: pd.DataFrame,
    label: str,
    task: Task,
    training: dict[str, float],
    config: PerformanceConfig,
) -> PerformanceResult | str:
    """Metrics of the rows of `current` with a label and a prediction, or why there are none."""
    if label not in current.columns or PREDICTION not in current.columns:
        return f"live performance skipped: the current data has no {label} and {PREDICTION}"
    labelled = current[current[label].notna() & current[PREDICTION].notna()]
    if len(labelled) < config.min_labelled_rows:
        return (
            f"live performance skipped: {len(labelled)} labelled rows, needs "
            f"{config.min_labelled_rows} (config/monitoring.yaml performance.min_labelled_rows)"
        )
    truth, predicted = labelled[label], labelled[PREDICTION]
    if task == "regression":
        live = {
            "rmse": float(root_mean_squared_error(truth, predicted)),
            "mae": float(mean_absolute_error(truth, predicted)),
        }
    else:  # binary 0/1 labels score F1 of class 1, as training does; others average the classes
        binary = set(pd.unique(pd.concat([truth, predicted]))) <= {0, 1}
        f1 = f1_score(truth, predicted, average="binary" if binary else "macro", zero_division=0)
        live = {"accuracy": float(accuracy_score(truth, predicted)), "f1": float(f1)}
    baseline = {name: value for name, value in training.items() if name in live}
    # Worse by more than the (relative) tolerance, in the metric's direction.
    limit, sign = config.max_relative_degradation, {n: higher_is_better(task, n) for n in live}
    worse = {n: (v - live[n]) * (1 if sign[n] else -1) for n, v in baseline.items()}
    degraded = [name for name, by in worse.items() if by > abs(baseline[name]) * limit]
    return PerformanceResult(len(labelled), live, baseline, degraded)


def read_labels_file(path: Path, view: FeatureView) -> pd.DataFrame:
    """A CSV/Parquet file of `prediction_id` and the label column, checked row by row."""
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError) as error:  # a ParserError is a ValueError
        raise DataValidationError(f"labels file {path} is not readable: {error}") from error
    label = view.label.name
    if frame.empty or {PREDICTION_ID, label} - set(frame.columns):
        raise DataValidationError(f"{path} holds no columns {PREDICTION_ID} and {label}")
    invalid = frame[PREDICTION_ID].isna() | frame[label].isna() | frame[PREDICTION_ID].duplicated()
    if invalid.any():
        raise DataValidationError(
            f"{path} has {int(invalid.sum())} rows without {label} or with a missing or "
            f"repeated {PREDICTION_ID}"
        )
    return frame[[PREDICTION_ID, label]].astype({PREDICTION_ID: str})


def record_labels(lake: Lake, view: FeatureView, labels: pd.DataFrame, now: datetime) -> int:
    """Upsert the labels by prediction id; returns the number of rows written."""
    types = {
        PREDICTION_ID: pa.string(),
        view.label.name: ARROW_TYPES[view.label.dtype],
        LABELED_AT: EVENT_TIME_TYPE,
        LABEL_DATE: pa.date32(),
    }
    schema = pa.schema([pa.field(name, kind, nullable=False) for name, kind in types.items()])
    lake.create_table(LABELS_TABLE, schema, partition_by=LABEL_DATE)
    rows = labels.assign(**{LABELED_AT: now, LABEL_DATE: now.date()})
    try:
        table = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise DataValidationError(f"labels are not of type {view.label.dtype}: {error}") from error
    lake.load(LABELS_TABLE).upsert(table, join_cols=[PREDICTION_ID])
    return len(rows)


def join_labels(lake: Lake, view: FeatureView, predictions: pd.DataFrame) -> pd.DataFrame:
    """`predictions` with the label column filled where a label has arrived (else missing)."""
    label = view.label.name
    joined = predictions.drop(columns=[label], errors="ignore")
    if predictions.empty or not lake.exists(LABELS_TABLE):
        return joined.assign(**{label: pd.Series(dtype="float64", index=joined.index)})
    # Labels never arrive before their prediction: older label partitions are skipped, and
    # the rest is streamed, keeping only the labels of these predictions.
    first_day = pd.to_datetime(predictions[PREDICTION_DATE]).min().date().isoformat()
    since = GreaterThanOrEqual(term=LABEL_DATE, value=first_day)
    scan = lake.load(LABELS_TABLE).scan(row_filter=since, selected_fields=(PREDICTION_ID, label))
    ids = pa.array(predictions[PREDICTION_ID].astype(str).unique(), pa.string())
    reader = scan.to_arrow_batch_reader()
    kept = [batch.filter(pc.is_in(batch[PREDICTION_ID], value_set=ids)) for batch in reader]
    labels = pa.Table.from_batches(kept, reader.schema).to_pandas()
    return joined.merge(labels, on=PREDICTION_ID, how="left")

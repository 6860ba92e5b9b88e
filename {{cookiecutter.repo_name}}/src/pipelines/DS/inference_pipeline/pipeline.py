"""The seed's six batch inference steps for one run date: loading, features, model,
prediction, storage (a Parquet file in the object store and the day's rows of the predictions
table) and monitoring (drift). Batches are scored into a local file as they come, so memory
follows a batch, and nothing is stored until every batch passed."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from src.data.aws_integration import upload_file
from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.lake import Lake
from src.data.predictions import (
    PREDICTED_AT,
    PREDICTION_DATE,
    PREDICTION_ID,
    SOURCE,
    SOURCE_BATCH,
    predictions_schema,
    replace_batch_predictions,
)
from src.data.sampling import sample_batches
from src.errors import DataValidationError
from src.model.mlflow_manager import MlflowManager
from src.model.predictor import Predictor
from src.monitoring.drift import run_drift_report, write_reports
from src.names import PRODUCTION_ALIAS, batch_files_prefix

if TYPE_CHECKING:
    from src.context import ProjectContext


@dataclass(frozen=True)
class BatchInferenceOutcome:
    rows: int
    model_version: str
    output_uri: str
    drift: str  # the drift check's verdict, or why it was skipped


def load_rows(lake: Lake, view: FeatureView, day: date, file: Path | None) -> Iterator[pa.Table]:
    """Step 1: the day's gold rows (keys and features) batch by batch, or a scoring file."""
    if file is not None:
        yield pa.Table.from_pandas(read_scoring_file(file), preserve_index=False)
        return
    where = f"{INGEST_DATE} = '{day.isoformat()}'"
    if not lake.exists(view.table) or lake.count(view.table, where) == 0:
        raise DataValidationError(f"{view.table} has no rows for {day}; nothing to score")
    for batch in lake.stream(view.table, where, [*view.key_columns, *view.feature_names]):
        yield pa.Table.from_batches([batch])


def read_scoring_file(path: Path) -> pd.DataFrame:
    """A CSV, Parquet or JSON Lines file of rows (also what `drift-check --current` reads)."""
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix in {".jsonl", ".ndjson"}:
            return pd.read_json(path, lines=True)
        return pd.read_csv(path)
    except (ValueError, OSError) as error:
        raise DataValidationError(f"input file {path} is not readable: {error}") from error


def check_features(frame: pd.DataFrame, view: FeatureView) -> pd.DataFrame:
    """Step 2: the features in the contract's order, refused as an online request would be
    (missing, null where not nullable, outside `values`, not finite)."""
    problems = [f"{name} is missing" for name in view.feature_names if name not in frame]
    for feature in [f for f in view.features if f.name in frame]:
        values = frame[feature.name]
        if values.isna().any() and not feature.nullable:
            problems.append(f"{feature.name}: {int(values.isna().sum())} rows without a value")
        if feature.values and not values.dropna().isin(feature.values).all():
            outside = sorted(set(values.dropna()) - set(feature.values), key=str)[:5]
            problems.append(f"{feature.name}: {outside} not one of {feature.values}")
        if feature.is_numeric and values.abs().gt(1.7976931348623157e308).any():
            problems.append(f"{feature.name}: values that are not finite numbers")
    if problems:
        raise DataValidationError("rows to score break the contract: " + "; ".join(problems))
    return frame[view.feature_names]


def load_model(manager: MlflowManager, model_name: str, view: FeatureView) -> Predictor:
    """Step 3: the `production` model, which must take the contract's features in order."""
    predictor = manager.load_predictor(model_name, PRODUCTION_ALIAS)
    if predictor.feature_names != view.feature_names:
        raise DataValidationError(
            f"the production model takes {predictor.feature_names}, but config/features.yaml "
            f"defines {view.feature_names}; retrain with `make train-local`"
        )
    return predictor


def predict(predictor: Predictor, rows: pa.Table, view: FeatureView, day: date) -> pa.Table:
    """Step 4: one batch scored, in the predictions table's schema, with rerun-stable ids."""
    frame = rows.to_pandas()
    scored = pd.concat([frame, predictor.predict_frame(check_features(frame, view))], axis=1)
    scored[PREDICTION_ID] = prediction_ids(predictor, rows, view, day)
    scored[SOURCE], scored[PREDICTION_DATE] = SOURCE_BATCH, day
    scored[PREDICTED_AT] = datetime.now(UTC)
    scored["model_name"], scored["model_version"] = predictor.model_name, predictor.version
    schema = predictions_schema(view)
    return pa.Table.from_pandas(scored.reindex(columns=schema.names), schema=schema)


def prediction_ids(predictor: Predictor, rows: pa.Table, view: FeatureView, day: date) -> pa.Array:
    """md5 of (model, version, entity, event time); by position for a file without them."""
    model = f"{predictor.model_name}|{predictor.version}"
    entity, event_time = view.key_columns  # names from the contract: [a-z][a-z0-9_]*
    key = f'"{entity}"::VARCHAR, epoch_us("{event_time}")'
    if not set(view.key_columns) <= set(rows.column_names):
        key = f"'{day}', row_number() OVER ()"
    with duckdb.connect() as connection:
        connection.register("scored_rows", rows)
        query = f"SELECT md5(concat_ws('|', $model, {key})) AS id FROM scored_rows"  # noqa: S608  # nosec B608
        ids: pa.Table = connection.sql(query, params={"model": model}).to_arrow_table()
    return ids.column("id").combine_chunks()


def run_batch_inference(
    context: ProjectContext, day: date, input_file: Path | None = None
) -> BatchInferenceOutcome:
    """The six steps for `day` (or `input_file`) with the production model."""
    lake, view, model_name = context.lake, context.view, context.settings.model_name
    predictor = load_model(context.mlflow, model_name, view)
    prefix = batch_files_prefix(context.settings.aws.s3.processed_prefix)
    key = f"{prefix}/{PREDICTION_DATE}={day}/{model_name}.parquet"
    drift = context.monitoring.drift
    with tempfile.TemporaryDirectory(prefix="batch-inference-") as folder:
        path, rows = Path(folder) / "predictions.parquet", 0
        with pq.ParquetWriter(path, predictions_schema(view)) as output:
            for batch in load_rows(lake, view, day, input_file):
                scored = predict(predictor, batch, view, day)
                output.write_table(scored)
                rows += scored.num_rows
        upload_file(context.store, path, key)  # step 5: overwritten on a rerun, then the table

        def chunks() -> Iterator[pa.Table]:
            for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=500_000):
                yield pa.Table.from_batches([batch])

        replace_batch_predictions(lake, view, chunks, day, model_name)
        batches = pq.ParquetFile(path).iter_batches()
        current = sample_batches(batches, drift.max_current_rows, drift.sample_seed).to_pandas()
    # Step 6: the report of `make drift-check`, on the same columns (categories included), over
    # a seeded sample of the day's predictions; it does not alert.
    reference = context.mlflow.load_reference(
        predictor.run_id, drift.max_reference_rows, drift.sample_seed
    )
    try:
        result, report = run_drift_report(
            reference, current, view, predictor.task, context.monitoring
        )
    except DataValidationError as error:  # too few rows, say: the day is scored all the same
        return BatchInferenceOutcome(rows, predictor.version, key, f"skipped ({error})")
    summary = {"source": f"batch predictions of v{predictor.version}", **asdict(result)}
    write_reports(report, summary, context.settings.reports_dir, datetime.now(UTC))
    return BatchInferenceOutcome(rows, predictor.version, key, result.verdict())

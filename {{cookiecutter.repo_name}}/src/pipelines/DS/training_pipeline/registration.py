"""Step 5: log the candidate, its datasets and the drift reference set, and register a new
version tagged with its lineage (git commit, data snapshot, metrics); the model card, with
the promotion decision written in, becomes the version's description."""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404  # reads the git commit only, with a fixed argument list
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from sklearn.pipeline import Pipeline

from src.data.feature_store import FeatureView
from src.data.predictions import PREDICTION
from src.model.config import TrainingConfig
from src.model.mlflow_manager import (
    DATA_SNAPSHOT_TAG,
    DATA_TABLE_TAG,
    GIT_COMMIT_TAG,
    METRIC_TAG_PREFIX,
    MODEL_CARD_FILE,
    MlflowManager,
)
from src.model.predictor import Predictor
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.extraction import Extract
from src.pipelines.DS.training_pipeline.preprocessing import DatasetSplit
from src.pipelines.DS.training_pipeline.promotion import PromotionDecision
from src.pipelines.DS.training_pipeline.training import SearchResult


def current_git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        result = subprocess.run(  # noqa: S603  # nosec B603  # fixed arguments, no shell
            [git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def build_reference(
    model: Pipeline, split: DatasetSplit, view: FeatureView, config: TrainingConfig
) -> pd.DataFrame:
    """A seeded sample of at most `data.reference_rows` training rows with their label and
    the candidate's predictions: what drift checks compare against."""
    rows = min(config.data.reference_rows, len(split.x_train))
    reference = split.x_train.sample(n=rows, random_state=config.seed).sort_index()
    reference[view.label.name] = split.y_train.loc[reference.index]
    predictor = Predictor(model, config.task, view.feature_names, "", "", "", "")
    reference[PREDICTION] = predictor.predict_frame(reference)[PREDICTION]
    return reference.reset_index(drop=True)


def log_datasets(
    view: FeatureView, extract: Extract, split: DatasetSplit, reference: pd.DataFrame
) -> None:
    """The run's Datasets panel: schema, profile and digest of each set, with its snapshot."""
    label, name = view.label.name, f"{extract.table}@{extract.snapshot_id}"
    tags = {DATA_TABLE_TAG: extract.table, DATA_SNAPSHOT_TAG: extract.snapshot_id}
    sets = {
        "training": split.x_train.assign(**{label: split.y_train}),
        "evaluation": split.x_test.assign(**{label: split.y_test}),
        "reference": reference,
    }
    for context, frame in sets.items():
        dataset = from_pandas(frame.reset_index(drop=True), name=name, targets=label)
        mlflow.log_input(dataset, context=context, tags=tags)


def register_candidate(
    manager: MlflowManager,
    model_name: str,
    model: Pipeline,
    view: FeatureView,
    config: TrainingConfig,
    extract: Extract,
    split: DatasetSplit,
    evaluation: Evaluation,
    git_commit: str,
) -> str:
    """Log the model, reference and datasets; returns the new version's number."""
    info = manager.log_model(model, view, split.x_train, config.task)
    reference = build_reference(model, split, view, config)
    manager.log_reference(reference)
    log_datasets(view, extract, split, reference)
    lineage = {GIT_COMMIT_TAG: git_commit, DATA_TABLE_TAG: extract.table,
               DATA_SNAPSHOT_TAG: extract.snapshot_id}  # fmt: skip
    mlflow.set_tags(lineage)
    metrics = {f"{METRIC_TAG_PREFIX}{k}": f"{v:.6f}" for k, v in evaluation.candidate.items()}
    tags = {**lineage, **metrics, "feature_view": view.name, "estimator": config.model.estimator}
    return manager.register(info, model_name, tags, "pending: promotion has not run")


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = [list(map(str, frame.columns)), ["---"] * len(frame.columns)]
    lines += [[cell(value) for value in row] for row in frame.itertuples(index=False)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


@dataclass(frozen=True)
class ModelCard:
    """What a reviewer needs to trust a version: data, search, results, lineage, decision."""

    model_name: str
    version: str
    run_id: str
    git_commit: str
    view: FeatureView
    config: TrainingConfig
    extract: Extract
    split: DatasetSplit
    search: SearchResult
    evaluation: Evaluation
    decision: PromotionDecision

    def render(self) -> str:
        config, search, evaluation = self.config, self.search, self.evaluation
        decision, production = self.decision, self.decision.production
        models = {"baseline": evaluation.baseline, "candidate": evaluation.candidate}
        if production and production.metrics:
            models[f"production v{production.version}"] = production.metrics
        comparison = pd.DataFrame(models).T.reset_index(names="model")
        params = json.dumps({**config.model.params, **search.best_params}, default=str)
        top = self.evaluation.importance.head(5).itertuples()
        return "\n".join([
            f"# Model card: {self.model_name} v{self.version}", "",
            f"**Decision:** {decision.state} ({decision.reason})", "", "## Model",
            f"- {config.task} with `{config.model.estimator}`, parameters `{params}`, on the "
            f"{len(self.view.features)} features of `{self.view.name}` (label "
            f"`{self.view.label.name}`); not validated outside the training distribution, "
            "which the drift check watches",
            f"- Data: `{self.extract.table}` at Iceberg snapshot `{self.extract.snapshot_id}`; "
            f"{len(self.split.x_train)} training, {len(self.split.x_test)} holdout rows "
            f"(seed {config.seed})",
            f"- Search: {len(search.history)} Optuna trials, {config.search.cv_folds}-fold CV "
            f"{search.metric} {search.cv_mean:.4f} ± {search.cv_std:.4f}", "",
            f"## Holdout metrics (gate: `{search.metric}`)", markdown_table(comparison), "",
            f"## Error analysis by `{self.split.segment_feature}`",
            markdown_table(evaluation.segments), "",
            "## Most important features (permutation, holdout)",
            *(f"- `{row.feature}`: {row.importance:.4f}" for row in top), "",
            f"## Lineage\n- git commit `{self.git_commit}`; MLflow run `{self.run_id}`",
        ])  # fmt: skip

    def record(self, manager: MlflowManager) -> None:
        """The card as the run's artifact and the version's description."""
        text = self.render()
        mlflow.log_text(text, MODEL_CARD_FILE)
        manager.set_description(self.model_name, self.version, text)

"""Step 5: log the candidate, its datasets and reference set, and register a new version
tagged with its lineage (git commit, data snapshot, metrics) and described by a model card."""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404  # reads the git commit only, with a fixed argument list
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd

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
from src.pipelines.DS.training_pipeline.evaluation import EVALUATION_DIR, Evaluation
from src.pipelines.DS.training_pipeline.extraction import Extract
from src.pipelines.DS.training_pipeline.preprocessing import DatasetSplit
from src.pipelines.DS.training_pipeline.training import TrainedCandidate, cv_metric_names

PENDING = "pending: promotion has not run yet"
TOP_FEATURES_IN_CARD = 5


@dataclass(frozen=True)
class Registration:
    model_uri: str
    version: str
    card: ModelCard


def current_git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        result = subprocess.run(  # noqa: S603  # nosec B603  # fixed arguments, no shell
            [git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()


def build_reference(
    candidate: Any, split: DatasetSplit, view: FeatureView, config: TrainingConfig
) -> pd.DataFrame:
    """A seeded sample of the training features (at most `data.reference_rows` rows) with
    their label and the candidate's predictions: what drift checks compare against, of a
    size set by configuration, not by the training set."""
    rows = min(config.data.reference_rows, len(split.x_train))
    reference = split.x_train.sample(n=rows, random_state=config.seed).sort_index()
    reference[view.label.name] = split.y_train.loc[reference.index]
    scorer = Predictor(candidate, config.task, view.feature_names, "candidate", "", "", "")
    reference[PREDICTION] = scorer.predict_frame(reference[view.feature_names])[PREDICTION]
    return reference.reset_index(drop=True)


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if pd.isna(value) else f"{value:.4f}"
        return str(value)

    header = "| " + " | ".join(str(column) for column in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(cell(value) for value in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


@dataclass(frozen=True)
class ModelCard:
    """What a reviewer needs to trust a version: data, search, results, lineage, decision."""

    model_name: str
    view: FeatureView
    config: TrainingConfig
    extract: Extract
    split_rows: tuple[int, int]
    trained: TrainedCandidate
    evaluation: Evaluation
    git_commit: str
    run_id: str

    def comparison(self) -> pd.DataFrame:
        evaluation = self.evaluation
        rows: dict[str, dict[str, float] | None] = {
            "baseline": evaluation.baseline,
            f"production v{evaluation.production_version}": evaluation.production,
            "candidate": evaluation.candidate,
        }
        table = pd.DataFrame({name: metrics for name, metrics in rows.items() if metrics}).T
        return table.reset_index(names="model")

    def render(self, decision: str = PENDING) -> str:
        config, search, evaluation = self.config, self.trained.search, self.evaluation
        mean, _ = cv_metric_names(search.metric)
        top = evaluation.importance.head(TOP_FEATURES_IN_CARD)
        direction = "higher" if evaluation.higher_is_better else "lower"
        params = json.dumps(self.trained.params, sort_keys=True, default=str)
        return "\n".join(
            [
                f"# Model card: {self.model_name}",
                "",
                f"**Decision:** {decision}",
                "",
                "## Model",
                f"- Task: {config.task}; estimator `{config.model.estimator}`; parameters "
                f"`{params}`; feature selection: "
                f"{config.preprocessing.select_k_best or 'all'} features",
                f"- Intended use: {config.task} on rows of the feature view `{self.view.name}` "
                f"({len(self.view.features)} features, label `{self.view.label.name}`). "
                "Not validated for data outside the training distribution; the drift check "
                "compares live data with this version's reference set.",
                "",
                "## Data",
                f"- Table `{self.extract.table}`, Iceberg snapshot `{self.extract.snapshot_id}`",
                f"- {self.split_rows[0]} training rows, {self.split_rows[1]} holdout rows "
                f"(seed {config.seed})",
                "",
                "## Search",
                f"- {len(search.trials)} Optuna trials ({search.pruned} pruned), "
                f"{config.search.cv_folds}-fold cross-validation on `{search.metric}`: "
                f"{mean} = {search.best_cv_mean:.4f} ± {search.best_cv_std:.4f}",
                "",
                f"## Holdout metrics (gate: `{evaluation.gate_metric}`, {direction} is better)",
                markdown_table(self.comparison()),
                "",
                f"## Error analysis by `{config.evaluation.segment_feature}`",
                markdown_table(evaluation.segments),
                "",
                "## Most important features (permutation, holdout)",
                *(f"- `{row.feature}`: {row.importance:.4f}" for row in top.itertuples()),
                "",
                "## Lineage",
                f"- Git commit `{self.git_commit}`; MLflow run `{self.run_id}`",
            ]
        )


def log_datasets(
    manager: MlflowManager,
    view: FeatureView,
    extract: Extract,
    split: DatasetSplit,
    reference: pd.DataFrame,
) -> None:
    label = view.label.name
    tags = {DATA_TABLE_TAG: extract.table, DATA_SNAPSHOT_TAG: extract.snapshot_id}
    name = f"{extract.table}@{extract.snapshot_id}"
    training = split.x_train.assign(**{label: split.y_train}).reset_index(drop=True)
    holdout = split.x_test.assign(**{label: split.y_test}).reset_index(drop=True)
    for frame, context in ((training, "training"), (holdout, "evaluation")):
        manager.log_dataset(frame, name, context, extract.location, targets=label, tags=tags)
    manager.log_dataset(
        reference, f"{name}:reference", "reference", extract.location, label, PREDICTION, tags
    )


def register_candidate(
    manager: MlflowManager,
    model_name: str,
    trained: TrainedCandidate,
    split: DatasetSplit,
    view: FeatureView,
    config: TrainingConfig,
    extract: Extract,
    evaluation: Evaluation,
    run_id: str,
) -> Registration:
    model_info = manager.log_model(trained.model, split.x_train, config.task, split.kinds.nullable)
    reference = build_reference(trained.model, split, view, config)
    manager.log_reference(reference)
    log_datasets(manager, view, extract, split, reference)
    mlflow.log_text(
        json.dumps(evaluation.candidate, indent=2), f"{EVALUATION_DIR}/holdout_metrics.json"
    )
    card = ModelCard(
        model_name=model_name,
        view=view,
        config=config,
        extract=extract,
        split_rows=(len(split.x_train), len(split.x_test)),
        trained=trained,
        evaluation=evaluation,
        git_commit=current_git_commit(),
        run_id=run_id,
    )
    lineage = {
        GIT_COMMIT_TAG: card.git_commit,
        DATA_TABLE_TAG: extract.table,
        DATA_SNAPSHOT_TAG: extract.snapshot_id,
    }
    mlflow.set_tags(lineage)
    tags = {
        **lineage,
        "feature_view": view.name,
        "estimator": config.model.estimator,
        **{
            f"{METRIC_TAG_PREFIX}{name}": f"{value:.6f}"
            for name, value in evaluation.candidate.items()
        },
    }
    text = card.render()
    mlflow.log_text(text, MODEL_CARD_FILE)
    version = manager.register(model_info, model_name, run_id, tags, text)
    return Registration(model_uri=model_info.model_uri, version=str(version.version), card=card)

"""Step 5, registration: the candidate, its datasets and the drift reference logged, and a
version tagged with its lineage; the model card becomes its description once promotion decided."""

import json
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from sklearn.pipeline import Pipeline

from src.data.feature_store import FeatureView
from src.data.predictions import PREDICTION
from src.model.mlflow_manager import (
    DATA_SNAPSHOT_TAG,
    DATA_TABLE_TAG,
    GIT_COMMIT_TAG,
    METRIC_TAG_PREFIX,
    MlflowManager,
)
from src.model.train import TrainingConfig
from src.pipelines.DS.training_pipeline.dataset import DatasetSplit
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.promotion import PromotionDecision
from src.pipelines.DS.training_pipeline.training import SearchResult


@dataclass(frozen=True)
class TrainingOutcome:
    model_name: str
    version: str
    run_id: str
    git_commit: str
    snapshot_id: str
    split: DatasetSplit
    search: SearchResult
    evaluation: Evaluation
    decision: PromotionDecision


def register_candidate(
    manager: MlflowManager,
    model_name: str,
    model: Pipeline,
    view: FeatureView,
    config: TrainingConfig,
    split: DatasetSplit,
    evaluation: Evaluation,
    commit: str,
    snapshot_id: str,
) -> str:
    """Log the model, the drift reference and the datasets; returns the new version."""
    lineage = {GIT_COMMIT_TAG: commit, DATA_TABLE_TAG: view.table, DATA_SNAPSHOT_TAG: snapshot_id}
    info = manager.log_model(model, view, split.x_train, config.task)
    label, name = view.label.name, f"{view.table}@{snapshot_id}"
    training = split.x_train.assign(**{label: split.y_train})
    rows = min(config.data.reference_rows, len(training))
    reference = training.sample(n=rows, random_state=config.seed).sort_index()
    reference[PREDICTION] = model.predict(reference[view.feature_names])
    manager.log_reference(reference.reset_index(drop=True))
    holdout = split.x_test.assign(**{label: split.y_test})
    sets = {"training": training, "evaluation": holdout, "reference": reference}
    for context, frame in sets.items():
        dataset = from_pandas(frame.reset_index(drop=True), name=name, targets=label)
        mlflow.log_input(dataset, context=context, tags=lineage)
    mlflow.set_tags(lineage)
    metrics = {f"{METRIC_TAG_PREFIX}{k}": f"{v:.6f}" for k, v in evaluation.candidate.items()}
    tags = {**lineage, **metrics, "feature_view": view.name, "estimator": config.model.estimator}
    return str(mlflow.register_model(info.model_uri, model_name, tags=tags).version)


def render_model_card(outcome: TrainingOutcome, view: FeatureView, config: TrainingConfig) -> str:
    """What a reviewer needs to trust a version: data, search, results, lineage, decision."""
    search, evaluation, decision = outcome.search, outcome.evaluation, outcome.decision
    models = {"baseline": evaluation.baseline, "candidate": evaluation.candidate}
    if decision.production and decision.production.metrics:
        models[f"production v{decision.production.version}"] = decision.production.metrics
    comparison = pd.DataFrame(models).T.reset_index(names="model")
    params = json.dumps({**config.model.params, **search.best_params}, default=str)
    top = evaluation.importance.head(5).itertuples()
    four = "{:.4f}".format
    metrics = comparison.to_string(index=False, float_format=four)
    segments = evaluation.segments.to_string(index=False, float_format=four)
    split = outcome.split
    lines = [
        f"# Model card: {outcome.model_name} v{outcome.version}\n",
        f"**Decision:** {decision.state} ({decision.reason})\n\n## Model",
        f"- {config.task} with `{config.model.estimator}`, parameters `{params}`, on the "
        f"{len(view.features)} features of `{view.name}` (label `{view.label.name}`); not "
        "validated outside the training distribution, which the drift check watches",
        f"- Data: `{view.table}` at Iceberg snapshot `{outcome.snapshot_id}`; "
        f"{len(split.x_train)} training, {len(split.x_test)} holdout rows (seed {config.seed})",
        f"- Search: {len(search.history)} Optuna trials, {config.search.cv_folds}-fold CV "
        f"{search.metric} {search.cv_mean:.4f} ± {search.cv_std:.4f}\n",
        f"## Holdout metrics (gate: `{search.metric}`)\n```\n{metrics}\n```\n",
        f"## Error analysis by `{split.segment_feature}`\n```\n{segments}\n```\n",
        "## Most important features (permutation, holdout)",
        *(f"- `{row.feature}`: {row.importance:.4f}" for row in top),
        f"\n## Lineage\n- git commit `{outcome.git_commit}`; MLflow run `{outcome.run_id}`",
    ]
    return "\n".join(lines)

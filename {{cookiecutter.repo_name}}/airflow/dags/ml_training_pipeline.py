"""
### ML training pipeline: feature store -> MLflow run -> registry -> staging / production

Weekly, by hand (the `trials` param sets the run's Optuna trials), and when
`ml_monitoring_pipeline` finds drift (its conf names the report). `train_model` runs the
seed's six steps under one MLflow run: extraction, preprocessing and split, training,
evaluation against the baseline and production, registration, promotion; its XCom holds
the model name, version, run id and promotion state. Same code as `make train-local`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag
from dag_support import DAG_DEFAULTS, heavy_step


@dag(
    schedule="@weekly",
    tags=["ml"],
    doc_md=__doc__,
    params={
        "trials": Param(None, type=["null", "integer"], minimum=1, description="Optuna trials")
    },
    **DAG_DEFAULTS,
)
def ml_training_pipeline() -> None:
    heavy_step("training", "train_model")


ml_training_pipeline()

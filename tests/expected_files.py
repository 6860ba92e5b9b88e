"""The exact set of files a rendered project holds, per option.

Adding a file to the template means adding it here, under the component it belongs to:
the render tests fail on any file that is missing or unexpected.
"""

from __future__ import annotations

COMMON = {
    ".cookiecutter.json",
    ".dockerignore",
    ".env",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    "LICENSE",
    "Makefile",
    "README.md",
    "config/aws_config.yaml",
    "config/features.yaml",
    "config/monitoring.yaml",
    "config/training.yaml",
    "pyproject.toml",
    "scripts/generate_env.py",
    "src/__init__.py",
    "src/__main__.py",
    "src/cli.py",
    "src/config.py",
    "src/context.py",
    "src/data/__init__.py",
    "src/data/aws_integration.py",
    "src/data/feature_store.py",
    "src/data/intervals.py",
    "src/data/lake.py",
    "src/data/predictions.py",
    "src/data/sample_data.py",
    "src/data/tables.py",
    "src/errors.py",
    "src/inference/__init__.py",
    "src/inference/api.py",
    "src/inference/monitoring.py",
    "src/model/__init__.py",
    "src/model/config.py",
    "src/model/evaluate.py",
    "src/model/mlflow_manager.py",
    "src/model/predictor.py",
    "src/model/train.py",
    "src/monitoring/__init__.py",
    "src/monitoring/config.py",
    "src/monitoring/drift.py",
    "src/pipelines/DE/__init__.py",
    "src/pipelines/DE/bronze.py",
    "src/pipelines/DE/gold.py",
    "src/pipelines/DE/pipeline.py",
    "src/pipelines/DE/silver.py",
    "src/pipelines/DS/__init__.py",
    "src/pipelines/DS/inference_pipeline/__init__.py",
    "src/pipelines/DS/inference_pipeline/features.py",
    "src/pipelines/DS/inference_pipeline/loading.py",
    "src/pipelines/DS/inference_pipeline/model_loading.py",
    "src/pipelines/DS/inference_pipeline/monitoring.py",
    "src/pipelines/DS/inference_pipeline/pipeline.py",
    "src/pipelines/DS/inference_pipeline/prediction.py",
    "src/pipelines/DS/inference_pipeline/storage.py",
    "src/pipelines/DS/training_pipeline/__init__.py",
    "src/pipelines/DS/training_pipeline/evaluation.py",
    "src/pipelines/DS/training_pipeline/extraction.py",
    "src/pipelines/DS/training_pipeline/pipeline.py",
    "src/pipelines/DS/training_pipeline/preprocessing.py",
    "src/pipelines/DS/training_pipeline/promotion.py",
    "src/pipelines/DS/training_pipeline/registration.py",
    "src/pipelines/DS/training_pipeline/training.py",
    "src/pipelines/__init__.py",
    "src/settings.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/e2e/__init__.py",
    "tests/e2e/test_makefile.py",
    "tests/integration/__init__.py",
    "tests/integration/test_api.py",
    "tests/integration/test_batch_inference.py",
    "tests/integration/test_data_pipeline.py",
    "tests/integration/test_training.py",
    "tests/unit/__init__.py",
    "tests/unit/test_drift.py",
    "tests/unit/test_generate_env.py",
    "tests/unit/test_intervals.py",
    "tests/unit/test_promotion.py",
    "tests/unit/test_settings.py",
}

# Files that exist only when the option has this value.
OPTIONAL: dict[tuple[str, str], set[str]] = {
    ("include_airflow", "yes"): {
        "airflow/.gitignore",
        "airflow/dags/.airflowignore",
        "airflow/dags/dag_support.py",
        "airflow/dags/data_pipeline.py",
        "airflow/dags/ml_batch_inference_pipeline.py",
        "airflow/dags/ml_monitoring_pipeline.py",
        "airflow/dags/ml_training_pipeline.py",
        "docs/orchestration.md",
        "scripts/airflow_local.py",
        "tests/integration/test_dags.py",
        "tests/unit/test_airflow_local.py",
    },
    ("include_monitoring_stack", "yes"): set(),
    ("ci_provider", "github"): set(),
}


def expected_files(options: dict[str, str]) -> set[str]:
    expected = set(COMMON)
    for (option, value), files in OPTIONAL.items():
        if options.get(option) == value:
            expected |= files
    return expected

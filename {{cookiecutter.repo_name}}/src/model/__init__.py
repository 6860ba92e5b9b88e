"""Model layer: training configuration, estimators, evaluation and the MLflow registry."""

"""Step 3: the `production` model from the registry."""

from __future__ import annotations

from src.model.mlflow_manager import PRODUCTION_ALIAS, MlflowManager
from src.model.predictor import Predictor


def load_production_model(manager: MlflowManager, model_name: str) -> Predictor:
    return manager.load_predictor(model_name, PRODUCTION_ALIAS)

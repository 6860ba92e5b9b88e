"""Step 3: the `production` model from the registry."""

from __future__ import annotations

from src.data.feature_store import FeatureView
from src.errors import DataValidationError
from src.model.mlflow_manager import PRODUCTION_ALIAS, MlflowManager
from src.model.predictor import Predictor


def load_production_model(manager: MlflowManager, model_name: str) -> Predictor:
    return manager.load_predictor(model_name, PRODUCTION_ALIAS)


def check_model_features(feature_names: list[str], view: FeatureView) -> None:
    """The model must take the feature view's features in its order (the shared contract)."""
    if feature_names != view.feature_names:
        raise DataValidationError(
            f"the production model takes {feature_names}, but the feature view "
            f"{view.name} defines {view.feature_names}; retrain with `make train-local`"
        )

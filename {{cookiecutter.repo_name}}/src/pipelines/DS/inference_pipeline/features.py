"""Step 2: the feature transformations of training, from the one shared code path."""

from __future__ import annotations

import pandas as pd

from src.data.feature_store import FeatureView


def prepare_features(frame: pd.DataFrame, view: FeatureView) -> pd.DataFrame:
    """Rows in the feature view's contract: typed features, in the view's order.

    Scaling and any other learned transformation live inside the logged model pipeline,
    so training and inference cannot drift apart on them.
    """
    prepared = frame.copy()
    for feature in view.features:
        prepared[feature.name] = pd.to_numeric(prepared[feature.name]).astype(feature.dtype)
    return prepared

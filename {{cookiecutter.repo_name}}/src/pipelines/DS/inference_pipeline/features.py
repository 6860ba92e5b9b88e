"""Step 2: the feature transformations of training, from the one shared code path.

Training and inference both read the feature view's typed columns in the view's order
(config/features.yaml); everything learned from data (scaling...) lives inside the
logged model pipeline, so the two paths cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from src.data.feature_store import FeatureView


def prepare_features(table: pa.Table, view: FeatureView) -> np.ndarray:
    """The model input: a float matrix whose columns follow the view's feature order."""
    matrix = np.empty((table.num_rows, len(view.features)), dtype=np.float64)
    for index, name in enumerate(view.feature_names):
        matrix[:, index] = table.column(name).to_numpy()
    return matrix

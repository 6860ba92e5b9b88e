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
    """The model input, columns in the view's feature order: a float matrix (missing values
    NaN), or an object matrix when the view has categorical features (missing: None)."""
    categorical = set(view.categorical_features)
    dtype: type = object if categorical else np.float64
    matrix = np.empty((table.num_rows, len(view.features)), dtype=dtype)
    for index, name in enumerate(view.feature_names):
        column = table.column(name)
        if categorical:
            # Python values in a mixed matrix: strings, booleans, numbers, None if missing.
            matrix[:, index] = np.asarray(column.to_pylist(), dtype=object)
        else:
            matrix[:, index] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return matrix

"""Reference and current data for the drift tests, synthesized from config/features.yaml.

The contract's features, plus a string and a boolean one, so the categorical path is
always tested whatever the contract holds. A shifted column moves its mean by half its
spread (numbers) or its frequencies (categories); the others keep their distribution.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from src.data.feature_store import Column, FeatureView, load_feature_view
from src.data.predictions import PREDICTION
from src.settings import FEATURES_FILE

PLAN, FLAG = "drift_test_plan", "drift_test_flag"


def contract_view() -> FeatureView:
    view = load_feature_view(FEATURES_FILE)
    extra = [Column(name=PLAN, dtype="string", nullable=True), Column(name=FLAG, dtype="bool")]
    return view.model_copy(update={"features": [*view.features, *extra]})


def contract_frame(
    view: FeatureView, rows: int, seed: int, shifted: Collection[str] = ()
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for column in view.features:
        moved = column.name in shifted
        if column.dtype == "bool":
            data[column.name] = rng.random(rows) < (0.8 if moved else 0.3)
        elif column.dtype == "string":
            labels = [str(value) for value in column.values or ["basic", "plus", "pro"]]
            weights = np.arange(len(labels), 0, -1.0) if moved else np.ones(len(labels))
            data[column.name] = rng.choice(labels, rows, p=weights / weights.sum())
        else:
            low = column.min if column.min is not None else 0.0
            numbers = low + 10 + rng.normal(1.0 if moved else 0.0, 2.0, rows)
            data[column.name] = (
                numbers.round().astype("int64") if column.dtype == "int64" else numbers
            )
    data[PREDICTION] = rng.choice([0, 1], rows, p=[0.2, 0.8] if PREDICTION in shifted else None)
    return pd.DataFrame(data)

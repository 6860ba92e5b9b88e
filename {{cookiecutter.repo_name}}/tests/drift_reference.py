"""A plain Evidently DataDriftPreset run, the reference the project's drift check is held to.

The unit tests and the drift benchmark compare each column's score and decision with it.
"""

from __future__ import annotations

import pandas as pd


def run_plain_preset(
    reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, tuple[float, bool]]:
    """Each column's score and decision from a plain Evidently DataDriftPreset run."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = list(reference.columns)
    content = (
        Report([DataDriftPreset(columns=columns)], include_tests=True)
        .run(current_data=current, reference_data=reference)
        .dict()
    )
    scores = {
        metric["config"]["column"]: float(metric["value"])
        for metric in content["metrics"]
        if metric["config"].get("type", "").endswith("ValueDrift")
    }
    failed = {
        test["metric_config"]["params"]["column"]
        for test in content["tests"]
        if test["id"] == "drift" and test["status"] == "FAIL"
    }
    return {column: (scores[column], column in failed) for column in columns}

"""The promotion gates as data: one record per gate, both applied by `decide`."""

import pandas as pd
import pytest

from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.promotion import Gate, Production, decide
from tests.training_data import task_config

GATES = {"min_improvement_over_baseline": 0.05, "min_improvement_over_production": 0.01}
CONFIG = task_config("classification", promotion={"gate_metric": "roc_auc", **GATES})


def scores(candidate: float, baseline: float = 0.5, metric: str = "roc_auc") -> Evaluation:
    return Evaluation({metric: candidate}, {metric: baseline}, pd.DataFrame(), pd.DataFrame())


def test_a_gate_compares_in_the_metrics_direction() -> None:
    higher, lower = Gate("roc_auc", 0.01, True), Gate("rmse", 5.0, False)
    passed, reason = higher.check({"roc_auc": 0.92}, {"roc_auc": 0.9}, "production v3")
    assert passed and reason == "roc_auc +0.0200 against production v3, meeting the required 0.01"
    assert lower.check({"rmse": 40.0}, {"rmse": 50.0}, "the baseline")[0]
    assert not lower.check({"rmse": 48.0}, {"rmse": 50.0}, "the baseline")[0]


@pytest.mark.parametrize(
    ("candidate", "production", "state", "reason"),
    [
        (0.54, None, "rejected", "against the baseline, less than the required 0.05"),
        (0.9, None, "production", "no production model yet"),
        (
            0.9,
            0.95,
            "staging",
            "-0.0500 against production v3, less than the required 0.01; production left untouched",
        ),
        (0.9, 0.895, "staging", "production left untouched"),
        (0.93, 0.9, "production", "+0.0300 against production v3, meeting the required 0.01"),
    ],
)
def test_the_gates_decide_where_a_candidate_goes(
    candidate: float, production: float | None, state: str, reason: str
) -> None:
    current = None if production is None else Production("3", {"roc_auc": production})
    decision = decide(scores(candidate), current, CONFIG)
    assert decision.state == state and reason in decision.reason
    assert decision.staged == (state != "rejected") and decision.promoted == (state == "production")


def test_a_production_model_that_cannot_be_scored_is_left_untouched() -> None:
    unscorable = Production("3", None, "production v3 needs features the holdout lacks: ['old']")
    decision = decide(scores(0.99), unscorable, CONFIG)
    assert decision.state == "staging" and "['old']; production left untouched" in decision.reason


def test_lower_is_better_metrics_are_compared_the_other_way() -> None:
    gates = {"min_improvement_over_baseline": 5, "min_improvement_over_production": 0}
    config = task_config("regression", promotion={"gate_metric": "rmse", **gates})
    assert decide(scores(40.0, 80.0, "rmse"), Production("1", {"rmse": 50.0}), config).promoted
    assert not decide(scores(60.0, 80.0, "rmse"), Production("1", {"rmse": 50.0}), config).promoted
    assert not decide(scores(78.0, 80.0, "rmse"), None, config).staged


def test_a_candidate_short_of_a_required_holdout_score_is_rejected() -> None:
    gates = {"min_improvement_over_baseline": 5, "min_improvement_over_production": 0}
    promotion = {"gate_metric": "rmse", **gates, "required_holdout_scores": {"rmse": 45.0}}
    config = task_config("regression", promotion=promotion)
    assert decide(scores(40.0, 80.0, "rmse"), None, config).promoted
    decision = decide(scores(50.0, 80.0, "rmse"), None, config)
    assert not decision.staged
    assert "; but rmse -5.0000 against its floor, less than the required" in decision.reason

import pytest

from src.model.config import TrainingConfig
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.promotion import decide_promotion

CONFIG = TrainingConfig.model_validate(
    {
        "task": "classification",
        "model": {"estimator": "logistic_regression"},
        "promotion": {
            "gate_metric": "roc_auc",
            "higher_is_better": True,
            "min_improvement_over_baseline": 0.05,
            "min_improvement_over_production": 0.01,
        },
    }
)


def evaluation(candidate: float, baseline: float, production: float | None) -> Evaluation:
    return Evaluation(
        candidate={"roc_auc": candidate},
        baseline={"roc_auc": baseline},
        production={"roc_auc": production} if production is not None else None,
        production_version="3" if production is not None else None,
        gate_metric="roc_auc",
        higher_is_better=True,
    )


def test_first_model_that_beats_the_baseline_goes_to_production() -> None:
    decision = decide_promotion(evaluation(0.9, 0.5, None), CONFIG)
    assert decision.staged and decision.promoted


def test_candidate_too_close_to_the_baseline_is_rejected() -> None:
    decision = decide_promotion(evaluation(0.54, 0.5, None), CONFIG)
    assert not decision.staged and not decision.promoted
    assert "baseline" in decision.reason


@pytest.mark.parametrize("production", [0.95, 0.895])
def test_candidate_not_better_than_production_stays_in_staging(production: float) -> None:
    decision = decide_promotion(evaluation(0.9, 0.5, production), CONFIG)
    assert decision.staged and not decision.promoted
    assert "production left untouched" in decision.reason


def test_candidate_better_than_production_is_promoted() -> None:
    decision = decide_promotion(evaluation(0.93, 0.5, 0.9), CONFIG)
    assert decision.promoted


def test_lower_is_better_metrics_are_compared_the_other_way() -> None:
    config = CONFIG.model_copy(
        update={
            "task": "regression",
            "promotion": CONFIG.promotion.model_copy(
                update={"gate_metric": "rmse", "higher_is_better": False}
            ),
        }
    )
    better = Evaluation({"rmse": 40.0}, {"rmse": 80.0}, {"rmse": 50.0}, "1", "rmse", False)
    worse = Evaluation({"rmse": 60.0}, {"rmse": 80.0}, {"rmse": 50.0}, "1", "rmse", False)
    assert decide_promotion(better, config).promoted
    assert not decide_promotion(worse, config).promoted

import pytest

from src.model.config import TrainingConfig
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.promotion import compare_predictions, decide_promotion

CONFIG = TrainingConfig.model_validate(
    {
        "task": "classification",
        "model": {"estimator": "sklearn.linear_model.LogisticRegression"},
        "evaluation": {"segment_feature": "x"},
        "promotion": {
            "gate_metric": "roc_auc",
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
    assert decision.state == "production"


def test_candidate_too_close_to_the_baseline_is_rejected() -> None:
    decision = decide_promotion(evaluation(0.54, 0.5, None), CONFIG)
    assert not decision.staged and not decision.promoted
    assert decision.state == "rejected"
    assert "baseline" in decision.reason


@pytest.mark.parametrize("production", [0.95, 0.905])
def test_candidate_not_better_than_production_stays_in_staging(production: float) -> None:
    decision = decide_promotion(evaluation(0.9, 0.5, production), CONFIG)
    assert decision.staged and not decision.promoted
    assert decision.state == "staging"
    assert "production left untouched" in decision.reason


def test_candidate_better_than_production_by_the_margin_is_promoted() -> None:
    decision = decide_promotion(evaluation(0.93, 0.5, 0.9), CONFIG)
    assert decision.promoted
    assert "+0.0300 against production v3" in decision.reason


def test_production_that_cannot_be_scored_is_left_untouched() -> None:
    unscorable = Evaluation(
        candidate={"roc_auc": 0.99},
        baseline={"roc_auc": 0.5},
        production=None,
        production_version="3",
        gate_metric="roc_auc",
        higher_is_better=True,
        production_unavailable="production v3 needs features the holdout lacks: old_feature",
    )
    decision = decide_promotion(unscorable, CONFIG)
    assert decision.staged and not decision.promoted
    assert "old_feature" in decision.reason


def test_lower_is_better_metrics_are_compared_the_other_way() -> None:
    config = CONFIG.model_copy(
        update={
            "task": "regression",
            "promotion": CONFIG.promotion.model_copy(update={"gate_metric": "rmse"}),
        }
    )
    better = Evaluation({"rmse": 40.0}, {"rmse": 80.0}, {"rmse": 50.0}, "1", "rmse", False)
    worse = Evaluation({"rmse": 60.0}, {"rmse": 80.0}, {"rmse": 50.0}, "1", "rmse", False)
    assert decide_promotion(better, config).promoted
    assert not decide_promotion(worse, config).promoted


def test_staged_predictions_must_match_the_trained_candidate() -> None:
    import pandas as pd

    expected = pd.DataFrame({"prediction": [0, 1], "probability": [0.9, 0.8]})
    assert compare_predictions(expected, expected.copy()) == []
    flipped = expected.assign(prediction=[1, 1])
    assert compare_predictions(expected, flipped) == [
        "the staged model predicts differently from the trained candidate"
    ]
    assert "missing values" in compare_predictions(expected, expected.assign(probability=None))[0]


def test_a_long_model_card_is_cut_to_what_the_registry_stores() -> None:
    from src.model.mlflow_manager import MAX_DESCRIPTION, fit_description

    assert fit_description("short card") == "short card"
    cut = fit_description("x" * (MAX_DESCRIPTION * 2))
    assert len(cut) == MAX_DESCRIPTION
    assert cut.endswith("the full model card is the run's model_card.md artifact)")

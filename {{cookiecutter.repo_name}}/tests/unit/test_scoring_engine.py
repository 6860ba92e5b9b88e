"""The scoring engine scores concurrent requests together, each getting its own rows back."""

from __future__ import annotations

import asyncio

import numpy as np
from sklearn.linear_model import LogisticRegression

from src.data.predictions import ScoredRows
from src.inference.engine import NonFinitePrediction, ScoringEngine
from src.inference.model_state import ServedModel
from src.model.predictor import Predictor


class CountingModel(LogisticRegression):  # type: ignore[misc]
    calls = 0

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        CountingModel.calls += 1
        return np.asarray(super().predict_proba(matrix))


def served_model() -> ServedModel:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 2))
    model = CountingModel().fit(features, (features[:, 0] > 0).astype(int))
    predictor = Predictor(model, "classification", ["a", "b"], "m", "1", "production", "run")
    return ServedModel.of(predictor)


def test_concurrent_requests_share_one_model_call() -> None:
    served = served_model()
    logged: list[ScoredRows] = []
    engine = ScoringEngine(max_rows=100, on_scored=logged.append)

    async def score_all() -> list[np.ndarray]:
        engine.start()
        rows = [np.array([[float(i) - 4.5, 0.0]]) for i in range(10)]
        results = await asyncio.gather(
            *(engine.score(served, row, [f"id{i}"]) for i, row in enumerate(rows))
        )
        return [result.predictions for result in results]

    CountingModel.calls = 0
    predictions = asyncio.run(score_all())
    assert CountingModel.calls == 1
    assert [int(p[0]) for p in predictions] == [0] * 5 + [1] * 5
    assert [list(chunk.prediction_ids) for chunk in logged] == [[f"id{i}" for i in range(10)]]


def test_max_rows_splits_model_calls() -> None:
    served = served_model()
    engine = ScoringEngine(max_rows=4)

    async def score_all() -> None:
        engine.start()
        await asyncio.gather(
            *(engine.score(served, np.zeros((2, 2)), ["a", "b"]) for _ in range(5))
        )

    CountingModel.calls = 0
    asyncio.run(score_all())
    assert CountingModel.calls == 3


def test_a_non_finite_output_fails_only_its_request() -> None:
    served = served_model()
    engine = ScoringEngine(max_rows=100)

    async def score_all() -> tuple[object, object]:
        engine.start()
        huge = np.array([[1e308, -1e308]]) * 10  # inf - inf: no finite prediction
        return await asyncio.gather(
            engine.score(served, np.zeros((1, 2)), ["ok"]),
            engine.score(served, huge, ["bad"]),
            return_exceptions=True,
        )

    ok, bad = asyncio.run(score_all())
    assert not isinstance(ok, Exception)
    assert isinstance(bad, NonFinitePrediction)


def test_a_failing_prediction_log_answers_the_requests_and_keeps_the_engine_serving() -> None:
    served = served_model()
    failures = iter([RuntimeError("log is down")])

    def flaky_log(scored: ScoredRows) -> None:
        for failure in failures:  # only the first call fails
            raise failure

    engine = ScoringEngine(max_rows=100, on_scored=flaky_log)

    async def score_twice() -> tuple[object, object]:
        engine.start()
        first = await asyncio.gather(
            engine.score(served, np.zeros((1, 2)), ["first"]), return_exceptions=True
        )
        second = await asyncio.wait_for(engine.score(served, np.zeros((1, 2)), ["second"]), 5)
        return first[0], second

    first, second = asyncio.run(score_twice())
    assert isinstance(first, RuntimeError)
    assert second.predictions.shape == (1,)  # type: ignore[attr-defined]

"""The scoring engine: every model call of the API goes through here.

Requests hand their rows to the engine and await the result. The engine scores on the
next turn of the event loop, together with every other request parsed in the meantime
(adaptive micro-batching): a lone request is scored at once, and under load one model
call serves many requests, whose per-call overhead dominates for small models.

Scoring runs on the event-loop thread itself. A worker thread looks attractive but
costs more: with the GIL, the loop and the worker hand the interpreter back and forth
on every request, which measured 2-3x slower with tail latencies of several
milliseconds (docs/serving.md). A model call of a few hundred rows takes well under a
millisecond; heavier models should run with more workers (API__WORKERS).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from src.data.predictions import SOURCE_ONLINE, ScoredRows
from src.inference.model_state import ServedModel
from src.model.predictor import PredictionArrays

logger = logging.getLogger(__name__)

ScoredRowsSink = Callable[[ScoredRows], None]


class NonFinitePrediction(ValueError):  # noqa: N818  # names what happened, like KeyError
    """The model produced NaN or infinity, which happens for inputs far outside its range."""

    def __init__(self, rows: list[int]) -> None:
        super().__init__(
            f"the model gives no finite prediction for row(s) {rows}: "
            "feature values are far outside the range it was trained on"
        )
        self.rows = rows


class EngineClosed(RuntimeError):  # noqa: N818
    pass


@dataclass
class ScoringJob:
    served: ServedModel
    matrix: np.ndarray
    prediction_ids: Sequence[str]
    entity_ids: Sequence[str | None] | None
    future: asyncio.Future[PredictionArrays]


@dataclass
class _Outcome:
    result: PredictionArrays | None = None
    error: Exception | None = None
    scored: list[ScoredRows] = field(default_factory=list)


class ScoringEngine:
    def __init__(self, max_rows: int, on_scored: ScoredRowsSink | None = None) -> None:
        self.max_rows = max_rows
        self.on_scored = on_scored
        self._pending: list[ScoringJob] = []
        self._scheduled = False
        self._open = False

    def start(self) -> None:
        self._open = True

    def close(self) -> None:
        """Refuse new jobs; accepted ones are scored on the loop turn already scheduled."""
        self._open = False

    async def score(
        self,
        served: ServedModel,
        matrix: np.ndarray,
        prediction_ids: Sequence[str],
        entity_ids: Sequence[str | None] | None = None,
    ) -> PredictionArrays:
        if not self._open:
            raise EngineClosed("the scoring engine is not running")
        loop = asyncio.get_running_loop()
        job = ScoringJob(served, matrix, prediction_ids, entity_ids, loop.create_future())
        self._pending.append(job)
        if not self._scheduled:
            self._scheduled = True
            # call_soon, not scoring now: requests already parsed in this loop turn join in.
            loop.call_soon(self._dispatch)
        return await job.future

    def _dispatch(self) -> None:
        # Whatever fails, every taken job gets an answer and later jobs get dispatched:
        # a request must never wait forever on a future nobody resolves.
        try:
            while self._pending:
                jobs = self._take_jobs()
                try:
                    outcomes = self._run(jobs)
                except Exception as error:  # metrics or the prediction log, not the model
                    logger.exception("recording a scoring call failed")
                    outcomes = [_Outcome(error=error) for _ in jobs]
                for job, outcome in zip(jobs, outcomes, strict=True):
                    if job.future.done():  # the client went away
                        continue
                    if outcome.error is not None:
                        job.future.set_exception(outcome.error)
                    else:
                        job.future.set_result(outcome.result)  # type: ignore[arg-type]
        finally:
            self._scheduled = False

    def _take_jobs(self) -> list[ScoringJob]:
        """Pending jobs up to `max_rows` rows (at least one job, whatever its size)."""
        taken, rows = 0, 0
        for job in self._pending:
            if taken and rows + len(job.matrix) > self.max_rows:
                break
            taken += 1
            rows += len(job.matrix)
        jobs, self._pending = self._pending[:taken], self._pending[taken:]
        return jobs

    def _run(self, jobs: list[ScoringJob]) -> list[_Outcome]:
        """One model call per model among the jobs (two only while a reload swaps models)."""
        outcomes: list[_Outcome] = []
        start = 0
        while start < len(jobs):
            stop = start + 1
            while stop < len(jobs) and jobs[stop].served is jobs[start].served:
                stop += 1
            outcomes.extend(self._run_group(jobs[start:stop]))
            start = stop
        if self.on_scored is not None:
            for outcome in outcomes:
                for scored in outcome.scored:
                    self.on_scored(scored)
        return outcomes

    def _run_group(self, jobs: list[ScoringJob]) -> list[_Outcome]:
        served = jobs[0].served
        matrix = jobs[0].matrix if len(jobs) == 1 else np.concatenate([j.matrix for j in jobs])
        try:
            # Rows were checked finite on the way in: scikit-learn need not scan them again.
            arrays = served.predictor.predict_array(matrix, assume_finite=True)
        except Exception as error:  # the model's own failure answers these requests only
            predictor = served.predictor
            logger.exception("model %s v%s failed", predictor.model_name, predictor.version)
            return [_Outcome(error=error) for _ in jobs]
        finite = arrays.finite_rows()
        outcomes = []
        offset = 0
        for job in jobs:
            rows = len(job.matrix)
            job_finite = finite[offset : offset + rows]
            if job_finite.all():
                outcomes.append(_Outcome(result=arrays.slice(offset, offset + rows)))
            else:
                bad = np.flatnonzero(~job_finite).tolist()
                outcomes.append(_Outcome(error=NonFinitePrediction(bad)))
            offset += rows
        if all(outcome.error is None for outcome in outcomes):
            # The usual case: the whole call is recorded and logged as one chunk.
            outcomes[0].scored.append(record_scored(served, jobs, matrix, arrays))
        else:
            for job, outcome in zip(jobs, outcomes, strict=True):
                if outcome.result is not None:
                    outcome.scored.append(record_scored(served, [job], job.matrix, outcome.result))
        return outcomes


def record_scored(
    served: ServedModel, jobs: list[ScoringJob], matrix: np.ndarray, arrays: PredictionArrays
) -> ScoredRows:
    """Metrics for the scored rows, and the rows for the prediction log."""
    predictor = served.predictor
    served.metrics.record(arrays.predictions, arrays.values, matrix)
    now = datetime.now(UTC)
    entity_ids: list[str | None] | None = None
    if any(job.entity_ids is not None for job in jobs):
        entity_ids = [
            entity for job in jobs for entity in (job.entity_ids or [None] * len(job.matrix))
        ]
    return ScoredRows(
        prediction_ids=[pid for job in jobs for pid in job.prediction_ids],
        entity_ids=entity_ids,
        feature_names=predictor.feature_names,
        features=matrix,
        predictions=arrays.predictions,
        probabilities=arrays.probabilities,
        model_name=predictor.model_name,
        model_version=predictor.version,
        source=SOURCE_ONLINE,
        predicted_at=now,
        prediction_date=now.date(),
    )

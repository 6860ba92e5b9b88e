"""The served model: loaded and kept current by a background thread, called in batches.

A daemon thread loads `models:/<name>@<alias>` once the server answers (so a registry that
is down or hangs never holds startup or shutdown), then checks the alias every `interval`
seconds and swaps in the version it moved to; a failed load keeps the old model.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading

import numpy as np
from fastapi import HTTPException

from src.context import ProjectContext
from src.errors import ModelNotFoundError, ProjectError
from src.inference.monitoring import MODEL_LOAD_FAILURES, record_model_served
from src.model.predictor import PredictionArrays, Predictor

logger = logging.getLogger(__name__)


class ModelWatcher:
    def __init__(self, context: ProjectContext, name: str, alias: str) -> None:
        self.context, self.name, self.source = context, name, f"models:/{name}@{alias}"
        self.alias = alias
        self.predictor: Predictor | None = None  # one assignment swaps it: requests read it once
        # Why no model serves yet, or why the last reload failed while an older one serves.
        self.problem: str | None = "loading"
        self.stopped = threading.Event()

    async def current(self) -> Predictor:
        """The model to answer with (a FastAPI dependency; async, so no thread pool)."""
        if (predictor := self.predictor) is None:
            raise HTTPException(503, f"model not loaded: {self.problem}")
        return predictor

    def start(self, interval: float) -> None:
        threading.Thread(target=self.run, args=(interval,), name="model", daemon=True).start()

    def run(self, interval: float) -> None:
        self.refresh()
        while not self.stopped.wait(interval):
            self.refresh()

    def refresh(self) -> None:
        """Serve the version the alias points at now; any failure keeps the current model."""
        served = self.predictor
        try:
            manager = self.context.mlflow  # built here: MLflow takes seconds to import
            current = manager.get_version(self.name, self.alias)
            if current is None:
                raise ModelNotFoundError(f"{self.source} points at no model version")
            if served is not None and served.version == str(current.version):
                self.problem = None
                return
            predictor = manager.load_version(self.name, current, self.alias)
            if predictor.feature_names != self.context.view.feature_names:
                raise ProjectError(f"v{predictor.version} takes other features than the contract")
        except Exception as error:  # the registry may be down: report, keep serving, retry
            MODEL_LOAD_FAILURES.inc()
            logger.warning("loading %s failed", self.source, exc_info=error)
            # A project error is a sentence for the operator; anything else is named only.
            reason = str(error) if isinstance(error, ProjectError) else type(error).__name__
            still = f"; still serving v{served.version}" if served is not None else ""
            self.problem = f"loading {self.source} failed: {reason}{still}"
            return
        self.predictor, self.problem = predictor, None
        record_model_served(predictor.model_name, predictor.version, predictor.alias)
        logger.info("serving %s v%s", self.source, predictor.version)
        # The model and the libraries live as long as the process: out of the collector's
        # reach, full collections stop walking them (they stalled requests for 200+ ms).
        gc.collect()
        gc.freeze()


class Batcher:
    """Requests that arrive in one turn of the event loop share one model call: scikit-learn
    validates its input at every step of every call, which costs more than a small model's
    rows (8 connections: 2x the requests/s on the sample model, 3.4x on LightGBM)."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Predictor, np.ndarray, asyncio.Future[PredictionArrays]]] = []

    async def predict(self, predictor: Predictor, matrix: np.ndarray) -> PredictionArrays:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PredictionArrays] = loop.create_future()
        self.waiting.append((predictor, matrix, future))
        if len(self.waiting) == 1:
            loop.call_soon(self.flush)  # after the requests this turn of the loop started
        return await future

    def flush(self) -> None:
        waiting, self.waiting = self.waiting, []
        for predictor in {id(model): model for model, _, _ in waiting}.values():
            calls = [(rows, future) for model, rows, future in waiting if model is predictor]
            try:
                stacked = np.concatenate([rows for rows, _ in calls])
                arrays = predictor.predict_array(stacked, assume_finite=True)
            except Exception as error:  # each request answers it as its own failure
                for _, future in calls:
                    if not future.done():
                        future.set_exception(error)
                continue
            start = 0
            for rows, future in calls:
                if not future.done():  # done: the client went away
                    future.set_result(arrays.rows(start, start + len(rows)))
                start += len(rows)

"""The model being served, and the watcher that swaps in a new one when its alias moves.

Requests read `ModelState.served` once and use that model to the end, so a swap, one
reference assignment, never mixes two models within a request. A model is loaded on a
worker thread while the old one keeps serving; a failed load leaves the old model in
place and is reported by `/ready`, the audit log and `model_load_failures_total`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from src.errors import ProjectError
from src.inference.audit import AuditLog
from src.inference.inputs import FeatureLayout
from src.inference.monitoring import (
    MODEL_LOAD_FAILURES,
    MODEL_RELOADS,
    ModelMetrics,
    record_model_served,
)
from src.model.mlflow_manager import MlflowManager
from src.model.predictor import Predictor

logger = logging.getLogger(__name__)


class ModelSource(Protocol):
    """Where the served model comes from: which version is current, and loading one."""

    @property
    def description(self) -> str: ...

    def current_version(self) -> str | None: ...

    def load(self, version: str) -> Predictor: ...


class RegistryModelSource:
    """`models:/<name>@<alias>` in the MLflow registry."""

    def __init__(self, manager: MlflowManager, model_name: str, alias: str) -> None:
        self.manager = manager
        self.model_name = model_name
        self.alias = alias

    @property
    def description(self) -> str:
        return f"models:/{self.model_name}@{self.alias}"

    def current_version(self) -> str | None:
        version = self.manager.get_version(self.model_name, self.alias)
        return None if version is None else str(version.version)

    def load(self, version: str) -> Predictor:
        model_version = self.manager.get_version_by_number(self.model_name, version)
        return self.manager.load_version(self.model_name, model_version, self.alias)


@dataclass(frozen=True)
class ServedModel:
    """A loaded model with what serving it needs, prepared once at load time."""

    predictor: Predictor
    layout: FeatureLayout
    metrics: ModelMetrics
    # The classes in the order of the per-class probabilities (empty for regression).
    classes: tuple[object, ...] = ()

    @classmethod
    def of(cls, predictor: Predictor) -> ServedModel:
        numeric = [n for n in predictor.feature_names if n not in predictor.categorical]
        return cls(
            predictor,
            FeatureLayout(predictor.feature_names, predictor.feature_kinds, predictor.nullable),
            ModelMetrics(
                predictor.version,
                predictor.feature_names,
                predictor.is_regression,
                numeric,
                may_miss=bool(predictor.nullable),
            ),
            tuple(predictor.classes),
        )


@dataclass
class ModelState:
    served: ServedModel | None = None
    # Why no model is served, or why the last reload failed while an older one serves.
    error: str | None = None
    checked_at: datetime | None = None


class ModelWatcher:
    def __init__(self, source: ModelSource, state: ModelState, audit: AuditLog) -> None:
        self.source = source
        self.state = state
        self.audit = audit

    async def run(self, interval_seconds: float) -> None:
        """Check the alias every `interval_seconds` until cancelled."""
        while True:
            await asyncio.sleep(interval_seconds)
            await self.refresh()

    async def refresh(self) -> bool:
        """Serve the version the alias points at now; True when a new model was swapped in."""
        served = self.state.served
        try:
            version = await asyncio.to_thread(self.source.current_version)
            self.state.checked_at = datetime.now(UTC)
            if version is None:
                raise ProjectError(f"{self.source.description} points at no model version")
            if served is not None and served.predictor.version == version:
                self.state.error = None
                return False
            predictor = await asyncio.to_thread(self.source.load, version)
        except Exception as error:  # any failure keeps the current model serving
            self._record_failure(error)
            return False
        self.state.served = ServedModel.of(predictor)
        self.state.error = None
        if served is not None:
            served.metrics.publish()
        self._record_success(predictor, served)
        return True

    def _record_success(self, predictor: Predictor, previous: ServedModel | None) -> None:
        record_model_served(predictor.model_name, predictor.version, predictor.alias)
        fields = {
            "model_name": predictor.model_name,
            "model_version": predictor.version,
            "alias": predictor.alias,
            "run_id": predictor.run_id,
        }
        if previous is None:
            self.audit.record_event("model_loaded", **fields)
        else:
            MODEL_RELOADS.inc()
            previous_version = previous.predictor.version
            self.audit.record_event("model_reloaded", previous_version=previous_version, **fields)
        logger.info("serving %s v%s", predictor.model_name, predictor.version)

    def _record_failure(self, error: Exception) -> None:
        MODEL_LOAD_FAILURES.inc()
        reason = (
            str(error) if isinstance(error, ProjectError) else f"{type(error).__name__}: {error}"
        )
        served = self.state.served
        still = f"; still serving v{served.predictor.version}" if served else ""
        self.state.error = f"loading {self.source.description} failed: {reason}{still}"
        self.audit.record_event("model_load_failed", source=self.source.description, reason=reason)
        logger.warning(self.state.error)

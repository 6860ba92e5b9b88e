"""The served model, loaded and kept current by a background thread.

The thread loads `models:/<name>@<alias>` once the server answers, then checks the alias
every `interval` seconds and loads the version it moved to while the old one serves. A
request reads `ModelState.predictor` once, so a swap (one assignment) never mixes two
models within a request. A failed load keeps the old model and says why in `/ready`; the
details go to the log. The thread is a daemon: a load stuck on an unreachable registry
never holds the process at shutdown.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass

from src.context import ProjectContext
from src.errors import ModelNotFoundError, ProjectError
from src.inference.monitoring import MODEL_LOAD_FAILURES, record_model_served
from src.model.predictor import Predictor

logger = logging.getLogger(__name__)


@dataclass
class ModelState:
    source: str
    predictor: Predictor | None = None
    # Why no model serves yet, or why the last reload failed while an older one serves.
    problem: str | None = "loading"


class ModelWatcher:
    def __init__(self, state: ModelState, context: ProjectContext, name: str, alias: str) -> None:
        self.state, self.context, self.name, self.alias = state, context, name, alias
        self.stopped = threading.Event()

    def start(self, interval: float) -> None:
        threading.Thread(
            target=self.run, args=(interval,), name="model-watcher", daemon=True
        ).start()

    def run(self, interval: float) -> None:
        while True:
            self.refresh()
            if self.stopped.wait(interval):
                return

    def refresh(self) -> None:
        """Serve the version the alias points at now; any failure keeps the current model."""
        served = self.state.predictor
        try:
            manager = self.context.mlflow  # built here: MLflow takes seconds to import
            current = manager.get_version(self.name, self.alias)
            if current is None:
                raise ModelNotFoundError(f"{self.state.source} points at no model version")
            version = str(current.version)
            if served is not None and served.version == version:
                self.state.problem = None
                return
            predictor = manager.load_version(self.name, current, self.alias)
            if predictor.feature_names != self.context.view.feature_names:
                raise ProjectError(
                    f"v{version} takes features other than config/features.yaml's "
                    f"({', '.join(predictor.feature_names)})"
                )
        except Exception as error:  # the registry may be down: report, keep serving, retry
            MODEL_LOAD_FAILURES.inc()
            logger.warning("loading %s failed", self.state.source, exc_info=error)
            # A project error is a sentence for the operator; anything else is named only.
            reason = str(error) if isinstance(error, ProjectError) else type(error).__name__
            still = f"; still serving v{served.version}" if served is not None else ""
            self.state.problem = f"loading {self.state.source} failed: {reason}{still}"
            return
        self.state.predictor, self.state.problem = predictor, None
        record_model_served(predictor.model_name, predictor.version, predictor.alias)
        logger.info("serving %s v%s (%s)", predictor.model_name, version, self.state.source)
        # The model and the libraries live as long as the process: out of the collector's
        # reach, full collections stop walking them (they stalled requests for 200+ ms).
        gc.collect()
        gc.freeze()

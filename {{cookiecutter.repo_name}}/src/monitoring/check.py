"""The outcome of one monitoring check: data quality, data and prediction drift (one
Evidently report) and, once labels arrived, live performance, and the problems found."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from src.monitoring.drift import DriftResult
from src.monitoring.performance import PerformanceResult


@dataclass(frozen=True)
class MonitoringOutcome:
    model_name: str
    model_version: str
    source: str
    drift: DriftResult
    performance: PerformanceResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        prediction, performance = self.drift.prediction, self.performance
        found = {
            "data drift": self.drift.dataset_drift,
            "prediction drift": prediction is not None and prediction.drifted,
            "data quality": bool(self.drift.failed_checks),
            "concept drift": performance is not None and performance.concept_drift,
        }
        return [problem for problem, present in found.items() if present]

    def verdict(self) -> str:
        performance = self.performance.verdict() if self.performance else "no live performance"
        return f"{self.drift.verdict()}; {performance}"

    def summary(self) -> dict[str, Any]:
        performance = asdict(self.performance) if self.performance else None
        return {
            "model_name": self.model_name, "model_version": self.model_version,
            "source": self.source, "problems": self.problems, **self.drift.to_dict(),
            "performance": performance, "notes": self.notes,
        }  # fmt: skip

"""The monitoring configuration (config/monitoring.yaml), typed."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from src.settings import load_yaml_config


class DriftConfig(BaseModel):
    # Evidently's test names ("ks", "wasserstein", "psi", "chisquare", "jensenshannon", ...);
    # None keeps Evidently's choice per column, None thresholds the test's default.
    method: str | None = None
    column_threshold: float | None = Field(default=None, gt=0)
    categorical_method: str | None = None
    categorical_threshold: float | None = Field(default=None, gt=0)
    prediction_method: str | None = None
    prediction_threshold: float | None = Field(default=None, gt=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    window_days: int = Field(default=7, ge=1)
    min_rows: int = Field(default=30, ge=1)
    # Bounded memory: seeded samples of at most this many current and reference rows.
    max_current_rows: int = Field(default=200_000, ge=1)
    max_reference_rows: int = Field(default=100_000, ge=1)
    sample_seed: int = 42


class QualityConfig(BaseModel):
    max_missing_share: float = Field(default=0.05, ge=0, le=1)
    max_out_of_range_share: float = Field(default=0.05, ge=0, le=1)
    # The accepted range is the reference's [min, max] widened by this share of its width.
    range_tolerance: float = Field(default=0.1, ge=0)


class PerformanceConfig(BaseModel):
    min_labelled_rows: int = Field(default=30, ge=1)
    # Degraded (concept drift) when a live metric is this much (relative) worse than training.
    max_relative_degradation: float = Field(default=0.1, gt=0, lt=1)


class MonitoringConfig(BaseModel):
    drift: DriftConfig = Field(default_factory=DriftConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)


def load_monitoring_config(path: Path) -> MonitoringConfig:
    return load_yaml_config(path, MonitoringConfig)

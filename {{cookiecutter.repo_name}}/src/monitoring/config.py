"""The monitoring configuration (config/monitoring.yaml), typed."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from src.config import load_yaml_config


class DriftConfig(BaseModel):
    # None keeps Evidently's choice per column (K-S up to 1000 reference rows, Wasserstein above).
    method: str | None = None
    column_threshold: float | None = Field(default=None, gt=0)
    # The same for categorical (string and boolean) features: None keeps Evidently's choice
    # (chi-square or z-test up to 1000 reference rows, Jensen-Shannon above).
    categorical_method: str | None = None
    categorical_threshold: float | None = Field(default=None, gt=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    prediction_method: str | None = None
    prediction_threshold: float | None = Field(default=None, gt=0)
    window_days: int = Field(default=7, ge=1)
    min_rows: int = Field(default=30, ge=1)
    # Bounded memory: at most this many current rows are checked, those of lowest
    # md5(sample_seed | prediction_id) per model version (src/data/sampling.py)...
    max_current_rows: int = Field(default=200_000, ge=1)
    # ...and at most this many reference rows (a seeded reservoir sample of larger ones).
    max_reference_rows: int = Field(default=100_000, ge=1)
    sample_seed: int = 42


class QualityConfig(BaseModel):
    max_missing_share: float = Field(default=0.05, ge=0, le=1)
    max_out_of_range_share: float = Field(default=0.05, ge=0, le=1)
    # The accepted range is the reference's [min, max] widened by this share of its width.
    range_tolerance: float = Field(default=0.1, ge=0)


class PerformanceConfig(BaseModel):
    min_labelled_rows: int = Field(default=30, ge=1)
    # Live performance is degraded when a metric is this much (relative) worse than training.
    max_relative_degradation: float = Field(default=0.1, gt=0, lt=1)


class AlertConfig(BaseModel):
    on_drift: bool = True
    on_quality: bool = True
    on_degradation: bool = True
    webhook_timeout_seconds: float = Field(default=10, gt=0)


class PushConfig(BaseModel):
    job: str = Field(default="drift_check", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    timeout_seconds: float = Field(default=10, gt=0)


class MonitoringConfig(BaseModel):
    drift: DriftConfig = Field(default_factory=DriftConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    pushgateway: PushConfig = Field(default_factory=PushConfig)


def load_monitoring_config(path: Path) -> MonitoringConfig:
    return load_yaml_config(path, MonitoringConfig)

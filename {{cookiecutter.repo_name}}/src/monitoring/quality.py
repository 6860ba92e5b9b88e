"""Data quality of the current window, judged against the reference set.

Two checks per feature: the share of missing (or non-finite) values, and the share of
values outside the reference's range widened by a tolerance (for a categorical feature:
categories the reference never had). They run before the drift
tests, which only see finite values and so cannot notice a feature that went missing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from src.monitoring.config import QualityConfig


@dataclass(frozen=True)
class ColumnQuality:
    column: str
    missing_share: float
    out_of_range_share: float
    # The accepted range of a number; None for a category.
    lower_bound: float | None
    upper_bound: float | None
    reference_missing_share: float = 0.0


@dataclass(frozen=True)
class QualityResult:
    columns: list[ColumnQuality]
    rows: int
    failed_checks: list[str]

    @property
    def passed(self) -> bool:
        return not self.failed_checks

    def verdict(self) -> str:
        if self.passed:
            return f"quality ok over {self.rows} rows"
        return f"QUALITY FAILED: {'; '.join(self.failed_checks)}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def numeric_values(values: pd.Series) -> np.ndarray:
    """Values as floats; anything that is not a finite number becomes NaN."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.where(np.isfinite(numbers), numbers, np.nan)


def check_category_column(reference: pd.Series, current: pd.Series, column: str) -> ColumnQuality:
    """A category's missing share, and as its out-of-range share the categories the
    reference never had (the model encodes them as none of the known ones)."""
    known = set(reference.dropna().astype(str))
    missing = current.isna().to_numpy()
    unseen = ~missing & ~current.astype(str).isin(known).to_numpy()
    rows = max(len(current), 1)
    return ColumnQuality(
        column=column,
        missing_share=float(missing.sum() / rows),
        out_of_range_share=float(unseen.sum() / rows),
        lower_bound=None,
        upper_bound=None,
        reference_missing_share=float(reference.isna().mean()) if len(reference) else 0.0,
    )


def check_column(
    reference: pd.Series, current: pd.Series, column: str, config: QualityConfig
) -> ColumnQuality:
    known = numeric_values(reference)
    low, high = float(np.nanmin(known)), float(np.nanmax(known))
    margin = (high - low) * config.range_tolerance
    lower, upper = low - margin, high + margin
    values = numeric_values(current)
    missing = np.isnan(values)
    outside = ~missing & ((values < lower) | (values > upper))
    rows = max(len(values), 1)
    return ColumnQuality(
        column=column,
        missing_share=float(missing.sum() / rows),
        out_of_range_share=float(outside.sum() / rows),
        lower_bound=lower,
        upper_bound=upper,
        reference_missing_share=float(np.isnan(known).mean()) if len(known) else 0.0,
    )


def check_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    config: QualityConfig,
    categorical: Collection[str] = (),
) -> QualityResult:
    """Missing and out-of-range (unseen, for categories) shares of every column, and the
    checks they fail. A feature that is often missing in the reference (nullable) may be
    missing that much more than max_missing_share."""
    results = [
        check_category_column(reference[column], current[column], column)
        if column in categorical
        else check_column(reference[column], current[column], column, config)
        for column in columns
    ]
    failed = [
        f"{r.column} missing {r.missing_share:.1%} > "
        f"{r.reference_missing_share + config.max_missing_share:.1%}"
        for r in results
        if r.missing_share > r.reference_missing_share + config.max_missing_share
    ] + [
        f"{r.column} out of range {r.out_of_range_share:.1%} > {config.max_out_of_range_share:.1%}"
        for r in results
        if r.out_of_range_share > config.max_out_of_range_share
    ]
    return QualityResult(columns=results, rows=len(current), failed_checks=failed)

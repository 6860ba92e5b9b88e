import numpy as np
import pandas as pd
from src.monitoring.quality import check_quality

from src.monitoring.config import QualityConfig


def reference() -> pd.DataFrame:
    return pd.DataFrame({"a": np.linspace(0, 10, 101), "b": np.linspace(-1, 1, 101)})


def test_values_inside_the_range_and_present_pass() -> None:
    current = reference().sample(50, random_state=0)
    result = check_quality(reference(), current, ["a", "b"], QualityConfig())
    assert result.passed
    assert result.verdict() == "quality ok over 50 rows"


def test_missing_and_out_of_range_values_fail_with_their_shares() -> None:
    current = pd.DataFrame(
        {"a": [1.0] * 80 + [np.nan] * 10 + [np.inf] * 10, "b": [0.0] * 90 + [5.0] * 10}
    )
    result = check_quality(reference(), current, ["a", "b"], QualityConfig())
    by_column = {column.column: column for column in result.columns}
    assert by_column["a"].missing_share == 0.2
    assert by_column["b"].out_of_range_share == 0.1
    # The accepted range is the reference's widened by 10% of its width.
    assert (by_column["b"].lower_bound, by_column["b"].upper_bound) == (-1.2, 1.2)
    assert result.failed_checks == ["a missing 20.0% > 5.0%", "b out of range 10.0% > 5.0%"]
    assert "QUALITY FAILED" in result.verdict()


def test_text_in_a_numeric_column_counts_as_missing() -> None:
    current = pd.DataFrame({"a": ["1.0", "oops"] * 10, "b": [0.0] * 20})
    result = check_quality(reference(), current, ["a", "b"], QualityConfig(max_missing_share=0.6))
    assert result.columns[0].missing_share == 0.5
    assert result.passed


def test_unseen_categories_count_as_out_of_range_and_reference_gaps_are_allowed() -> None:
    known = pd.DataFrame({"plan": ["basic", "plus", None, "pro"] * 25})
    current = pd.DataFrame({"plan": ["basic", "enterprise", None, "plus"] * 10})
    result = check_quality(known, current, ["plan"], QualityConfig(), categorical={"plan"})
    (column,) = result.columns
    assert column.out_of_range_share == 0.25
    assert column.lower_bound is None
    # 25% missing in the reference too: not a failure at 25% now, only the unseen share.
    assert result.failed_checks == ["plan out of range 25.0% > 5.0%"]

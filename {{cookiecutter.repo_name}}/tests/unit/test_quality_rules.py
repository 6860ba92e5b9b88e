"""Quality rules by selector: they fit any feature view, with bounds from its contract."""

from pathlib import Path

import pytest

from src.data.feature_store import FeatureView
from src.data.quality import load_quality_config, rule_columns
from src.errors import ConfigError

VIEW = FeatureView.model_validate(
    {
        "name": "customer_features",
        "dataset": "customers",
        "entity": {"name": "customer_id", "dtype": "string"},
        "event_timestamp": "event_time",
        "label": {"name": "segment", "dtype": "string", "values": ["a", "b", "c"]},
        "source_columns": [{"name": "calls", "dtype": "int64"}],
        "features": [
            {"name": "tenure", "dtype": "int64", "min": 0},
            {"name": "spend", "dtype": "float64", "nullable": True},
            {"name": "plan", "dtype": "string"},
            {"name": "per_call", "dtype": "float64", "expression": "tenure / (calls + 1)"},
        ],
    }
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "quality.yaml"
    path.write_text(text)
    return path


def test_selectors_name_the_view_columns_without_derived_ones(tmp_path: Path) -> None:
    config = load_quality_config(
        write(
            tmp_path,
            "rules:\n"
            "  - {name: present, type: not_null, columns: [$required]}\n"
            "  - {name: ranges, type: range, columns: [$numeric, $label]}\n"
            "  - {name: labels, type: allowed_values, column: $label}\n",
        ),
        VIEW,
    )
    present, ranges, labels = (rule_columns(rule, VIEW) for rule in config.rules)
    assert present == ["tenure", "plan"]  # spend is nullable, per_call derived in gold
    assert ranges == ["tenure", "spend"]  # a string label has no range
    assert labels == ["segment"]
    # The raw contract: measured features, source columns and the label, not per_call.
    assert [column.name for column in VIEW.raw_columns] == [
        "tenure", "spend", "plan", "calls", "segment",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{name: r, type: range, columns: [plan], min: 0}", "applies to numbers; plan are not"),
        ("{name: r, type: not_null, columns: [$everything]}", "unknown column selector"),
        ("{name: r, type: not_null, columns: [per_call]}", "not in feature view"),
    ],
)
def test_rules_that_cannot_apply_are_config_errors(tmp_path: Path, rule: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_quality_config(write(tmp_path, f"rules:\n  - {rule}\n"), VIEW)

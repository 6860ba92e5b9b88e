"""The training configuration: the shipped file loads, and bad files fail with a clear reason."""

from pathlib import Path

import pytest
import yaml

from src.context import TRAINING_FILE
from src.errors import ConfigError
from src.model.train import TrainingConfig, metric_names
from src.settings import load_yaml_config


def write(tmp_path: Path, changes: dict[str, object]) -> Path:
    content = yaml.safe_load(TRAINING_FILE.read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        node = content
        for parent in parents:
            node = node[parent]
        node[key] = value
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_the_shipped_configuration_loads() -> None:
    config = load_yaml_config(TRAINING_FILE, TrainingConfig)
    assert config.promotion.gate_metric in metric_names(config.task)
    assert config.search.space, "the default search has a space to explore"
    quick = config.with_search(n_trials=2)
    assert quick.search.n_trials == 2 and quick.search.space == config.search.space


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"promotion.gate_metric": "mape"}, "promotion metric 'mape' is not a"),
        ({"promotion.required_holdout_scores": {"mape": 1}}, "promotion metric 'mape' is not a"),
        ({"search.n_trials": 0}, "search.n_trials"),
        ({"search.trials": 5}, "search.trials: Extra inputs are not permitted"),
        ({"search.space": {"C": {"type": "uniform"}}}, "search.space.C.type"),
        ({"test_size": 1.5}, "test_size"),
        ({"model.estimator": "svm"}, "model.estimator"),
    ],
)
def test_a_bad_value_is_one_clear_error(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"training\.yaml") as error:
        load_yaml_config(write(tmp_path, changes), TrainingConfig)
    assert message in str(error.value)

"""The request models follow the feature contract: types, missing values, allowed values."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from src.data.feature_store import FeatureView
from src.inference.api import Contract

# A contract unlike the sample's in every way a feature can differ.
VIEW = FeatureView.model_validate(
    {
        "name": "made_up",
        "dataset": "made_up",
        "entity": {"name": "customer", "dtype": "string"},
        "event_timestamp": "event_time",
        "label": {"name": "segment", "dtype": "string", "values": ["a", "b", "c"]},
        "features": [
            {"name": "amount", "dtype": "float64", "min": 0},
            {"name": "visits", "dtype": "int64"},
            {"name": "region", "dtype": "string", "values": ["north", "south"], "nullable": True},
            {"name": "member", "dtype": "bool", "nullable": True},
            {"name": "score", "dtype": "float64", "values": [1, 2, 3]},
        ],
    }
)
CONTRACT = Contract(VIEW, batch_size=2)
VALID = {"amount": 1.5, "visits": 3, "region": "north", "member": True, "score": 2.0}


def errors(features: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        CONTRACT.request.model_validate({"features": features})
    return {str(error["loc"][-1]): error["msg"] for error in raised.value.errors()}


def test_a_nullable_feature_may_be_null_or_left_out() -> None:
    omitted = {name: value for name, value in VALID.items() if name not in ("region", "member")}
    assert CONTRACT.features.model_validate(omitted).region is None
    nulls = {**VALID, "region": None, "member": None}
    assert CONTRACT.features.model_validate(nulls).member is None
    assert errors({**VALID, "amount": None}) == {"amount": "Input should be a valid number"}


def test_a_value_outside_the_allowed_ones_is_named_with_them() -> None:
    assert errors({**VALID, "region": "west"}) == {"region": "west is not one of [north, south]"}
    assert errors({**VALID, "score": 4.5}) == {"score": "4.5 is not one of [1, 2, 3]"}


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("amount", "1.5"),
        ("amount", True),
        ("amount", float("nan")),
        ("visits", 3.5),
        ("region", 1),
        ("member", "yes"),
        ("member", 1),
        ("colour", "red"),
    ],
)
def test_each_dtype_takes_its_json_type_strictly_and_nothing_else(name: str, bad: Any) -> None:
    assert list(errors({**VALID, name: bad})) == [name]


def test_the_schema_documents_the_contract() -> None:
    schema = CONTRACT.features.model_json_schema()
    assert set(schema["required"]) == {"amount", "visits", "score"}
    assert schema["properties"]["score"]["enum"] == [1, 2, 3]
    assert schema["additionalProperties"] is False
    batch = CONTRACT.batch_request.model_json_schema()
    assert batch["properties"]["instances"]["maxItems"] == 2

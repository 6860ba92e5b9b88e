"""Request and response bodies of the API, built from the feature contract.

FastAPI validates every request against these models and documents them in the OpenAPI
schema. A feature takes its dtype's JSON type strictly (a string or `true` is never a
number), numbers are finite, a feature with `values` takes one of them, and a `nullable`
feature may be null or left out; a name the contract does not list is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from src.data.feature_store import Column, FeatureView

SCALAR_TYPES: dict[str, type] = {"float64": float, "int64": int, "string": str, "bool": bool}
MAX_TEXT_LENGTH = 1024
FORBID_EXTRA = ConfigDict(extra="forbid")


def one_of(allowed: list[Any]) -> AfterValidator:
    """The contract's allowed values, refused with the message ingestion's quarantine gives."""
    listed = ", ".join(str(value) for value in allowed)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise PydanticCustomError("not_allowed", f"{value} is not one of [{listed}]")
        return value

    return AfterValidator(check)


def feature_field(column: Column) -> tuple[Any, Any]:
    kind: Any = SCALAR_TYPES[column.dtype]
    constraints: dict[str, Any] = {"strict": True, "description": column.description}
    if kind is float:
        constraints["allow_inf_nan"] = False
    if kind is str:
        constraints["max_length"] = MAX_TEXT_LENGTH
    if column.values is not None:
        kind = Annotated[kind, one_of(column.values)]
        constraints["json_schema_extra"] = {"enum": column.values}
    if column.nullable:
        return kind | None, Field(default=None, **constraints)
    return kind, Field(**constraints)


class Contract:
    """The request and response models of one feature view (typed Any: built at run time)."""

    def __init__(self, view: FeatureView, max_batch_size: int) -> None:
        fields: dict[str, Any] = {column.name: feature_field(column) for column in view.features}
        self.features: Any = create_model("Features", __config__=FORBID_EXTRA, **fields)
        request: Any = create_model(
            "PredictRequest",
            __config__=FORBID_EXTRA,
            features=(self.features, Field(description="The model's features by name.")),
            entity_id=(
                str | None,
                Field(default=None, max_length=128, description="Kept in the prediction log."),
            ),
        )
        self.request = request
        self.batch_request: Any = create_model(
            "BatchPredictRequest",
            __config__=FORBID_EXTRA,
            instances=(list[request], Field(min_length=1, max_length=max_batch_size)),
        )
        prediction: Any = create_model(
            "Prediction",
            prediction=(SCALAR_TYPES[view.label.dtype], ...),
            probability=(float | None, Field(default=None, description="Of the class predicted.")),
            probabilities=(dict[str, float] | None, Field(default=None, description="By class.")),
            prediction_id=(str, Field(description="The row's id in the predictions table.")),
        )
        served: dict[str, Any] = {"model_name": (str, ...), "model_version": (str, ...)}
        self.response: Any = create_model("PredictResponse", __base__=prediction, **served)
        self.batch_response: Any = create_model(
            "BatchPredictResponse", predictions=(list[prediction], ...), **served
        )


class ModelDescription(BaseModel):
    name: str
    version: str
    alias: str
    run_id: str
    task: str
    source: str = Field(description="Where the model is loaded from and watched.")
    inputs: list[Column] = Field(description="The features: config/features.yaml's contract.")
    classes: list[str] = Field(description="The classes a classifier predicts.")
    loaded_at: datetime


class Ready(BaseModel):
    status: str
    model_name: str
    model_version: str
    reload_error: str | None = Field(
        default=None, description="Why the last reload failed; the model above still serves."
    )

"""Request and response bodies of the API, as they appear in its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetPydanticSchema
from pydantic_core import core_schema

MAX_TEXT_LENGTH = 1024


def feature_value_schema(_: Any, __: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    """A JSON scalar, strictly: a string or a boolean is never taken for a number, NaN and
    infinities are refused, and a wrong value gets one error at the feature's location.
    Which kind each feature takes (and whether null) is checked against the model."""
    return core_schema.nullable_schema(
        core_schema.union_schema(
            [
                core_schema.float_schema(strict=True, allow_inf_nan=False),
                core_schema.str_schema(strict=True, max_length=MAX_TEXT_LENGTH),
                core_schema.bool_schema(strict=True),
            ],
            custom_error_type="feature_value",
            custom_error_message="must be a finite number, a string, true, false or null",
        )
    )


FeatureValue = Annotated[float | str | bool | None, GetPydanticSchema(feature_value_schema)]
EntityId = Annotated[str, Field(min_length=1, max_length=128)]
PredictedValue = int | float | str | bool


class PredictRequest(BaseModel):
    """The seed's body: `{"features": {"feature1": 1.0, ...}}`."""

    model_config = ConfigDict(extra="forbid")
    features: dict[str, FeatureValue] = Field(
        description="Feature name to value; exactly the model's features (see GET /model): "
        "numbers, strings for categorical features, true/false for boolean ones, null where "
        "the feature is optional."
    )
    entity_id: EntityId | None = Field(
        default=None, description="Optional id of the scored entity, kept in the prediction log."
    )


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[PredictRequest] = Field(
        min_length=1, description="Rows to score; at most API__MAX_BATCH_SIZE of them."
    )


class Prediction(BaseModel):
    prediction: PredictedValue
    probability: float | None = Field(
        default=None,
        description="Probability of the predicted class (classifiers with predict_proba).",
    )
    probabilities: dict[str, float] | None = Field(
        default=None,
        description="Probability of every class, by class (classifiers with predict_proba).",
    )
    prediction_id: str = Field(description="The row's id in the predictions table.")


class PredictResponse(Prediction):
    model_name: str
    model_version: str


class BatchPredictResponse(BaseModel):
    predictions: list[Prediction]
    model_name: str
    model_version: str


class InvocationsRequest(BaseModel):
    """MLflow's scoring format: exactly one of the four fields (documentation only)."""

    model_config = ConfigDict(extra="allow")
    dataframe_split: dict[str, Any] | None = Field(
        default=None, description='{"columns": [...], "data": [[...], ...]}'
    )
    dataframe_records: list[dict[str, Any]] | None = None
    instances: list[Any] | dict[str, Any] | None = None
    inputs: list[Any] | dict[str, Any] | None = None
    params: dict[str, Any] | None = Field(default=None, description="Ignored, as MLflow does.")


class InvocationsResponse(BaseModel):
    predictions: list[PredictedValue]


class FeatureSpec(BaseModel):
    name: str
    type: str
    required: bool = True


class ModelDescription(BaseModel):
    name: str
    version: str
    alias: str
    run_id: str
    task: str
    source: str = Field(description="Where the model is loaded from and watched.")
    inputs: list[FeatureSpec] = Field(description="The signature's inputs, in order.")
    classes: list[str] = Field(
        default_factory=list,
        description="The classes a classifier predicts (keys of probabilities).",
    )
    loaded_at: datetime


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    model_name: str
    model_version: str
    reload_error: str | None = Field(
        default=None, description="Why the last reload failed; the model above still serves."
    )


class ErrorResponse(BaseModel):
    detail: str | list[dict[str, Any]]


class MlflowErrorResponse(BaseModel):
    error_code: str
    message: str

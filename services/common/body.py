"""Reading JSON request bodies into validated models."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, field_validator
from pydantic.json_schema import SkipJsonSchema
from starlette.requests import Request

from services.common.bounded_json import JSON_LIMITS, JsonLimits, parse_json
from services.common.problems import UnsupportedMediaType, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)


async def read_json(request: Request, model: type[Model], limits: JsonLimits = JSON_LIMITS) -> Model:
    """Parse the body as `model`; 415 for a non-JSON body, 422 if it is not JSON or passes
    a parsing limit (`bounded_json`), 422 naming the bad fields (the first of them)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType(f"send the body as application/json, not {content_type or 'nothing'}")
    data = parse_json(await request.body(), limits)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed.of(exc) from None


# A PATCH field that may be left out but not set to null: `title: str | Absent = None`
# (the schema shows only the type), checked by `refuse_null(...)`; the model's config
# sets `json_schema_extra=omit_null_defaults` so the schema has no `default: null` either.
Absent = SkipJsonSchema[None]


def omit_null_defaults(schema: dict[str, Any]) -> None:
    """Drop `default: null` from properties whose type does not admit null."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None and "anyOf" not in prop and prop.get("type") != "null":
            del prop["default"]


def refuse_null(*fields: str) -> Any:
    """A before-validator for PATCH bodies: an explicit null on `fields` is a 422 naming the
    field (leaving it out keeps its value), never a database error."""

    def check(cls: type[BaseModel], value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null: leave the field out to keep its value")
        return value

    return field_validator(*fields, mode="before")(check)

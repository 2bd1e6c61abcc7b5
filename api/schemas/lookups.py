"""Bodies of POST /v1/lookups: many hash sets in one request, each in the JSON form of POST
/v1/lookup, answered in order (registry.lookup.batch). As for one lookup, the route validates
the raw body itself, so each item's refusal keeps its own code; this states it for OpenAPI."""

from typing import Any

from pydantic import BaseModel, Field

from api.schemas.lookup import LookupOut, json_lookup_schema
from registry.lookup.batch import MAX_LOOKUPS


def lookups_request_body() -> dict[str, Any]:
    """The OpenAPI request body of POST /v1/lookups."""
    schema = {
        "type": "object",
        "properties": {
            "lookups": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_LOOKUPS,
                "items": json_lookup_schema(),
            }
        },
        "required": ["lookups"],
        "additionalProperties": False,
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


class ItemErrorDetail(BaseModel):
    type: str = Field(description="the error code, as for a single lookup (docs/errors.md)")
    message: str = Field(description="names the item: lookups[N]")


class ItemErrorOut(BaseModel):
    error: ItemErrorDetail


class LookupsOut(BaseModel):
    results: list[LookupOut | ItemErrorOut] = Field(
        description="one per item, in order: its lookup, or why it was not looked up"
    )

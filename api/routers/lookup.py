"""POST /v1/lookup: an image (multipart) or its hashes (JSON) -> verdict, matches, proofs."""

import json
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import LookupDep, SettingsDep
from ledger.errors import MalformedError
from registry.imaging.matching import PROBE_TARGETS
from registry.lookup.query import MAX_PROBES, query_from_image, query_from_json

router = APIRouter(prefix="/v1", tags=["lookup"])

# The route reads the raw request (an image or JSON hashes), so FastAPI cannot infer its body;
# stated here so the schema tells clients (and the schema-driven fuzzer) what to send.
_HEX = {"type": "string", "pattern": "^[0-9a-fA-F]+$"}
_LOOKUP_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"image": {"type": "string", "format": "binary"}},
                "required": ["image"],
            }
        },
        "application/json": {
            "schema": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "probes": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_PROBES,
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "name": {"type": "string", "enum": list(PROBE_TARGETS)},
                                        "pdq": _HEX | {"minLength": 64, "maxLength": 64},
                                        "quality": {
                                            "type": "integer",
                                            "minimum": 0,
                                            "maximum": 100,
                                        },
                                        "phash": _HEX | {"minLength": 16, "maxLength": 16},
                                    },
                                    "required": ["name", "pdq", "quality", "phash"],
                                    "additionalProperties": False,
                                },
                            },
                            "sha256": _HEX | {"minLength": 64, "maxLength": 64},
                        },
                        "required": ["probes"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {
                            "pdq": {
                                "oneOf": [
                                    _HEX | {"minLength": 64, "maxLength": 64},
                                    {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": 8,
                                        "items": _HEX | {"minLength": 64, "maxLength": 64},
                                    },
                                ]
                            },
                            "pdq_quality": {"type": "integer", "minimum": 0, "maximum": 100},
                            "phash": _HEX | {"minLength": 16, "maxLength": 16},
                            "sha256": _HEX | {"minLength": 64, "maxLength": 64},
                        },
                        "required": ["pdq", "pdq_quality"],
                        "additionalProperties": False,
                    },
                ]
            }
        },
    },
}


@router.post("/lookup", openapi_extra={"requestBody": _LOOKUP_BODY})
async def lookup(request: Request, finder: LookupDep, settings: SettingsDep) -> dict[str, Any]:
    """Send `multipart/form-data` with an `image` file, or JSON hashes computed locally:
    `{"probes": [{"name", "pdq", "quality", "phash"}, ...], "sha256": hex}` (what
    `registry.imaging.hashing.query_hashes` returns), or the short form
    `{"pdq": hex or [8 hex], "pdq_quality": n, "phash": hex, "sha256": hex}`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise MalformedError(
                "multipart lookup needs a file field named 'image'", code="no_image"
            )
        data = await upload.read()
        name = upload.filename or "image"
        query = await run_in_threadpool(
            partial(query_from_image, max_pixels=settings.max_image_pixels), data, name
        )
    else:
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            raise MalformedError(
                "lookup body is neither multipart nor JSON", code="bad_json"
            ) from None
        query = query_from_json(body)
    result = await run_in_threadpool(finder.lookup, query)
    return result.to_json()

"""POST /v1/lookup: an image (multipart) or its hashes (JSON) -> verdict, matches, proofs."""

import json
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import DecodeGateDep, LookupDep, SettingsDep
from api.schemas import LookupOut, lookup_request_body
from ledger.errors import MalformedError
from registry.lookup.query import query_from_json, query_from_upload

router = APIRouter(prefix="/v1", tags=["lookup"])


# The route reads the raw request (an image or JSON hashes), so FastAPI cannot infer its body;
# api.schemas.lookup states it, for clients and for the schema-driven fuzzer.
@router.post(
    "/lookup",
    openapi_extra={"requestBody": lookup_request_body()},
    responses={200: {"model": LookupOut}},
)
async def lookup(
    request: Request, finder: LookupDep, gate: DecodeGateDep, settings: SettingsDep
) -> dict[str, Any]:
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
        query = await run_in_threadpool(gate.run, partial(query_from_upload, settings, data, name))
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

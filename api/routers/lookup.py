"""POST /v1/lookup: an image (multipart) or its hashes (JSON) -> verdict, matches, proofs.
POST /v1/lookups: many hash sets at once -> one answer each, in order."""

import json
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import DecodeGateDep, LookupDep, SettingsDep, WorkChargeDep
from api.schemas import LookupOut, LookupsOut, lookup_request_body, lookups_request_body
from api.uploads import uploaded_image
from ledger.errors import MalformedError
from registry.lookup.batch import batch_items, lookup_batch, parse_items
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
        data, name = await uploaded_image(await request.form())
        query = await run_in_threadpool(gate.run, partial(query_from_upload, settings, data, name))
    else:
        query = query_from_json(
            await _json_body(request, "lookup body is neither multipart nor JSON")
        )
    result = await run_in_threadpool(finder.lookup, query)
    return result.to_json()


@router.post(
    "/lookups",
    openapi_extra={"requestBody": lookups_request_body()},
    responses={200: {"model": LookupsOut}},
)
async def lookups(request: Request, finder: LookupDep, charge: WorkChargeDep) -> dict[str, Any]:
    """Up to 1,000 hash sets computed locally (`prov lookup --hash-only`), each in the JSON
    form of POST /v1/lookup: `{"lookups": [hash set, ...]}`. The answers come in order, one
    per item: its lookup, or `{"error": {"type", "message"}}` for an item that is malformed.
    The rate limit counts the request as one lookup per item."""
    items = batch_items(await _json_body(request, "a batch lookup's body is not JSON"))
    charge(len(items) - 1)  # the rate limiter took one already; on the event loop, as it
    results = await run_in_threadpool(lambda: lookup_batch(finder, parse_items(items)))
    return {"results": results}


async def _json_body(request: Request, refusal: str) -> object:
    try:
        body: object = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise MalformedError(refusal, code="bad_json") from None
    return body

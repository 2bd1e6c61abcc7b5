"""The C2PA Soft Binding Resolution API (C2PA 2.x) under /v1/c2pa: a C2PA client that lost an
image's manifest asks which registered capture it is. Names, scores and ids: registry.lookup.softbinding
and docs/c2pa.md."""

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import DecodeGateDep, LookupDep, SettingsDep, Store
from api.schemas import SoftBindingMatchesOut, SoftBindingQueryIn, SupportedAlgorithmsOut
from registry.errors import UnsupportedMediaError
from registry.lookup.query import Lookup, query_from_upload
from registry.lookup.softbinding import (
    DEFAULT_MAX_RESULTS,
    MAX_RESULTS,
    binding_query,
    check_alg,
    manifest_for,
    matches,
    supported_algorithms,
)

PREFIX = "/v1/c2pa"
router = APIRouter(prefix=PREFIX, tags=["c2pa"])

MaxResults = Annotated[
    int,
    Query(
        alias="maxResults",
        ge=1,
        description=f"matches to return, best first; more than {MAX_RESULTS} return {MAX_RESULTS}",
    ),
]
Alg = Annotated[str, Query(description="org.provenance-ledger.pdq.1")]
Value = Annotated[str, Query(description="base64 of the fingerprint's bytes (32 for PDQ)")]

# The route reads the raw body (any image type), so FastAPI cannot infer it; stated here for
# clients and for the schema-driven fuzzer.
_IMAGE_BODY = {
    "required": True,
    "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
}


@router.get("/services/supportedAlgorithms", response_model=SupportedAlgorithmsOut)
def supported() -> dict[str, Any]:
    """Our fingerprints, named in our own namespace: PDQ and pHash are not on the C2PA list."""
    return supported_algorithms()


async def _by_binding(finder: Lookup, alg: str, value: str, max_results: int) -> dict[str, Any]:
    binding = binding_query(alg, value)
    result = await run_in_threadpool(finder.lookup, binding.query)
    return matches(result, max_results, pdq_only=binding.pdq_only)


@router.get("/matches/byBinding", response_model=SoftBindingMatchesOut)
async def by_binding(
    finder: LookupDep, alg: Alg, value: Value, max_results: MaxResults = DEFAULT_MAX_RESULTS
) -> dict[str, Any]:
    """Captures whose PDQ is within 31 bits of the value's."""
    return await _by_binding(finder, alg, value, max_results)


@router.post("/matches/byBinding", response_model=SoftBindingMatchesOut)
async def by_binding_post(
    body: SoftBindingQueryIn, finder: LookupDep, max_results: MaxResults = DEFAULT_MAX_RESULTS
) -> dict[str, Any]:
    """The same as GET, with `{"alg", "value"}` as the JSON body."""
    return await _by_binding(finder, body.alg, body.value, max_results)


@router.post(
    "/matches/byContent",
    response_model=SoftBindingMatchesOut,
    openapi_extra={"requestBody": _IMAGE_BODY},
)
async def by_content(
    request: Request,
    finder: LookupDep,
    gate: DecodeGateDep,
    settings: SettingsDep,
    alg: Annotated[str | None, Query(description="if given, one of ours")] = None,
    max_results: MaxResults = DEFAULT_MAX_RESULTS,
) -> dict[str, Any]:
    """The image itself as the body (Content-Type image/*): hashed as POST /v1/lookup hashes it,
    the same file bytes first (score 100), then near-duplicates."""
    check_alg(alg)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("image/"):
        raise UnsupportedMediaError(
            f"send the image itself as the body with an image/* Content-Type, not "
            f"{content_type[:80] or 'none'!r}",
        )
    data = await request.body()
    query = await run_in_threadpool(gate.run, partial(query_from_upload, settings, data))
    result = await run_in_threadpool(finder.lookup, query)
    return matches(result, max_results)


@router.get(
    "/manifests/{manifestId}",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "a proof bundle"}},
)
def manifest(
    store: Store,
    manifest_id: Annotated[str, Path(alias="manifestId", description="capture-<leaf index>")],
    return_active_manifest: Annotated[
        bool, Query(alias="returnActiveManifest", description="no effect on a proof bundle")
    ] = False,
) -> Response:
    """For a capture logged with our claim signature, its offline proof bundle (the one
    GET /v1/bundles/{index} serves)."""
    data, media_type = manifest_for(store, manifest_id)
    return Response(data, media_type=media_type)

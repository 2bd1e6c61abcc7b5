"""POST /v1/c2pa/ingest: a camera's C2PA-signed JPEG, logged as a c2pa-capture/v1 entry."""

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import DecodeGateDep, RegistryDep
from api.schemas import CaptureResultOut
from ledger.errors import MalformedError

router = APIRouter(prefix="/v1/c2pa", tags=["c2pa"])

_BODY = {
    "required": True,
    "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
}


@router.post(
    "/ingest",
    openapi_extra={"requestBody": _BODY},
    responses={200: {"model": CaptureResultOut}},
)
async def ingest(request: Request, registry: RegistryDep, gate: DecodeGateDep) -> dict[str, Any]:
    """Send the signed file itself as the body (`Content-Type: image/jpeg`). The manifest is
    validated offline against the registered vendor roots; the signer's certificate is enrolled
    if it is not yet. Refusals carry c2pa's own validation code, e.g.
    `assertion.dataHash.mismatch` or `signingCredential.untrusted`."""
    data = await request.body()
    if not data:
        raise MalformedError("send the signed JPEG as the request body", code="no_image")
    name = request.headers.get("x-filename", "upload.jpg")[:200]
    # The ingest reads the C2PA manifest and decodes the image to hash it: one decode.
    result = await run_in_threadpool(gate.run, partial(registry.ingest_c2pa, data, name))
    return result.to_json()

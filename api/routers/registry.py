"""/v1 write side: vendors (operator only), devices, capture batches, revocations."""

from typing import Any

from fastapi import APIRouter, Response

from api.deps import AdminToken, RegistryDep
from api.schemas import (
    CapturesIn,
    CapturesOut,
    DeviceIn,
    DeviceOut,
    ReceiptOut,
    RevocationIn,
    ScopedRevocationIn,
    VendorIn,
)
from registry.bundle.build import build_bundle_with_cautions
from registry.entries.codec import b64_field

router = APIRouter(prefix="/v1", tags=["registry"])


@router.post("/vendors", response_model=ReceiptOut)
def add_vendor(body: VendorIn, registry: RegistryDep, token: AdminToken) -> dict[str, Any]:
    registry.check_admin_token(token)
    root = b64_field(body.model_dump(), "root", "vendor")
    return registry.add_vendor(body.name, body.role, root, token).to_json()


@router.post("/devices", response_model=ReceiptOut)
def enroll_device(body: DeviceIn, registry: RegistryDep) -> dict[str, Any]:
    fields = body.model_dump()
    cert = b64_field(fields, "cert", "device enrollment")
    chain = [b64_field({"chain": c}, "chain", "device enrollment") for c in body.chain]
    return registry.enroll_device(cert, chain).to_json()


@router.get("/devices/{device_id}", responses={200: {"model": DeviceOut}})
def device(device_id: str, registry: RegistryDep) -> dict[str, Any]:
    """The enrolled device whose id is, or uniquely starts with, `device_id` (8 or more hex
    characters, either case): 400 `ambiguous_device` lists the ids a prefix starts."""
    return registry.device(device_id)


@router.post("/captures", response_model=CapturesOut)
def submit_captures(body: CapturesIn, registry: RegistryDep) -> dict[str, Any]:
    results = [r.to_json() for r in registry.submit_captures(body.records)]
    accepted = sum(1 for r in results if r["accepted"])
    return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}


# The registry checks the body (registry.admission.rules.parse_revocation, or
# revocation_rules.parse_scoped_revocation for revocation/v2), with its own codes; the schemas
# state it.
_REVOCATION_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    RevocationIn.model_json_schema(),
                    ScopedRevocationIn.model_json_schema(),
                ]
            }
        }
    },
}


@router.post(
    "/revocations", response_model=ReceiptOut, openapi_extra={"requestBody": _REVOCATION_BODY}
)
def revoke(body: dict[str, Any], registry: RegistryDep) -> dict[str, Any]:
    return registry.revoke(body).to_json()


@router.get("/bundles/{index}", response_class=Response)
def bundle(index: int, registry: RegistryDep) -> Response:
    """The offline proof bundle of the capture at `index`, against the latest checkpoint. The
    `Prov-Cautions` header lists the caution codes its entries show (registry.cautions), as
    `prov verify` will report them; it is absent for a clean capture."""
    data, cautions = build_bundle_with_cautions(registry.store, index)
    headers = {"Content-Disposition": f'attachment; filename="capture-{index}.bundle.json"'}
    if cautions:
        headers["Prov-Cautions"] = ",".join(c.code for c in cautions)
    return Response(data, media_type="application/json", headers=headers)

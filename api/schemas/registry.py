"""Bodies of the /v1 write side: vendors, devices, capture batches, revocations."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class VendorIn(BaseModel):
    name: str = Field(description="the vendor's name as it will appear in the log")
    role: str = Field(description="camera or generator")
    root: str = Field(description="base64 DER of the vendor's self-signed root CA")


class DeviceIn(BaseModel):
    cert: str = Field(description="base64 DER of the device certificate")
    chain: list[str] = Field(default=[], description="base64 DER intermediates, issuer first")


class CapturesIn(BaseModel):
    # Any, not dict: a record that is not an object is rejected on its own, not with its batch.
    records: list[Any] = Field(description="signed capture records {claim, sig}")


class RevocationIn(BaseModel):
    """Documents the body; registry.admission.rules.parse_revocation checks it, with its own
    codes (unknown_field, bad_kind, ...), so the route takes the object as it came."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default="revocation/v1", description="revocation/v1")
    device: str = Field(description="the device id: 64 hex digits")
    compromised_since: int = Field(description="ms since the epoch; captures since are suspect")
    reason: str = Field(max_length=500)
    signer: str = Field(description="the id (64 hex) of the CA certificate that signs this")
    sig: str = Field(description="base64 signature by `signer` over the other fields")


class ScopedRevocationIn(BaseModel):
    """revocation/v2 (registry.admission.revocation_rules checks it, with its own codes)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="revocation/v2")
    scope: str = Field(description='"device", "ca" or "vendor"')
    subject: str = Field(description="id (64 hex) of the device, CA or vendor root revoked")
    vendor: str = Field(description="the vendor id (64 hex, its root's)")
    certs: list[str] = Field(
        description='scope "ca": base64 DER of the revoked CA, then each CA above it, root '
        "left out; otherwise empty"
    )
    firmware: list[str] | None = Field(
        default=None, description="only captures whose signed claim names one of these releases"
    )
    compromised_since: int = Field(description="ms since the epoch; captures since are suspect")
    reason: str = Field(max_length=500)
    signer: str = Field(description="id of the signing CA: the subject, one above it, the root")
    sig: str = Field(description="base64 signature over the v2 context || JCS(the other fields)")


class ReceiptOut(BaseModel):
    index: int
    leaf_hash: str
    tree_size: int
    checkpoint: str
    inclusion_proof: list[str]
    duplicate: bool


class CaptureResultOut(BaseModel):
    position: int
    accepted: bool
    index: int | None = None
    leaf_hash: str | None = None
    tree_size: int | None = None
    checkpoint: str | None = None
    inclusion_proof: list[str] | None = None
    duplicate: bool | None = None
    counter_status: str | None = Field(default=None, description="ok, repeated or backwards")
    flags: list[str] | None = None
    code: str | None = None
    reason: str | None = None


class CapturesOut(BaseModel):
    accepted: int
    rejected: int
    results: list[CaptureResultOut]


class DeviceRevocationOut(BaseModel):
    leaf_index: int
    compromised_since_ms: int
    scope: str = Field(default="device", description='whom it names: "device", "ca", "vendor"')
    subject_id: str | None = Field(default=None, description="the device, CA or root it names")
    firmware: list[str] | None = Field(
        default=None, description="only captures naming these releases; null: every capture"
    )
    reason: str
    signer_id: str
    logged_at_ms: int


class DeviceOut(BaseModel):
    device_id: str
    subject: str = Field(description="the device certificate's subject (RFC 4514)")
    issuer: str = Field(description="the device certificate's issuer (RFC 4514)")
    vendor_id: str
    vendor_name: str
    role: str
    algorithm: str
    issuer_id: str
    not_before_ms: int
    not_after_ms: int
    leaf_index: int
    logged_at_ms: int
    max_counter: int | None
    captures: int = Field(description="how many captures of this device are logged")
    revocations: list[DeviceRevocationOut]

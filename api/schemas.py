"""Response bodies of the /v1 API. Hashes are standard base64, as in checkpoints and proofs."""

from typing import Any

from pydantic import BaseModel, Field


class LogStatus(BaseModel):
    origin: str
    tree_size: int
    root_hash: str = Field(description="base64 SHA-256 root hash")
    checkpoint: str = Field(description="the signed checkpoint note")
    vkey: str | None = Field(description="the log's verifier key, if this server knows it")


class LogEntry(BaseModel):
    index: int
    leaf_hash: str = Field(description="base64 SHA-256(0x00 || data)")
    data: str = Field(description="base64 of the exact leaf bytes that were hashed")


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    inclusion_path: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    consistency_path: list[str]


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


# C2PA soft-binding resolution API (api/routers/softbinding.py): the spec's own field names.


class SoftBindingAlg(BaseModel):
    alg: str = Field(description="a soft-binding algorithm name and version")


class SupportedAlgorithmsOut(BaseModel):
    watermarks: list[SoftBindingAlg]
    fingerprints: list[SoftBindingAlg]


class SoftBindingQueryIn(BaseModel):
    alg: str = Field(description="org.provenance-ledger.pdq.1 (GET /services/supportedAlgorithms)")
    value: str = Field(description="base64 of the fingerprint's bytes (32 for PDQ)")


class SoftBindingMatchOut(BaseModel):
    manifestId: str = Field(description="capture-<leaf index>: GET /manifests/{manifestId}")
    similarityScore: int = Field(
        ge=0, le=100, description="100 for the same file; else 100 * (256 - PDQ distance) // 256"
    )


class SoftBindingMatchesOut(BaseModel):
    matches: list[SoftBindingMatchOut]

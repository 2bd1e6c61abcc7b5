"""Bodies of the C2PA soft-binding resolution API (api/routers/softbinding.py): the spec's own
field names, camelCase included."""

from pydantic import BaseModel, Field


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

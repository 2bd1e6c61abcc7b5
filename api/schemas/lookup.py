"""Bodies of POST /v1/lookup. The request is an image (multipart) or its hashes (JSON); the
route reads the raw body, so its OpenAPI request body is built here from the models.

The JSON models restate registry.lookup.query.query_from_json from the same constants; that
function stays the validator, because each refusal there has its own code (bad_pdq, bad_probe,
bad_sha256, ...) and order of checks, which pydantic's errors would replace."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from registry.imaging.hashing import DIHEDRAL_NAMES
from registry.imaging.matching import PROBE_TARGETS
from registry.lookup.query import MAX_PROBES

_HEX = "^[0-9a-fA-F]+$"
Hex32 = Annotated[str, Field(pattern=_HEX, min_length=64, max_length=64)]
Hex8 = Annotated[str, Field(pattern=_HEX, min_length=16, max_length=16)]
Quality = Annotated[int, Field(ge=0, le=100, strict=True)]


def _known_probe(name: str) -> str:
    if name not in PROBE_TARGETS:
        raise ValueError(f"unknown probe name (expected one of {', '.join(PROBE_TARGETS)})")
    return name


# The probe names the registry knows, stated as the JSON Schema's enum.
ProbeName = Annotated[
    str, AfterValidator(_known_probe), Field(json_schema_extra={"enum": list(PROBE_TARGETS)})
]


class ProbeIn(BaseModel):
    """One probe of registry.imaging.hashing.query_hashes, hashed by the client."""

    model_config = ConfigDict(extra="forbid")

    name: ProbeName
    pdq: Hex32 = Field(description="hex PDQ hash")
    quality: Quality
    phash: Hex8 = Field(description="hex pHash")


class ProbesLookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probes: list[ProbeIn] = Field(min_length=1, max_length=MAX_PROBES)
    sha256: Hex32 | None = Field(default=None, description="hex SHA-256 of the file's bytes")


class ShortLookupIn(BaseModel):
    """The short form: the dihedral variants' PDQ hashes, in DIHEDRAL_NAMES order."""

    model_config = ConfigDict(extra="forbid")

    pdq: Hex32 | Annotated[list[Hex32], Field(min_length=1, max_length=len(DIHEDRAL_NAMES))]
    pdq_quality: Quality
    phash: Hex8 | None = Field(default=None, description="absent: it confirms nothing")
    sha256: Hex32 | None = None


_JSON_LOOKUP: TypeAdapter[ProbesLookupIn | ShortLookupIn] = TypeAdapter(
    ProbesLookupIn | ShortLookupIn
)


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with each `#/$defs/` reference replaced by its definition: the route's body is
    stated in the operation itself, where pydantic's local references would not resolve."""
    if isinstance(schema, list):
        return [_inlined(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
    return {key: _inlined(value, defs) for key, value in schema.items()}


def json_lookup_schema() -> dict[str, Any]:
    """The JSON form of one lookup (also each item of POST /v1/lookups)."""
    schema = _JSON_LOOKUP.json_schema()
    defs = schema.pop("$defs", {})
    inlined: dict[str, Any] = _inlined(schema, defs)
    # anyOf, as pydantic states a union; the two forms never both match (extra="forbid").
    return {"oneOf": inlined.pop("anyOf"), **inlined}


def lookup_request_body() -> dict[str, Any]:
    """The OpenAPI request body of POST /v1/lookup."""
    image = {
        "type": "object",
        "properties": {"image": {"type": "string", "format": "binary"}},
        "required": ["image"],
    }
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": image},
            "application/json": {"schema": json_lookup_schema()},
        },
    }


class CautionOut(BaseModel):
    code: str = Field(description="one of registry.cautions.CODES")
    message: str
    evidence: list[int] = Field(description="leaf indexes that show it")


class ProbeOut(BaseModel):
    name: str
    pdq: str
    quality: int
    phash: str


class QueryOut(BaseModel):
    sha256: str | None
    probes: list[ProbeOut]


class MatchProofOut(BaseModel):
    leaf_hash: str
    tree_size: int
    inclusion_proof: list[str]
    bundle: str = Field(description="the path of the capture's offline proof bundle")


class MatchOut(BaseModel):
    leaf_index: int
    exact: bool
    pdq_distance: int
    variant: int
    phash_distance: int
    evidence: str = Field(description="exact, pdq or pdq+phash")
    probe: str
    matched_hash: str
    pdq_quality: int
    device_id: str
    origin_id: str = Field(
        description="whose capture it is: the device, or for a vendor that signs each capture "
        "with a one-time certificate, the CA that issued it"
    )
    vendor_id: str
    vendor_name: str
    role: str
    captured_at_ms: int
    logged_at_ms: int
    delay_ms: int
    in_compromise_window: bool
    counter_status: str
    proof: MatchProofOut
    log_order: int = Field(description="1: the first logged among the matches")
    first_logged: bool
    cautions: list[CautionOut]
    firmware: str | None = Field(default=None, description="the release its signed claim names")
    notes: list[str] = Field(
        default_factory=list,
        description="why a revocation of its device, CA or vendor root does not cover it "
        "(limited to other firmware releases)",
    )


class LookupOut(BaseModel):
    verdict: Literal["registered", "near-duplicate", "disclosed-synthetic", "not-found"]
    query: QueryOut
    matches: list[MatchOut]
    tree_size: int
    checkpoint: str
    cautions: list[CautionOut]

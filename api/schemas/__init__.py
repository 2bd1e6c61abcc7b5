"""Request and response bodies of the /v1 API, one module per resource, apart from the tables.

Hashes are standard base64, as in checkpoints and proofs, unless a field says hex. Where the
registry validates a body itself (lookups, revocations, capture records), the model describes
it for the OpenAPI schema and the registry's checks decide, so that every refusal keeps its own
error code (`{"error": {"type": ...}}`) rather than pydantic's generic one.
"""

from api.schemas.log import ConsistencyProof, InclusionProof, LogEntry, LogStatus
from api.schemas.lookup import LookupOut, lookup_request_body
from api.schemas.lookups import LookupsOut, lookups_request_body
from api.schemas.origins import OriginOut
from api.schemas.registry import (
    CaptureResultOut,
    CapturesIn,
    CapturesOut,
    DeviceIn,
    DeviceOut,
    ReceiptOut,
    RevocationIn,
    ScopedRevocationIn,
    VendorIn,
)
from api.schemas.softbinding import (
    SoftBindingAlg,
    SoftBindingMatchesOut,
    SoftBindingMatchOut,
    SoftBindingQueryIn,
    SupportedAlgorithmsOut,
)
from api.schemas.status import StatusNoteOut, StatusProofOut

__all__ = [
    "CaptureResultOut",
    "CapturesIn",
    "CapturesOut",
    "ConsistencyProof",
    "DeviceIn",
    "DeviceOut",
    "InclusionProof",
    "LogEntry",
    "LogStatus",
    "LookupOut",
    "LookupsOut",
    "OriginOut",
    "ReceiptOut",
    "RevocationIn",
    "ScopedRevocationIn",
    "SoftBindingAlg",
    "SoftBindingMatchOut",
    "SoftBindingMatchesOut",
    "SoftBindingQueryIn",
    "StatusNoteOut",
    "StatusProofOut",
    "SupportedAlgorithmsOut",
    "VendorIn",
    "lookup_request_body",
    "lookups_request_body",
]

"""Reading a signed camera file's Content Credentials with c2pa-python, offline.

The C2PA SDK validates the whole manifest store (every assertion, the hard binding against the
file's bytes, the signature, the certificate chain) against the trust anchors it is given: here,
the registered vendors' roots. Nothing is fetched: no remote manifest, no OCSP. A file is
accepted only if the SDK reports it `Trusted` with no failure; otherwise the SDK's own
validation codes (e.g. `assertion.dataHash.mismatch`, `signingCredential.untrusted`) are the
error's code and message.
"""

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import c2pa

from ledger.errors import MalformedError, VerificationError
from registry.jumbf import manifest_store_from_jpeg

# EKUs the SDK accepts on a claim signer: C2PA claim signing, document signing (the two the
# registry's device rules accept), and email protection (the SDK's own default list has it).
_ACCEPTED_EKUS = ("1.3.6.1.4.1.62558.2.1", "1.3.6.1.5.5.7.3.36", "1.3.6.1.5.5.7.3.4")
JPEG = "image/jpeg"


@dataclass(frozen=True)
class SignedFile:
    manifest: str  # the active manifest's label (URN)
    store: bytes  # the JUMBF manifest store as embedded in the file


def offline_settings(trust_anchors_pem: str) -> dict[str, Any]:
    """c2pa-python settings: verify trust against these roots (PEM), fetch nothing."""
    return {
        "verify": {
            "verify_trust": True,
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
        },
        "trust": {
            "trust_anchors": trust_anchors_pem,
            "trust_config": "\n".join(_ACCEPTED_EKUS),
        },
    }


def read_signed_file(data: bytes, name: str, trust_anchors_pem: Sequence[str]) -> SignedFile:
    """Validate `data` (a JPEG with an embedded manifest) against the given roots (PEM)."""
    if data[:3] != b"\xff\xd8\xff":
        raise MalformedError(
            f"{name}: C2PA ingest takes JPEG files (the signed captures cameras write)",
            code="c2pa_unsupported",
        )
    context = c2pa.Context(c2pa.Settings.from_dict(offline_settings("".join(trust_anchors_pem))))
    try:
        reader = c2pa.Reader(JPEG, io.BytesIO(data), context=context)
    except c2pa.C2paError as exc:
        raise MalformedError(
            f"{name}: no readable C2PA manifest ({exc})", code="c2pa_no_manifest"
        ) from None
    try:
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
        active = reader.get_active_manifest()
    finally:
        reader.close()
    failures = _failure_codes(results)
    if failures or state != "Trusted" or active is None:
        codes = failures or [f"validationState.{state}"]
        raise VerificationError(
            f"{name}: the C2PA manifest does not validate as trusted: {', '.join(codes)}"
            f"{_explained(results)}",
            code=codes[0],
        )
    return SignedFile(str(active["label"]), manifest_store_from_jpeg(data))


def _failure_codes(results: dict[str, Any]) -> list[str]:
    active = results.get("activeManifest") or {}
    return [str(item.get("code")) for item in active.get("failure") or []]


def _explained(results: dict[str, Any]) -> str:
    failures = (results.get("activeManifest") or {}).get("failure") or []
    details = [f"{f.get('code')}: {f.get('explanation')}" for f in failures[:3]]
    return f" ({'; '.join(details)})" if details else ""

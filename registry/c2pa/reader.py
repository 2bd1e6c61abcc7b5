"""Reading a signed camera file's Content Credentials with c2pa-python, offline.

The C2PA SDK validates the whole manifest store (every assertion, the hard binding against the
file's bytes, the signature, the certificate chain) against the trust anchors it is given: here,
the registered vendors' roots. Nothing is fetched: no remote manifest, no OCSP. A file is
accepted only if the SDK reports it `Trusted` with no failure; otherwise the SDK's own
validation codes (e.g. `assertion.dataHash.mismatch`, `signingCredential.untrusted`) are the
error's code and message.

What the SDK validated is then pinned to what the registry logs (`check_validated`): the log
keeps bytes the registry cuts from the file itself, and those must be the active manifest's.
c2pa-python 0.38 does not expose the raw COSE signature or the signer's DER certificate; it
exposes, for the active manifest, its label, the signer's serial number, subject common name
and organization, the claim's assertion references (URL and hash, which the signature covers)
and its instance id, and the data hash assertion. All of these are compared.
"""

import base64
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import c2pa
import cbor2
from cryptography import x509
from cryptography.x509.oid import NameOID

from ledger.errors import MalformedError, VerificationError
from registry.c2pa.cose import Decoded
from registry.c2pa.evidence import Evidence, hash_data
from registry.c2pa.jumbf import manifest_store_from_jpeg
from registry.entries.formats import C2paEvidence

# EKUs the SDK accepts on a claim signer: C2PA claim signing, document signing (the two the
# registry's device rules accept), and email protection (the SDK's own default list has it).
_ACCEPTED_EKUS = ("1.3.6.1.4.1.62558.2.1", "1.3.6.1.5.5.7.3.36", "1.3.6.1.5.5.7.3.4")
JPEG = "image/jpeg"


@dataclass(frozen=True)
class Validated:
    """What the SDK reports of the active manifest it validated."""

    label: str
    signer_serial: str  # decimal, as the SDK prints it
    signer_name: str  # the signer certificate's subject common name
    signer_organization: str  # its subject organization (the SDK calls it `issuer`)
    instance_id: str
    assertions: frozenset[tuple[str, str]]  # (hashed URI, base64 hash) the claim lists
    data_hash: str  # base64, the c2pa.hash.data hash
    exclusions: tuple[tuple[int, int], ...]

    def signer(self) -> str:
        return f"{self.signer_name} ({self.signer_organization}, serial {self.signer_serial})"


@dataclass(frozen=True)
class SignedFile:
    manifest: str  # the active manifest's label (URN)
    store: bytes  # the JUMBF manifest store as embedded in the file
    validated: Validated  # what the SDK reports it validated


def offline_settings(trust_anchors_pem: str) -> dict[str, dict[str, str | bool]]:
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
        detailed = json.loads(reader.detailed_json())
    except (c2pa.C2paError, ValueError) as exc:
        raise VerificationError(
            f"{name}: the C2PA SDK gave no report of what it validated ({exc})",
            code="c2pa_active_manifest_mismatch",
        ) from None
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
    label = str(active["label"])
    return SignedFile(label, manifest_store_from_jpeg(data), _validated(name, active, detailed))


def _validated(
    name: str, active: Mapping[str, Decoded], detailed: Mapping[str, Decoded]
) -> Validated:
    try:
        label = str(active["label"])
        info = active["signature_info"]
        manifest = detailed["manifests"][label]
        claim = manifest["claim"]
        hard = manifest["assertion_store"]["c2pa.hash.data"]
        return Validated(
            label=label,
            signer_serial=str(info["cert_serial_number"]),
            signer_name=str(info.get("common_name", "")),  # absent when the cert has none
            signer_organization=str(info.get("issuer", "")),
            instance_id=str(claim["instanceID"]),
            assertions=frozenset(
                (str(ref["url"]), str(ref["hash"]))
                for key in _REFERENCE_LISTS
                for ref in claim.get(key) or []
            ),
            data_hash=str(hard["hash"]),
            exclusions=tuple((int(e["start"]), int(e["length"])) for e in hard["exclusions"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VerificationError(
            f"{name}: the C2PA SDK's report of the active manifest lacks {exc}; without it the "
            "registry cannot tell which manifest was validated",
            code="c2pa_active_manifest_mismatch",
        ) from None


_REFERENCE_LISTS = ("created_assertions", "gathered_assertions", "assertions")


def check_validated(validated: Validated, c2pa: C2paEvidence, evidence: Evidence) -> None:
    """Raise VerificationError unless the entry's `c2pa` object (and the `evidence` it proves)
    is the manifest the SDK validated: same label, same signer certificate, same signed claim
    references and instance id, same data hash."""
    leaf = x509.load_der_x509_certificate(evidence.chain[0])
    ours = (
        f"{_name(leaf, NameOID.COMMON_NAME)} ({_name(leaf, NameOID.ORGANIZATION_NAME)}, "
        f"serial {leaf.serial_number})"
    )
    claim = cbor2.loads(base64.b64decode(c2pa["claim"]))
    bound = hash_data(c2pa)
    differences = [
        what
        for what, same in (
            ("label", validated.label == c2pa["manifest"]),
            ("signer", validated.signer() == ours),
            ("instance id", validated.instance_id == claim.get("instanceID")),
            ("assertions", validated.assertions == _references(claim)),
            ("data hash", validated.data_hash == base64.b64encode(bound.hash).decode()),
            ("exclusions", validated.exclusions == bound.exclusions),
        )
        if not same
    ]
    if differences:
        raise VerificationError(
            f"the C2PA SDK validated manifest {validated.label} signed by {validated.signer()}, "
            f"but the manifest the registry would log, {c2pa['manifest']}, is signed by {ours}; "
            f"they differ in {', '.join(differences)}",
            code="c2pa_active_manifest_mismatch",
        )


def _name(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _references(claim: Mapping[str, Decoded]) -> frozenset[tuple[str, str]]:
    return frozenset(
        (str(ref.get("url")), base64.b64encode(ref.get("hash") or b"").decode())
        for key in _REFERENCE_LISTS
        for ref in claim.get(key) or []
        if isinstance(ref, Mapping)
    )


def _failure_codes(results: dict[str, Decoded]) -> list[str]:
    active = results.get("activeManifest") or {}
    return [str(item.get("code")) for item in active.get("failure") or []]


def _explained(results: dict[str, Decoded]) -> str:
    failures = (results.get("activeManifest") or {}).get("failure") or []
    details = [f"{f.get('code')}: {f.get('explanation')}" for f in failures[:3]]
    return f" ({'; '.join(details)})" if details else ""

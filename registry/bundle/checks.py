"""The checks of a bundle, one function each, in the order `registry.bundle.verify` runs them.

Each takes what it needs, returns what it established (a sentence, and for some a value later
checks need) or raises LedgerError with the sentence the user sees. The entries they read were
proven in the log and their fields checked (`check_fields`) by the inclusion check.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.cosignature import Cosignature, CosignatureVerifier, verify_cosignatures
from ledger.encoding import decode_base64
from ledger.errors import LedgerError, MalformedError, VerificationError
from ledger.note import Verifier
from ledger.tlogproof import parse_tlog_proof
from registry.admission import rules
from registry.admission.caution_rule import (
    Revocation,
    capture_cautions,
    describe,
    uncovered_reasons,
)
from registry.admission.certs import load_vendor_root, validate_device, verify_signature
from registry.admission.revocation_rules import check_revocation_on_path, parse_scoped_revocation
from registry.bundle.format import Entry, text_field
from registry.bundle.report import TimeClaim
from registry.bundle.witness_time import cosigned_bound, witnessed_time
from registry.c2pa.binding import check_hard_binding
from registry.c2pa.evidence import check_entry
from registry.c2pa.firmware import entry_firmware
from registry.cautions import Caution
from registry.entries.codec import (
    C2PA_CAPTURE,
    CAPTURE,
    CAPTURE_KINDS,
    DEVICE,
    REVOCATION,
    REVOCATION_KINDS,
    REVOCATION_V2,
    b64_field,
    capture_message,
    check_capture_record,
    check_claim,
    field,
    hex_field,
    int_field,
    parse_entry,
    str_field,
)
from registry.imaging.features import FEATURE_NAMES
from registry.imaging.hashing import DIHEDRAL_NAMES, ProbeHash
from registry.imaging.matching import PDQ_RADIUS, Registered, judge
from registry.wording import iso_utc

ImageQuery = tuple[str, Sequence[ProbeHash]]  # registry.imaging.hashing.query_hashes of an image
# The log's clock cannot be past the calendar: 9999-12-31T23:59:59.999Z.
MAX_LOGGED_AT_MS = 253_402_300_799_999


@dataclass(frozen=True)
class Witnessed:
    """What step 2 established about the checkpoint, for the time evidence."""

    size: int  # the checkpoint's tree size
    cosignatures: Sequence[Cosignature]  # those of the given witnesses (step 2)
    required: int


def check_checkpoint(log: object, note: bytes, log_key: Verifier) -> tuple[str, Checkpoint]:
    if log != log_key.name:
        raise VerificationError(f"bundle is for the log {log!r}, not {log_key.name!r}")
    checkpoint = open_checkpoint(note, log_key)
    return f"signed by {log_key.name} at tree size {checkpoint.size}", checkpoint


def check_cosignatures(
    note: bytes, witnesses: Sequence[CosignatureVerifier], required: int
) -> tuple[str, list[Cosignature]]:
    cosignatures = verify_cosignatures(note, witnesses)
    names = sorted({c.name for c in cosignatures})
    if len(names) < required:
        # Most often the bundle is older than its witnesses' cosignatures: it keeps those its
        # checkpoint had when it was built, and witnesses cosign a little later.
        raise VerificationError(
            f"{len(names)} of the {required} witnesses required cosigned the "
            f"checkpoint{': ' + ', '.join(names) if names else ''}. A bundle holds the "
            "cosignatures its checkpoint had when it was built: if it was built before these "
            "witnesses were set up or had cosigned, download a fresh one (prov bundle INDEX, "
            "or prov verify BUNDLE --refresh URL); otherwise check the --witness-key values"
        )
    detail = (
        ", ".join(f"{c.name} at {iso_utc(c.timestamp * 1000)}" for c in cosignatures)
        or "no cosignature by the given witnesses (none required)"
    )
    return detail, list(cosignatures)


def check_inclusion(
    part: object, name: str, kind: str, note: bytes, log_key: Verifier
) -> tuple[str, Entry]:
    """The part's entry, proven in the checkpoint's tree; a revocation (either kind: `kind`
    REVOCATION stands for both) keeps its index."""
    if not isinstance(part, dict) or set(part) != {"index", "entry", "proof"}:
        raise VerificationError(f"bundle {name} must have exactly index, entry and proof")
    proof = parse_tlog_proof(text_field(part["proof"], f"{name} proof"))
    if proof.checkpoint_note != note:
        raise VerificationError(f"the {name} proof is against another checkpoint")
    if proof.index != part["index"] or proof.extra is not None:
        raise VerificationError(f"the {name} proof is for index {proof.index}, not {part['index']}")
    leaf = decode_base64(str(part["entry"]), f"{name} entry")
    proof.verify(leaf, log_key)
    entry: Entry = dict(parse_entry(leaf))  # its fields are checked below (check_fields)
    accepted = {CAPTURE: CAPTURE_KINDS, REVOCATION: REVOCATION_KINDS}.get(kind, (kind,))
    if entry["kind"] not in accepted:
        raise VerificationError(f"the {name} entry is a {entry['kind']}, not a {kind}")
    check_fields(entry)
    detail = f"entry {proof.index} is in the tree ({len(proof.proof)}-hash inclusion proof)"
    return detail, entry | {"_index": proof.index} if kind == REVOCATION else entry


def check_links(capture: Entry, device: Entry, vendor: Entry) -> str:
    cert_der = decode_base64(device["cert"], "device certificate")
    root_der = decode_base64(vendor["root"], "vendor root")
    if capture["claim"]["device"] != hashlib.sha256(cert_der).hexdigest():
        raise VerificationError("the capture was not made by the bundle's device")
    if device["vendor"] != hashlib.sha256(root_der).hexdigest():
        raise VerificationError("the device does not belong to the bundle's vendor")
    return (
        f"capture -> device {capture['claim']['device'][:16]}… -> vendor {vendor['name']!r} "
        f"({vendor['role']})"
    )


def check_chain(device: Entry, vendor: Entry) -> str:
    cert_der = decode_base64(device["cert"], "device certificate")
    root = load_vendor_root(decode_base64(vendor["root"], "vendor root"))
    chain_der = [decode_base64(c, "chain certificate") for c in device["chain"]]
    enrolled = datetime.fromtimestamp(device["logged_at"] / 1000, UTC)
    validate_device(cert_der, chain_der, root, enrolled)
    subject = x509.load_der_x509_certificate(cert_der).subject.rfc4514_string()
    return f"{subject} chains to the vendor root, valid when enrolled ({enrolled:%Y-%m-%d})"


def check_signature(capture: Entry, device: Entry) -> str:
    cert = x509.load_der_x509_certificate(decode_base64(device["cert"], "device certificate"))
    claim = capture["claim"]
    if capture["kind"] == C2PA_CAPTURE:
        signed = f"the device signed this C2PA claim ({_c2pa_evidence(capture)})"
    elif verify_signature(
        cert, decode_base64(capture["sig"], "capture signature"), capture_message(claim)
    ):
        signed = "the device signed this claim"
    else:
        raise VerificationError("the device's signature on the capture claim does not verify")
    lo, hi = (
        cert.not_valid_before_utc.timestamp() * 1000,
        cert.not_valid_after_utc.timestamp() * 1000,
    )
    if not lo <= claim["captured_at"] <= hi:
        raise VerificationError("captured_at is outside the device certificate's validity")
    return f"{signed}, inside its certificate's validity"


def check_time(
    capture: Entry,
    logged: Sequence[tuple[str, int]],
    witnessed: Witnessed,
    times: list[TimeClaim],
) -> str:
    """Appends to `times` what each party says, even when the witnesses contradict the log:
    what they say is shown beside the failure it shows."""
    captured_at = capture["claim"]["captured_at"]
    times.append(TimeClaim("captured", captured_at, "the device says so, signed with its key"))
    times.append(TimeClaim("logged", capture["logged_at"], "the log operator says so"))
    cosignatures, required, size = witnessed.cosignatures, witnessed.required, witnessed.size
    if not cosignatures:
        return (
            "no witness vouches for the time (give the witnesses' keys to check their cosignatures)"
        )
    # The k-th earliest of k required witnesses: k - 1 slow or lying ones cannot set it.
    try:
        evidence = witnessed_time(cosignatures, required, size, captured_at, logged)
    except VerificationError:
        bound = cosigned_bound(cosignatures, required, size)
        if bound is not None:
            times.append(_existed(bound.at_ms, bound.witnesses, witnessed))
        raise
    if evidence is None:
        return "no cosignature consistent with the capture's times (none required)"
    times.append(_existed(evidence.at_ms, evidence.vouchers, witnessed))
    return evidence.describe()


def check_revocations(
    capture_index: int,
    capture: Entry,
    device: Entry,
    vendor: Entry,
    revocations: Sequence[Entry],
) -> tuple[str, list[Caution]]:
    root_der = decode_base64(vendor["root"], "vendor root")
    applied = _revocations(revocations, device, root_der)
    claim = capture["claim"]
    firmware = entry_firmware(capture)
    cautions = capture_cautions(
        capture_index, claim["captured_at"], capture["logged_at"], applied, firmware
    )
    if not applied:
        return "the bundle carries no revocation of the device", cautions
    detail = (
        f"{len(applied)} revocation(s) of the device, a CA on its path or its vendor root, "
        f"each signed by a CA at or above what it names: "
        + "; ".join(f"log entry {r.index}: {describe(r, vendor['name'])}" for r in applied)
    )
    uncovered = uncovered_reasons(applied, firmware)
    if uncovered:
        detail += " (" + "; ".join(uncovered) + ")"
    return detail, cautions


def check_image(capture: Entry, image_hashes: ImageQuery, image: bytes | None) -> str:
    sha256, probes = image_hashes
    claim = capture["claim"]
    if sha256 == claim["sha256"]:
        if capture["kind"] == C2PA_CAPTURE and image is not None:
            return _c2pa_binding(capture, image)
        return "the image is the registered file (same SHA-256)"
    features = claim.get("features", {})
    registered = Registered(
        claim["pdq"],
        claim["pdq_quality"],
        claim["phash"],
        {name: features[name] for name in FEATURE_NAMES if name in features},
    )
    evidence = judge(probes, registered)
    if evidence is None:
        nearest = min(
            (int(p.pdq, 16) ^ int(claim["pdq"], 16)).bit_count()
            for p in probes
            if p.name in DIHEDRAL_NAMES
        )
        raise VerificationError(
            f"the image is not the registered one: SHA-256 differs and no perceptual "
            f"hash matches (nearest PDQ distance {nearest} of 256, match radius {PDQ_RADIUS})"
        )
    confirmed = (
        f", confirmed by pHash distance {evidence.phash_distance} of 64"
        if evidence.rule != "pdq"
        else ""
    )
    return (
        f"the image is a near-duplicate: PDQ distance {evidence.pdq_distance} between "
        f"its {evidence.probe} hash and the capture's {evidence.target}{confirmed}"
    )


# --- helpers of the checks ---


def _existed(at_ms: int, vouchers: Sequence[Cosignature], witnessed: Witnessed) -> TimeClaim:
    """The time claim of the witnesses that vouch for a tree holding the capture."""
    if len(vouchers) == 1:
        who = f"witness {vouchers[0].name}"
    else:
        cosigned = len({c.name for c in witnessed.cosignatures})
        who = (
            f"witnesses {', '.join(c.name for c in vouchers)} ({len(vouchers)} of the "
            f"{cosigned} that cosigned)"
        )
    return TimeClaim(
        "existed no later than",
        at_ms,
        f"{who} cosigned the log at {witnessed.size} entries, which include it",
    )


def _c2pa_evidence(capture: Entry) -> str:
    """Re-verify a c2pa-capture/v1's claim signature and say what it covers."""
    evidence = check_entry(capture)
    return (
        f"COSE signature over manifest {capture['c2pa']['manifest']}, binding the file by "
        f"{evidence.hard_binding} and the capture time; the perceptual hashes are the registry's "
        "measurements of the file it was given"
    )


def _c2pa_binding(capture: Entry, image: bytes) -> str:
    """The registered file must be the one the logged C2PA claim binds: a genuine manifest
    lifted from another photo verifies from the entry alone, and only the file shows it."""
    try:
        check_hard_binding(capture["c2pa"], image)
    except LedgerError as exc:
        raise VerificationError(f"{exc} ({exc.code})", code=exc.code) from None
    return (
        "the image is the registered file (same SHA-256), and the camera's signed "
        "c2pa.hash.data binds it"
    )


def check_fields(entry: Entry) -> None:
    """The fields the later checks read, with the types they need. The log vouches for its
    entries only with its signature: a log that signed an entry of another shape gets a failed
    check that names the field, not a crash."""
    kind = entry["kind"]
    int_field(entry, "logged_at", kind, 0, MAX_LOGGED_AT_MS)
    if kind == CAPTURE:
        check_capture_record({k: v for k, v in entry.items() if k != "logged_at"})
    elif kind == C2PA_CAPTURE:
        check_claim(field(entry, "claim", kind), counter=False)
    elif kind == DEVICE:
        b64_field(entry, "cert", kind)
        hex_field(entry, "vendor", kind, 64)
        chain = field(entry, "chain", kind)
        if not isinstance(chain, list):
            raise MalformedError(f"{kind} 'chain' must be a list", code="bad_chain")
        for certificate in chain:
            b64_field({"chain": certificate}, "chain", kind)
    elif kind == REVOCATION:
        rules.parse_revocation({k: v for k, v in entry.items() if k != "logged_at"})
    elif kind == REVOCATION_V2:
        parse_scoped_revocation({k: v for k, v in entry.items() if k != "logged_at"})
    else:
        str_field(entry, "name", kind)
        str_field(entry, "role", kind)
        b64_field(entry, "root", kind)


def _revocations(entries: Sequence[Entry], device: Entry, root_der: bytes) -> list[Revocation]:
    """Each revocation entry checked as admission checks it
    (registry.admission.revocation_rules.check_revocation_on_path): it names the bundle's
    device, a CA on its verified path or its vendor root, and it is signed by a CA at or above
    what it names - from the bundle's own certificates, never from a server's word."""
    cert_der = decode_base64(device["cert"], "device certificate")
    chain = [decode_base64(c, "chain certificate") for c in device["chain"]]
    # The path is the one the X.509 verifier builds, never the chain as logged (a certificate
    # there may carry a CA's name with a stranger's key).
    path = rules.check_device(cert_der, chain, load_vendor_root(root_der), device["logged_at"])
    applied = []
    for entry in entries:
        index = entry["_index"]
        try:
            applied.append(check_revocation_on_path(entry, (cert_der, *path.path_der), index=index))
        except (MalformedError, VerificationError) as exc:
            raise VerificationError(f"the revocation at log entry {index}: {exc}") from None
    return applied

"""C2PA captures: a camera's C2PA-signed file, logged as a c2pa-capture/v1 entry."""

from cryptography.hazmat.primitives.serialization import Encoding

from ledger import SignedCheckpoint
from ledger.errors import NotFoundError, VerificationError
from registry.admission import rules
from registry.admission.captures import Admitted, Pending, Refused, admit
from registry.admission.context import Writer
from registry.admission.devices import device_keys, enroll_device
from registry.admission.results import CaptureResult, receipts
from registry.admission.vendors import vendor_ids, vendor_root
from registry.c2pa.binding import check_hard_binding
from registry.c2pa.evidence import check_evidence, evidence_from_store
from registry.c2pa.firmware import capture_firmware
from registry.c2pa.reader import check_validated, read_signed_file
from registry.entries.codec import canonical_claim
from registry.entries.strings import check_no_nul
from registry.imaging.hashing import hash_image


def ingest_c2pa(writer: Writer, data: bytes, name: str = "image") -> CaptureResult:
    """Log a camera's C2PA-signed file as a c2pa-capture/v1 entry (registry.c2pa.evidence).

    The C2PA SDK validates the file against the registered vendor roots; the signer's
    certificate is enrolled as a device/v1 entry first if it is not yet; the entry keeps
    the claim, its signature and the assertions it relies on, re-verified here exactly as
    an auditor will, plus the registry's hashes of the file.
    """
    writer.sequencer_or_refuse()
    roots = [vendor_root(writer, vendor_id) for vendor_id in vendor_ids(writer)]
    if not roots:
        raise NotFoundError("no vendor is registered, so no C2PA signer can be trusted")
    pem = [root.certificate.public_bytes(Encoding.PEM).decode() for root in roots]
    signed = read_signed_file(data, name, pem)
    c2pa = evidence_from_store(signed.store, signed.manifest)
    evidence = check_evidence(c2pa)
    # What is logged must be what the SDK validated, and bind this very file.
    check_validated(signed.validated, c2pa, evidence)
    check_hard_binding(c2pa, data)
    root_ders = {root.der for root in roots}
    chain = [der for der in evidence.chain[1:] if der not in root_ders]
    enroll_device(writer, evidence.chain[0], chain)
    hashes = hash_image(data, name, max_pixels=writer.settings.max_image_pixels)
    claim = {
        "device": evidence.device_id,
        "captured_at": evidence.captured_at,
        **hashes.claim_fields(),
    }
    firmware = capture_firmware(c2pa)  # the audit re-derives it (evidence.check_entry)
    if firmware is not None:
        claim["firmware"] = firmware
    device = device_keys(writer, {evidence.device_id}).get(evidence.device_id)
    problem = rules.claim_problem(claim, device, writer.now(), writer.settings.max_future_skew_ms)
    if problem is not None:
        raise VerificationError(problem[1], code=problem[0])
    check_no_nul({"claim": claim, "c2pa": c2pa}, "c2pa-capture")
    item = Pending(0, claim, c2pa["signature"], canonical_claim(claim), c2pa=c2pa)
    result, (outcome,) = writer.append(lambda c, first, now: admit(c, first, now, [item]))
    if isinstance(outcome, Refused):
        raise VerificationError(outcome.reason, code=outcome.code)
    return _result(writer, result.checkpoint, outcome)


def _result(writer: Writer, checkpoint: SignedCheckpoint, outcome: Admitted) -> CaptureResult:
    duplicates = {outcome.index} if outcome.replay else set()
    receipt = receipts(writer.store, [outcome.index], checkpoint, duplicates)[0]
    return CaptureResult(0, receipt, outcome.counter_status, outcome.flags)

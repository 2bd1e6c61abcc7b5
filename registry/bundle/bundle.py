"""Proof bundles: one JSON document that proves a capture was logged, by which device of which
vendor, checkable offline with nothing but the log's verifier key.

    {"format": "provenance-ledger/bundle/v1", "log": <log key name>, "checkpoint": <signed note>,
     "capture": {"index": N, "entry": <base64 leaf>, "proof": <C2SP tlog-proof>},
     "device": {...}, "vendor": {...},
     "revocations"?: [{"index": N, "entry": ..., "proof": ...}, ...]}

`revocations` (added beside the others; absent when there are none, so older bundles are
unchanged) holds every revocation of the device the log holds at the bundle's checkpoint, each
with its inclusion proof: `verify_bundle` checks them and applies them as cautions
(registry.admission.capture_cautions).

The three tlog-proofs are against the same signed checkpoint, which is also given on its own.
Bundles are written as compact JSON, so every byte is meaningful: changing any byte of one makes
it unparseable or makes a check fail (tests/test_bundle.py flips every byte).
"""

import base64
import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from sqlalchemy import select

from ledger import Checkpoint, LogStore, TlogProof, Verifier, open_checkpoint, parse_tlog_proof
from ledger.cosignature import Cosignature, CosignatureVerifier, verify_cosignatures
from ledger.encoding import decode_base64
from ledger.errors import LedgerError, MalformedError, NotFoundError, VerificationError
from ledger.witnessing import cosigned_note, latest_cosigned
from registry.admission import rules
from registry.admission.capture_cautions import Revocation, applies, capture_cautions
from registry.admission.certs import load_vendor_root, validate_device, verify_signature
from registry.admission.schema import reg_captures, reg_devices, reg_revocations, reg_vendors
from registry.bundle.witness_time import cosigned_bound, witnessed_time
from registry.c2pa.binding import check_hard_binding
from registry.c2pa.evidence import check_entry
from registry.cautions import Caution
from registry.entries.codec import (
    C2PA_CAPTURE,
    CAPTURE,
    CAPTURE_KINDS,
    DEVICE,
    REVOCATION,
    VENDOR,
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

FORMAT = "provenance-ledger/bundle/v1"
PARTS = ("capture", "device", "vendor")
REVOCATIONS = "revocations"  # the optional part: the device's revocations, each proven
MAX_REVOCATIONS = 1000  # far beyond any device's; a bound on what a verifier parses


def build_bundle(store: LogStore, capture_index: int) -> bytes:
    """The bundle for the capture at `capture_index`, against the log's latest checkpoint."""
    return build_bundle_with_cautions(store, capture_index)[0]


def build_bundle_with_cautions(store: LogStore, capture_index: int) -> tuple[bytes, list[Caution]]:
    """The bundle, and the per-capture cautions that its own entries show (what
    `verify_bundle` will report), for servers that say so beside the bundle."""
    # Checked before the query: an index past the tree cannot be a capture, and one past 2**63
    # would overflow the database's integer column (an error, not an answer).
    if not 0 <= capture_index < store.latest_checkpoint().size:
        raise NotFoundError(
            f"log entry {capture_index} is not a registered capture", code="not_a_capture"
        )
    with store.engine.connect() as connection:
        row = connection.execute(
            select(
                reg_devices.c.leaf_index,
                reg_vendors.c.leaf_index.label("vendor_index"),
                reg_captures.c.device_id,
            )
            .select_from(reg_captures)
            .join(reg_devices, reg_devices.c.device_id == reg_captures.c.device_id)
            .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
            .where(reg_captures.c.leaf_index == capture_index)
        ).first()
    if row is None:
        raise NotFoundError(
            f"log entry {capture_index} is not a registered capture", code="not_a_capture"
        )
    indexes = [capture_index, row.leaf_index, row.vendor_index]
    # The newest checkpoint a witness cosigned, if one covers the capture: its cosignatures are
    # the third-party evidence of when the capture existed. Otherwise the latest, unwitnessed.
    checkpoint = latest_cosigned(store, max(indexes) + 1) or store.latest_checkpoint()
    note = cosigned_note(store, checkpoint)
    with store.engine.connect() as connection:
        # Every revocation of the device the checkpoint covers - logged before or after the
        # capture: a later one can still date the compromise before it.
        revocations = list(
            connection.execute(
                select(reg_revocations.c.leaf_index)
                .where(
                    reg_revocations.c.device_id == row.device_id,
                    reg_revocations.c.leaf_index < checkpoint.size,
                )
                .order_by(reg_revocations.c.leaf_index)
            ).scalars()
        )
    receipts = store.receipts(indexes + revocations, checkpoint.size)
    proven = []
    for index, (_leaf_hash, proof) in zip(indexes + revocations, receipts, strict=True):
        proven.append(
            {
                "index": index,
                "entry": _b64(store.entry(index)),
                "proof": TlogProof(index, tuple(proof), note).encode().decode(),
            }
        )
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "log": checkpoint.checkpoint.origin,
        "checkpoint": note.decode(),
        **dict(zip(PARTS, proven, strict=False)),
    }
    if revocations:
        bundle[REVOCATIONS] = proven[len(PARTS) :]
    capture = parse_entry(store.entry(capture_index))
    cautions = capture_cautions(
        capture_index,
        capture["claim"]["captured_at"],
        capture["logged_at"],
        [
            Revocation(r["index"], entry["device"], entry["compromised_since"])
            for r in proven[len(PARTS) :]
            for entry in [parse_entry(store.entry(r["index"]))]
        ],
    )
    return json.dumps(bundle, separators=(",", ":"), sort_keys=True).encode(), cautions


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
    except (ValueError, OverflowError, OSError):
        # A witness may sign any u64 time, a log any logged_at: past year 9999 (or the
        # platform's time_t) is still an answer to print, not a crash.
        return f"{ms} ms after 1970 (beyond the calendar)"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class TimeClaim:
    """A statement about when the capture existed, and who vouches for it."""

    what: str  # "captured", "logged", "existed no later than"
    at_ms: int
    vouched_by: str

    def describe(self) -> str:
        return f"{self.what} {_iso(self.at_ms)} ({self.vouched_by})"


@dataclass(frozen=True)
class BundleReport:
    checks: tuple[Check, ...]
    times: tuple[TimeClaim, ...] = ()
    # What the bundle's own entries show against the capture: never part of `ok` (the proof
    # holds), but a verdict that carries any is not a clean pass.
    cautions: tuple[Caution, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


class _Checks:
    """Collects checks; a failed check stops the verification (later ones would be noise)."""

    def __init__(self) -> None:
        self.done: list[Check] = []

    def run(self, name: str, check: Callable[[], str]) -> None:
        try:
            detail = check()
        except LedgerError as exc:
            self.done.append(Check(name, False, str(exc)))
            raise _Stop from None
        except (ValueError, KeyError, TypeError) as exc:
            self.done.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
            raise _Stop from None
        self.done.append(Check(name, True, detail))


class _Stop(Exception):
    pass


def parse_bundle(data: bytes) -> dict[str, Any]:
    try:
        bundle = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # Recursion: nested too deep
        raise MalformedError(f"bundle is not JSON: {exc}", code="bad_bundle") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise MalformedError(f"bundle is not a {FORMAT} document", code="bad_bundle")
    fields = {"format", "log", "checkpoint", *PARTS}
    if set(bundle) not in (fields, fields | {REVOCATIONS}):
        raise MalformedError(
            f"bundle fields must be exactly {sorted(fields)}, optionally with {REVOCATIONS!r}",
            code="bad_bundle",
        )
    if REVOCATIONS in bundle and (
        not isinstance(bundle[REVOCATIONS], list)
        or not 1 <= len(bundle[REVOCATIONS]) <= MAX_REVOCATIONS
    ):
        raise MalformedError(
            f"bundle {REVOCATIONS!r} must be a list of 1 to {MAX_REVOCATIONS} proven entries",
            code="bad_bundle",
        )
    body = data[:-1] if data.endswith(b"\n") else data
    if json.dumps(bundle, separators=(",", ":"), sort_keys=True).encode() != body:
        raise MalformedError("bundle is not in its canonical compact form", code="bad_bundle")
    return bundle


def _text(value: Any, what: str) -> bytes:
    """A bundle's text field as UTF-8. JSON can carry lone surrogates ("\\ud800") that no UTF-8
    encodes: the encoder's ValueError would be a crash, or an unreadable reason."""
    if not isinstance(value, str):
        raise MalformedError(f"bundle {what} must be a string", code="bad_bundle")
    try:
        return value.encode()
    except UnicodeEncodeError:
        raise MalformedError(
            f"bundle {what} is not Unicode text (it holds a lone surrogate)", code="bad_bundle"
        ) from None


# The log's clock cannot be past the calendar: 9999-12-31T23:59:59.999Z.
MAX_LOGGED_AT_MS = 253_402_300_799_999


def _c2pa_evidence(capture: dict[str, Any]) -> str:
    """Re-verify a c2pa-capture/v1's claim signature and say what it covers."""
    evidence = check_entry(capture)
    return (
        f"COSE signature over manifest {capture['c2pa']['manifest']}, binding the file by "
        f"{evidence.hard_binding} and the capture time; the perceptual hashes are the registry's "
        "measurements of the file it was given"
    )


def _c2pa_binding(capture: dict[str, Any], image: bytes) -> str:
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


def _check_fields(entry: dict[str, Any]) -> None:
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
    else:
        str_field(entry, "name", kind)
        str_field(entry, "role", kind)
        b64_field(entry, "root", kind)


def _revocations(
    entries: Sequence[dict[str, Any]], device: dict[str, Any], root_der: bytes
) -> list[Revocation]:
    """Each revocation entry checked as admission checks it: it names the bundle's device (or,
    once they exist, a CA on its chain), and its signature verifies with the CA certificate
    from the bundle's own chain (the vendor root or the device's issuing CA)."""
    chain = [decode_base64(c, "chain certificate") for c in device["chain"]]
    # The signer is judged against the path the X.509 verifier builds, never the chain as
    # logged (a certificate there may carry a CA's name with a stranger's key).
    path = rules.check_device(
        decode_base64(device["cert"], "device certificate"),
        chain,
        load_vendor_root(root_der),
        device["logged_at"],
    )
    enrolled = rules.enrolled_device(device, path)
    applied = []
    for entry in entries:
        index = entry["_index"]
        body, signature = rules.parse_revocation(
            {k: v for k, v in entry.items() if k not in ("logged_at", "_index")}
        )
        # A revocation/v1 names a device; a CA revocation kind will pass the chain's CA ids.
        if not applies(body["device"], enrolled.device_id):
            raise VerificationError(
                f"the revocation at log entry {index} names device {body['device'][:16]}…, not "
                "the bundle's device or a CA on its chain"
            )
        ca = rules.ca_certificate(body["signer"], enrolled.device_id, path.path_der)
        try:
            rules.check_revocation(body, signature, ca)
        except VerificationError as exc:
            raise VerificationError(f"the revocation at log entry {index}: {exc}") from None
        applied.append(Revocation(index, body["device"], body["compromised_since"]))
    return applied


ImageQuery = tuple[str, Sequence[ProbeHash]]  # registry.imaging.hashing.query_hashes of an image


def verify_bundle(
    data: bytes,
    log_key: Verifier,
    image_hashes: ImageQuery | None = None,
    witnesses: Sequence[CosignatureVerifier] = (),
    min_witnesses: int = 0,
    image: bytes | None = None,
) -> BundleReport:
    """Check a bundle offline. `image_hashes` is `registry.imaging.hashing.query_hashes(image)`, to
    compare the image with the capture by the lookup's own rule (`registry.imaging.matching.judge`);
    given the `image` bytes too, a c2pa-capture/v1's signed hard binding is recomputed over the
    registered file. MalformedError for a document that is not a bundle at all."""
    bundle = parse_bundle(data)
    checks = _Checks()
    times: list[TimeClaim] = []
    cautions: list[Caution] = []
    with contextlib.suppress(_Stop):  # a failed check has been recorded; stop there
        _verify(
            bundle, log_key, image_hashes, checks, _Witnessing(witnesses, min_witnesses), times,
            cautions, image,
        )  # fmt: skip
    return BundleReport(tuple(checks.done), tuple(times), tuple(cautions))


@dataclass(frozen=True)
class _Witnessing:
    keys: Sequence[CosignatureVerifier]
    required: int


def _verify(
    bundle: dict[str, Any],
    log_key: Verifier,
    image_hashes: ImageQuery | None,
    checks: _Checks,
    witnessing: _Witnessing,
    times: list[TimeClaim],
    cautions: list[Caution],
    image_bytes: bytes | None = None,
) -> None:
    note = _text(bundle["checkpoint"], "checkpoint")
    opened: list[Checkpoint] = []

    def checkpoint() -> str:
        if bundle["log"] != log_key.name:
            raise VerificationError(
                f"bundle is for the log {bundle['log']!r}, not {log_key.name!r}"
            )
        opened.append(open_checkpoint(note, log_key))
        return f"signed by {log_key.name} at tree size {opened[0].size}"

    checks.run("checkpoint signature", checkpoint)
    cosignatures: list[Cosignature] = []
    if witnessing.keys or witnessing.required:

        def witnessed() -> str:
            cosignatures.extend(verify_cosignatures(note, witnessing.keys))
            names = sorted({c.name for c in cosignatures})
            if len(names) < witnessing.required:
                raise VerificationError(
                    f"{len(names)} of the {witnessing.required} witnesses required cosigned the "
                    f"checkpoint{': ' + ', '.join(names) if names else ''}"
                )
            return (
                ", ".join(f"{c.name} at {_iso(c.timestamp * 1000)}" for c in cosignatures)
                or "no cosignature by the given witnesses (none required)"
            )

        checks.run("witness cosignatures", witnessed)
    entries: dict[str, dict[str, Any]] = {}
    parts = [(name, name, kind, bundle[name]) for name, kind in
             zip(PARTS, (CAPTURE, DEVICE, VENDOR), strict=True)]  # fmt: skip
    parts += [
        (f"revocation {position}", "revocation", REVOCATION, part)
        for position, part in enumerate(bundle.get(REVOCATIONS, ()))
    ]
    for key, name, kind, part in parts:

        def included(part: Any = part, name: str = name, kind: str = kind, key: str = key) -> str:
            if not isinstance(part, dict) or set(part) != {"index", "entry", "proof"}:
                raise VerificationError(f"bundle {name} must have exactly index, entry and proof")
            proof = parse_tlog_proof(_text(part["proof"], f"{name} proof"))
            if proof.checkpoint_note != note:
                raise VerificationError(f"the {name} proof is against another checkpoint")
            if proof.index != part["index"] or proof.extra is not None:
                raise VerificationError(
                    f"the {name} proof is for index {proof.index}, not {part['index']}"
                )
            leaf = decode_base64(str(part["entry"]), f"{name} entry")
            proof.verify(leaf, log_key)
            entry = parse_entry(leaf)
            accepted = CAPTURE_KINDS if kind == CAPTURE else (kind,)
            if entry["kind"] not in accepted:
                raise VerificationError(f"the {name} entry is a {entry['kind']}, not a {kind}")
            _check_fields(entry)
            entries[key] = entry | {"_index": proof.index} if kind == REVOCATION else entry
            return f"entry {proof.index} is in the tree ({len(proof.proof)}-hash inclusion proof)"

        checks.run(f"{name} inclusion", included)

    capture, device, vendor = entries["capture"], entries["device"], entries["vendor"]
    cert_der = decode_base64(device["cert"], "device certificate")
    root_der = decode_base64(vendor["root"], "vendor root")

    def links() -> str:
        if capture["claim"]["device"] != hashlib.sha256(cert_der).hexdigest():
            raise VerificationError("the capture was not made by the bundle's device")
        if device["vendor"] != hashlib.sha256(root_der).hexdigest():
            raise VerificationError("the device does not belong to the bundle's vendor")
        return f"capture -> device {capture['claim']['device'][:16]}… -> vendor {vendor['name']!r} ({vendor['role']})"

    checks.run("entries refer to each other", links)

    def chain() -> str:
        root = load_vendor_root(root_der)
        chain_der = [decode_base64(c, "chain certificate") for c in device["chain"]]
        enrolled = datetime.fromtimestamp(device["logged_at"] / 1000, UTC)
        validate_device(cert_der, chain_der, root, enrolled)
        subject = x509.load_der_x509_certificate(cert_der).subject.rfc4514_string()
        return f"{subject} chains to the vendor root, valid when enrolled ({enrolled:%Y-%m-%d})"

    checks.run("device certificate chain", chain)

    def signature() -> str:
        cert = x509.load_der_x509_certificate(cert_der)
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

    checks.run("device signature on the claim", signature)

    def timing() -> str:
        claim = capture["claim"]
        times.append(
            TimeClaim("captured", claim["captured_at"], "the device says so, signed with its key")
        )
        times.append(TimeClaim("logged", capture["logged_at"], "the log operator says so"))
        if not cosignatures:
            return (
                "no witness vouches for the time (give the witnesses' keys to check their "
                "cosignatures)"
            )
        # The k-th earliest of k required witnesses: k - 1 slow or lying ones cannot set it.
        logged = [(f"the {name} entry", entries[name]["logged_at"]) for name in PARTS]
        size = opened[0].size

        def existed(at_ms: int, vouchers: Sequence[Cosignature]) -> None:
            who = (
                f"witness {vouchers[0].name}"
                if len(vouchers) == 1
                else (
                    f"witnesses {', '.join(c.name for c in vouchers)} ({len(vouchers)} of the "
                    f"{len({c.name for c in cosignatures})} that cosigned)"
                )
            )
            times.append(
                TimeClaim(
                    "existed no later than", at_ms,
                    f"{who} cosigned the log at {size} entries, which include it",
                )
            )  # fmt: skip

        try:
            witnessed = witnessed_time(
                cosignatures, witnessing.required, size, claim["captured_at"], logged
            )
        except VerificationError:
            bound = cosigned_bound(cosignatures, witnessing.required, size)
            if bound is not None:  # what the witnesses say, beside the failure it shows
                existed(bound.at_ms, bound.witnesses)
            raise
        if witnessed is None:
            return "no cosignature consistent with the capture's times (none required)"
        existed(witnessed.at_ms, witnessed.vouchers)
        return witnessed.describe()

    checks.run("time evidence", timing)

    revocations = [entry for key, entry in entries.items() if key.startswith("revocation ")]

    def revoked() -> str:
        applied = _revocations(revocations, device, root_der)
        claim = capture["claim"]
        cautions.extend(
            capture_cautions(bundle["capture"]["index"], claim["captured_at"],
                             capture["logged_at"], applied)
        )  # fmt: skip
        if not applied:
            return "the bundle carries no revocation of the device"
        return (
            f"{len(applied)} revocation(s) of the device, each signed by a CA on its chain "
            f"(log entries {', '.join(str(r.index) for r in applied)}); earliest compromise "
            f"{_iso(min(r.compromised_since for r in applied))}"
        )

    if revocations:
        checks.run("revocations", revoked)
    else:
        claim = capture["claim"]
        cautions.extend(
            capture_cautions(bundle["capture"]["index"], claim["captured_at"],
                             capture["logged_at"], ())
        )  # fmt: skip

    if image_hashes is not None:
        sha256, probes = image_hashes

        def image() -> str:
            claim = capture["claim"]
            if sha256 == claim["sha256"]:
                if capture["kind"] == C2PA_CAPTURE and image_bytes is not None:
                    return _c2pa_binding(capture, image_bytes)
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
                    f"hash matches (nearest PDQ distance {nearest} of 256, match radius "
                    f"{PDQ_RADIUS})"
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

        checks.run("image matches the capture", image)

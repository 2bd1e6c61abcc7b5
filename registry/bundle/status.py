"""A bundle's revocation status, proven: which revocations the log holds, as of the bundle's
checkpoint, against the device, each CA on its verified path and its vendor root. Offline
(no SQLAlchemy), like `registry.bundle.verify`, which runs `check_status` as its check
"revocation status".

The bundle's optional `status` part (docs/design.md, section 4.5):

    "status": {"note": <the log's signed status note for the bundle's checkpoint>,
               "subjects": [{"subject": <hex id>, "proof": <base64 ledger.status proof>}, ...]}

The note (ledger.status_note) is signed by the log key and names the checkpoint's origin, size
and root hash, and the root of the status index: subject id -> the ascending leaf indexes of
the entries that name it (registry.entries.status_subjects, the registry's rule). One proof per
required subject - the device id, the id (SHA-256 of the DER) of every CA on the verified path,
the vendor root id - each exactly once, sorted. For a signed root a subject has exactly one
provable answer (ledger.status), so a bundle that proves its subjects cannot leave one of
their revocations out: `revocations` must hold exactly the entries the proofs list.

What it does not prove: anything logged after the checkpoint. The answer is "as of checkpoint
N"; `prov verify --refresh URL` asks the log for a newer one.
"""

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint
from ledger.cosignature import Cosignature
from ledger.encoding import decode_base64
from ledger.errors import MalformedError, VerificationError
from ledger.note import Verifier
from ledger.status import StatusProof, parse_status_proof, verify_status
from ledger.status_note import open_status
from registry.admission import rules
from registry.admission.certs import load_vendor_root
from registry.bundle.format import Entry, ProvenPart, text_field
from registry.bundle.witness_time import cosigned_bound
from registry.cautions import REVOCATION_STATUS_UNPROVEN, Caution
from registry.entries.status_subjects import status_subjects
from registry.wording import iso_utc

__all__ = [
    "MAX_SUBJECTS",
    "ListedRevocation",
    "RevocationStatus",
    "check_status",
    "required_subjects",
    "status_part",
    "unproven_status",
]

# A device, the CAs of its path and its root: far fewer than this in any real PKI; a bound on
# what a verifier parses.
MAX_SUBJECTS = 64


@dataclass(frozen=True)
class ListedRevocation:
    """A revocation the status index lists against one of the bundle's subjects."""

    index: int  # its log entry
    subject: str  # hex id of what it names
    whom: str  # "the device", "CA 3f2a9c0d1b4e5f60…", "the vendor root"


@dataclass(frozen=True)
class RevocationStatus:
    """What a bundle proves about the revocations against its capture's device."""

    size: int  # the checkpoint it is as of
    proven: bool  # False: the bundle carries no status proof (older, or stripped)
    witnessed_ms: int | None = None  # when k witnesses had seen that checkpoint, if checked
    revocations: tuple[ListedRevocation, ...] = ()

    def as_of(self) -> str:
        when = (
            f"witnessed by {iso_utc(self.witnessed_ms)}"
            if self.witnessed_ms is not None
            else "its time unknown: no witness cosignature checked"
        )
        return f"as of checkpoint {self.size} ({when})"

    def summary(self) -> str:
        """The status in words: clean, not proven, or the revocations listed."""
        if not self.proven:
            return "not proven (the bundle carries no status proof)"
        if not self.revocations:
            return "clean: no revocation of the device, its CAs or its vendor root"
        listed = ", ".join(f"log entry {r.index} of {r.whom}" for r in self.revocations)
        return f"{len(self.revocations)} revocation(s): {listed}"

    def to_json(self) -> dict[str, object]:
        return {
            "proven": self.proven,
            "as_of_checkpoint": self.size,
            "witnessed_at_ms": self.witnessed_ms,
            "revocations": [
                {"index": r.index, "subject": r.subject, "whom": r.whom} for r in self.revocations
            ],
        }


def required_subjects(device: Entry, vendor: Entry) -> dict[str, str]:
    """Subject hex id -> whom it names, sorted by id: the device, every CA on the path the
    X.509 verifier builds from the logged chain (never the chain as logged), the vendor root.
    The builder (registry.bundle.build) and the verifier call this same function."""
    path = rules.check_device(
        decode_base64(device["cert"], "device certificate"),
        [decode_base64(c, "chain certificate") for c in device["chain"]],
        load_vendor_root(decode_base64(vendor["root"], "vendor root")),
        device["logged_at"],
    )
    whom = {path.device_id: "the device"}
    for ca_id in path.chain_ids[:-1]:
        whom.setdefault(ca_id, f"CA {ca_id[:16]}…")
    whom.setdefault(path.chain_ids[-1], "the vendor root")
    return dict(sorted(whom.items()))


def status_part(note: bytes, proofs: dict[str, StatusProof]) -> dict[str, object]:
    """The bundle's `status` part for these proofs (subject hex -> proof)."""
    return {
        "note": note.decode(),
        "subjects": [
            {"subject": subject, "proof": _b64(proofs[subject].encode())}
            for subject in sorted(proofs)
        ],
    }


def unproven_status(size: int) -> tuple[str, RevocationStatus, Caution]:
    """A bundle without `status`: it still verifies, but cannot look clean (a server, or
    whoever handed it over, may have left a revocation out)."""
    caution = Caution(
        REVOCATION_STATUS_UNPROVEN,
        f"the bundle proves no revocation status (it carries no status proof for checkpoint "
        f"{size}): a revocation of the device, its CAs or its vendor root may have been left "
        "out; verify it with --refresh URL against the log, or fetch a fresh bundle",
    )
    detail = "not proven: the bundle carries no status proof, so its revocations may be partial"
    return detail, RevocationStatus(size, proven=False), caution


def check_status(
    part: object,
    checkpoint: Checkpoint,
    log_key: Verifier,
    entries: tuple[Entry, Entry],
    revocations: Sequence[ProvenPart],
    cosignatures: Sequence[Cosignature] = (),
    required: int = 0,
) -> tuple[str, RevocationStatus]:
    """The check "revocation status" of a bundle with a `status` part. `entries` are its
    proven device and vendor entries; `revocations` its revocation parts, each already proven
    in the checkpoint's tree; `cosignatures` those verified of the checkpoint, of which
    `required` date it."""
    subjects = required_subjects(*entries)
    note, proofs = _parse(part)
    commitment = open_status(note, log_key)
    if (commitment.origin, commitment.size, commitment.root_hash) != (
        checkpoint.origin,
        checkpoint.size,
        checkpoint.root_hash,
    ):
        raise VerificationError(
            f"the status note is for the tree of {commitment.size} entries of "
            f"{commitment.origin!r} with another root, not the bundle's checkpoint "
            f"({checkpoint.size} entries): a status proof from another checkpoint"
        )
    _check_subjects([s for s, _ in proofs], subjects)
    listed: dict[int, str] = {}
    for subject, proof in proofs:
        try:
            indexes = verify_status(commitment.status_root, bytes.fromhex(subject), proof)
        except VerificationError as exc:
            raise VerificationError(
                f"the status proof of {subjects[subject]} ({subject[:16]}…) does not verify "
                f"against the status note's root: {exc}"
            ) from None
        for index in indexes:
            if listed.setdefault(index, subject) != subject:
                raise VerificationError(
                    f"the status index lists log entry {index} under two subjects"
                )
    _check_listing(listed, revocations, subjects)
    status = RevocationStatus(
        checkpoint.size,
        proven=True,
        witnessed_ms=_witnessed_ms(checkpoint.size, cosignatures, required),
        revocations=tuple(
            ListedRevocation(index, listed[index], subjects[listed[index]])
            for index in sorted(listed)
        ),
    )
    return f"revocation status {status.as_of()}: {status.summary()}", status


def _check_subjects(given: list[str], required: dict[str, str]) -> None:
    if given == list(required):
        return
    missing = sorted(set(required) - set(given))
    extra = sorted(set(given) - set(required))
    if missing:
        raise VerificationError(
            "the bundle's status proofs leave out "
            + ", ".join(f"{required[s]} ({s[:16]}…)" for s in missing)
            + ": every subject of the device's verified path needs its proof"
        )
    if extra:
        raise VerificationError(
            f"the bundle's status proofs are for subject(s) {', '.join(s[:16] + '…' for s in extra)}"
            ", which are not the device, a CA on its verified path or its vendor root"
        )
    raise VerificationError("the bundle's status proofs must be sorted, each subject once")


def _check_listing(
    listed: dict[int, str], revocations: Sequence[ProvenPart], subjects: dict[str, str]
) -> None:
    """`revocations` holds exactly the listed entries, ascending, each naming its subject."""
    carried = [part["index"] for part in revocations]
    missing = sorted(set(listed) - set(carried))
    if missing:
        raise VerificationError(
            f"the status index lists revocation(s) at log entries "
            f"{', '.join(map(str, missing))} that the bundle does not carry: a revocation was "
            "left out"
        )
    extra = sorted(set(carried) - set(listed))
    if extra:
        raise VerificationError(
            f"the bundle carries log entries {', '.join(map(str, extra))} as revocations, but "
            "the status index lists none of them under the device, its CAs or its vendor root"
        )
    if carried != sorted(set(carried)):
        raise VerificationError("the bundle's revocations must be in log order, each once")
    for part in revocations:
        named = status_subjects(decode_base64(part["entry"], "revocation entry"))
        subject = listed[part["index"]]
        if bytes.fromhex(subject) not in named:
            raise VerificationError(
                f"the revocation at log entry {part['index']} does not name "
                f"{subjects[subject]}, under which the status index lists it"
            )


def _parse(part: object) -> tuple[bytes, list[tuple[str, StatusProof]]]:
    """The note and (subject hex, proof) pairs of a `status` part of exactly its shape."""
    if not isinstance(part, dict) or set(part) != {"note", "subjects"}:
        raise MalformedError("bundle status must have exactly note and subjects", code="bad_bundle")
    note = text_field(part["note"], "status note")
    subjects = part["subjects"]
    if not isinstance(subjects, list) or not 1 <= len(subjects) <= MAX_SUBJECTS:
        raise MalformedError(
            f"bundle status subjects must be a list of 1 to {MAX_SUBJECTS}", code="bad_bundle"
        )
    proofs = []
    for item in subjects:
        if not isinstance(item, dict) or set(item) != {"subject", "proof"}:
            raise MalformedError(
                "each bundle status subject must have exactly subject and proof",
                code="bad_bundle",
            )
        subject = item["subject"]
        if not isinstance(subject, str) or not _is_hex_id(subject):
            raise MalformedError(
                "a status subject must be 64 lowercase hex digits", code="bad_bundle"
            )
        proof = decode_base64(text_field(item["proof"], "status proof").decode(), "status proof")
        proofs.append((subject, parse_status_proof(proof)))
    return note, proofs


def _is_hex_id(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _witnessed_ms(size: int, cosignatures: Sequence[Cosignature], required: int) -> int | None:
    """When `required` (at least one) of the witnesses had seen the checkpoint."""
    bound = cosigned_bound(cosignatures, required, size)
    return None if bound is None else bound.at_ms


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()

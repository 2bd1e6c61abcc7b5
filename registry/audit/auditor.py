"""Re-validating every logged entry, in log order, with the rules admission applied.

`EntryAuditor.audit(first_index, leaves)` takes consecutive entries (as `ledger.replay`
downloads them) and checks, with `registry.admission.rules` - the functions admission calls:

* the leaf is an entry in canonical form (RFC 8785 JCS, the bytes the log hashed), of a known
  kind, with `logged_at` never going backwards;
* vendor/v1: the name, role, root CA and `certificates` (`rules.check_vendor`), no vendor twice;
* device/v1: a vendor logged before it, the device profile and chain to that vendor's root at
  the entry's `logged_at` (`rules.check_device`), no chain certificate off the path the
  verifier built (`rules.off_path_problem`), and no device twice;
* capture/v1: the claim's fields, a device enrolled before it, a capture time the log could
  accept at `logged_at`, no capture at or after a logged compromise that covers it
  (`rules.claim_problem`, `revocation_rules.capture_refusal`), and the device's signature (`rules.capture_signature_job`, verified
  in batches, in worker processes when given a pool), low-S if ES256 (`rules.high_s_problem`),
  and a claim not logged before (registry.entries.claim_identity; else `duplicate_claim`);
* c2pa-capture/v1: the camera's C2PA claim signature, the assertions it hashes and the capture
  time it signs, re-verified from the entry alone (`registry.c2pa.evidence.check_entry`), by a
  device enrolled before it, with the same time and revocation rules as capture/v1;
* with witness keys (`cosigned`): no entry logged after k witnesses cosigned a tree holding it
  (`logged_after_cosigned`, registry.bundle.witness_time);
* revocation/v1 and v2: the fields, the subject, the signer on its path and the signature,
  as admission checks them (registry.audit.scoped); from then on each applies to the captures
  under its subject (naming its firmware, if it is limited to some).

Each broken rule becomes an `InvalidEntry` (index, kind, code, reason); the audit goes on. A
capture that follows the rules but that the log itself speaks against becomes a `CautionEntry`
(registry.audit.priority), the log still valid: from the revocations as entries arrive
(registry.admission.capture_cautions), and from priority when the audit finishes (an earlier
generator disclosure, or a near-duplicate logged before the time it claims). Its state is JSON
(registry.audit.state), so a replay can stop and resume.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.errors import LedgerError
from registry.admission import rules
from registry.admission.capture_cautions import Revocation, capture_cautions
from registry.admission.caution_rule import earliest_compromise
from registry.admission.revocation_rules import capture_refusal
from registry.audit.form import certificate_der, not_canonical, only_fields, parse_leaf
from registry.audit.priority import CautionEntry, PriorityAudit
from registry.audit.scoped import ScopedRevocations, checked_device_revocation
from registry.audit.state import (
    CLAIM_KEY_BYTES,
    AuditedDevice,
    AuditedVendor,
    AuditState,
    InvalidJson,
    claims_from_state,
    claims_state,
    devices_from_state,
    devices_state,
    vendor_certificates,
    vendors_from_state,
    vendors_state,
)
from registry.bundle.witness_time import CosignedBound
from registry.c2pa.evidence import check_entry
from registry.c2pa.firmware import entry_firmware
from registry.cautions import CAPTURED_IN_COMPROMISE_WINDOW, LOGGED_AFTER_REVOCATION
from registry.config import DEFAULT_MAX_FUTURE_SKEW_MS
from registry.entries.claim_identity import c2pa_claim_id, capture_claim_id
from registry.entries.codec import (
    C2PA_CAPTURE,
    CAPTURE,
    DEVICE,
    REVOCATION,
    REVOCATION_V2,
    VENDOR,
    canonical_claim,
    capture_leaf,
    check_claim,
    field,
    int_field,
    unb64,
)
from registry.entries.formats import (
    C2paCaptureEntry,
    CaptureEntry,
    Claim,
    DeviceEntry,
    Entry,
    RevocationEntry,
    VendorEntry,
)
from registry.entries.signatures import verify_batch
from registry.wording import iso_utc

__all__ = ["DEFAULT_MAX_SKEW_MS", "CautionEntry", "EntryAuditor", "InvalidEntry"]

# The caution codes an audit reports: those the revocations speak (the lookup also shows
# logged_late, which an honest backlog can produce by the thousand).
AUDITED_CAUTIONS = (CAPTURED_IN_COMPROMISE_WINDOW, LOGGED_AFTER_REVOCATION)

DEFAULT_MAX_SKEW_MS = DEFAULT_MAX_FUTURE_SKEW_MS  # what admission allows unless configured
# Starts checking signature jobs; the returned function waits for and returns the verdicts.
# The default checks them here and now; registry.audit.replay spreads them over worker processes so
# that they run while the next entries download and parse.
VerifyLater = Callable[[list[rules.SignatureJob]], Callable[[], list[bool]]]


def _verify_now(jobs: list[rules.SignatureJob]) -> Callable[[], list[bool]]:
    verdicts = verify_batch(jobs)
    return lambda: verdicts


@dataclass(frozen=True)
class InvalidEntry:
    index: int
    kind: str
    code: str
    reason: str

    def to_json(self) -> InvalidJson:
        return {"index": self.index, "kind": self.kind, "code": self.code, "reason": self.reason}


class EntryAuditor:
    def __init__(
        self, *, max_skew_ms: int = DEFAULT_MAX_SKEW_MS, verify: VerifyLater = _verify_now
    ) -> None:
        self.max_skew_ms = max_skew_ms
        self.counts: Counter[str] = Counter()
        self.invalid: list[InvalidEntry] = []
        self.cautions: list[CautionEntry] = []  # set by finish()
        self.priority = PriorityAudit()
        # Revocation cautions, found as entries arrive (finish() adds the priority ones).
        self._revocation_cautions: list[CautionEntry] = []
        self.verify = verify
        self._checking: list[tuple[list[tuple[int, str]], Callable[[], list[bool]]]] = []
        self._vendors: dict[str, AuditedVendor] = {}
        self._devices: dict[str, AuditedDevice] = {}
        self._revoked: dict[str, int] = {}
        # Truncated claim id (registry.entries.claim_identity) -> index of the first capture of it.
        self._claims: dict[bytes, int] = {}
        self._revocations: dict[str, list[tuple[int, int]]] = {}  # device -> (index, since)
        self._scoped = ScopedRevocations()  # revocation/v2
        self._last_logged_at = 0
        self._latest_index: int | None = None  # an entry holding _last_logged_at
        # When k witnesses saw the log (prov audit replay --witness-key): no entry they saw
        # may have been logged after that.
        self.cosigned: CosignedBound | None = None

    def audit(self, first_index: int, leaves: Sequence[bytes]) -> None:
        """Check consecutive entries starting at `first_index`."""
        jobs: list[rules.SignatureJob] = []
        signed: list[tuple[int, str]] = []  # (index, device) of each job
        for index, leaf in enumerate(leaves, start=first_index):
            try:
                entry = self._entry(leaf)
            except LedgerError as exc:
                self._invalid(index, "unknown", exc.code, str(exc))
                continue
            kind = entry["kind"]
            self.counts[kind] += 1
            self._check_cosigned(index, kind, entry["logged_at"])
            try:
                if entry["kind"] == VENDOR:
                    self._vendor(entry)
                elif entry["kind"] == DEVICE:
                    self._device(entry)
                elif entry["kind"] == REVOCATION:
                    self._revocation(entry, index)
                elif entry["kind"] == REVOCATION_V2:
                    self._scoped.add(entry, index, self._vendors, self._devices)
                elif entry["kind"] == C2PA_CAPTURE:
                    self._c2pa_capture(entry, index)
                    self._cautions(index, entry)
                    self.priority.add(index, kind, entry, *self._claimant(entry))
                else:
                    jobs.append(self._capture(entry, leaf, index))
                    signed.append((index, entry["claim"]["device"]))
                    self._cautions(index, entry)
                    self.priority.add(index, kind, entry, *self._claimant(entry))
            except LedgerError as exc:
                self._invalid(index, kind, exc.code, str(exc))
        if jobs:
            self._checking.append((signed, self.verify(jobs)))

    def finish(self) -> None:
        """Wait for every signature check started so far and record the failures."""
        for signed, verdicts in self._checking:
            for (index, device), ok in zip(signed, verdicts(), strict=True):
                if not ok:
                    self._invalid(
                        index, CAPTURE, "bad_signature",
                        f"signature does not verify with the enrolled key of device {device}",
                    )  # fmt: skip
        self._checking.clear()
        self.invalid.sort(key=lambda entry: entry.index)
        invalid = {entry.index for entry in self.invalid}  # reported as invalid, not cautioned
        revoked = [c for c in self._revocation_cautions if c.index not in invalid]
        self.cautions = sorted(
            revoked + self.priority.findings(invalid), key=lambda c: (c.index, c.code)
        )

    def _claimant(self, entry: CaptureEntry | C2paCaptureEntry) -> tuple[str, str]:
        """The vendor role and origin of an admissible capture's device (as in reg_devices)."""
        enrolled = self._devices[entry["claim"]["device"]].enrolled
        vendor = self._vendors[enrolled.vendor_id]
        return vendor.role, vendor.origin_of(enrolled)

    # --- per kind ---

    def _entry(self, leaf: bytes) -> Entry:
        """The leaf as an entry of a known kind, canonical (capture/v1: checked in _capture),
        logged no earlier than the one before. Its other fields are checked by kind."""
        entry = parse_leaf(leaf)
        logged_at = int_field(entry, "logged_at", entry["kind"])
        if logged_at < self._last_logged_at:
            raise LedgerError(
                f"logged at {iso_utc(logged_at)}, {self._last_logged_at - logged_at:,} ms before"
                f" the entry before it ({iso_utc(self._last_logged_at)}): the clock went back",
                code="logged_at_backwards",
            )
        self._last_logged_at = logged_at
        return entry

    def _vendor(self, entry: VendorEntry) -> None:
        only_fields(entry, {"kind", "logged_at", "name", "role", "root", "certificates"})
        certificates = vendor_certificates(entry)
        root = rules.check_vendor(
            field(entry, "name", VENDOR),
            field(entry, "role", VENDOR),
            certificate_der(entry["root"]),
            certificates,
        )
        if root.vendor_id in self._vendors:
            raise LedgerError(f"vendor {root.vendor_id} is logged twice", code="duplicate_vendor")
        self._vendors[root.vendor_id] = AuditedVendor(root, entry["role"], certificates)

    def _device(self, entry: DeviceEntry) -> None:
        only_fields(entry, {"kind", "logged_at", "cert", "chain", "vendor"})
        vendor = self._vendors.get(field(entry, "vendor", DEVICE))
        if vendor is None:
            raise LedgerError(
                f"device names vendor {entry['vendor']}, which was not logged before it",
                code="unknown_vendor",
            )
        chain = tuple(certificate_der(c) for c in field(entry, "chain", DEVICE))
        device = rules.check_device(
            certificate_der(entry["cert"]), chain, vendor.root, entry["logged_at"]
        )
        if device.device_id in self._devices:
            raise LedgerError(
                f"device {device.device_id} is enrolled twice", code="duplicate_device"
            )
        # Enrolled with what the verified path says (its captures are still checked), then
        # reported if its chain holds certificates off that path.
        self._devices[device.device_id] = AuditedDevice(
            rules.enrolled_device(entry, device), device.path_der
        )
        problem = rules.off_path_problem(chain, device)
        if problem is not None:
            raise LedgerError(problem[1], code=problem[0])

    def _capture(self, entry: CaptureEntry, leaf: bytes, index: int) -> rules.SignatureJob:
        only_fields(entry, {"kind", "logged_at", "claim", "sig"})
        claim = check_claim(field(entry, "claim", CAPTURE))
        sig = field(entry, "sig", CAPTURE)
        claim_jcs = canonical_claim(claim)
        if not isinstance(sig, str) or capture_leaf(claim_jcs, sig, entry["logged_at"]) != leaf:
            raise not_canonical()
        signature = unb64(sig)
        device = self._admissible_device(claim, entry["logged_at"])
        high_s = rules.high_s_problem(device.enrolled, signature)
        if high_s is not None:
            self._invalid(index, CAPTURE, *high_s)
        self._claim_logged(index, CAPTURE, capture_claim_id(claim_jcs))
        return rules.capture_signature_job(device.enrolled, claim_jcs, signature)

    def _c2pa_capture(self, entry: C2paCaptureEntry, index: int) -> None:
        """The camera's C2PA claim signature, re-verified from the entry alone, by the enrolled
        device, at a time the log could accept (registry.c2pa.evidence.check_entry)."""
        check_entry(entry)  # its canonical form was checked in _entry
        self._admissible_device(entry["claim"], entry["logged_at"], entry_firmware(entry))
        self._claim_logged(index, C2PA_CAPTURE, c2pa_claim_id(entry["c2pa"]))

    def _claim_logged(self, index: int, kind: str, claim_id: bytes) -> None:
        """Admission answers a claim already logged as a duplicate: a second entry of it (a
        malleated or re-signed copy) was not admitted as it is. Claims are told apart by
        their first `CLAIM_KEY_BYTES` (registry.audit.state)."""
        key = claim_id[:CLAIM_KEY_BYTES]
        first = self._claims.setdefault(key, index)
        if first != index:
            self._invalid(
                index, kind, "duplicate_claim",
                f"the same claim as entry {first}, signed again: admission answers such a copy "
                "as a duplicate of the first instead of logging it",
            )  # fmt: skip

    def _admissible_device(
        self, claim: Claim, logged_at: int, firmware: str | None = None
    ) -> AuditedDevice:
        """The enrolled device of a capture the log could accept at `logged_at`: known, captured
        inside its certificate's validity, not in the future, not after a covering compromise."""
        device = self._devices.get(claim["device"])
        problem = rules.claim_problem(
            claim, device.enrolled if device else None, logged_at, self.max_skew_ms
        ) or (device and capture_refusal(claim["device"], claim["captured_at"],
                                         firmware or claim.get("firmware"),
                                         self._applying(claim["device"], device)))  # fmt: skip
        if problem:
            raise LedgerError(problem[1], code=problem[0])
        assert device is not None
        return device

    def _cautions(self, index: int, entry: CaptureEntry | C2paCaptureEntry) -> None:
        """What the revocations logged so far say against an admissible capture."""
        claim = entry["claim"]
        revocations = self._applying(claim["device"], self._devices[claim["device"]])
        found = capture_cautions(
            index, claim["captured_at"], entry["logged_at"], revocations, entry_firmware(entry)
        )
        self._revocation_cautions += [
            CautionEntry(index, entry["kind"], c.code, c.message, c.evidence)
            for c in found
            if c.code in AUDITED_CAUTIONS
        ]

    def _applying(self, device_id: str, device: AuditedDevice) -> list[Revocation]:
        """The revocations logged so far that name the device, a CA on its path or its root."""
        named = [Revocation(i, device_id, s) for i, s in self._revocations.get(device_id, ())]
        return sorted(named + self._scoped.applying(device_id, device.path), key=lambda r: r.index)

    def _revocation(self, entry: RevocationEntry, index: int) -> None:
        device, since = checked_device_revocation(entry, self._devices)
        self._revoked = earliest_compromise([*self._revoked.items(), (device, since)])
        self._revocations.setdefault(device, []).append((index, since))

    def _check_cosigned(self, index: int, kind: str, logged_at: int) -> None:
        """An entry logged after k witnesses cosigned a tree holding it (registry.bundle.witness_time);
        reported beside any other finding, since the entry itself may be well formed."""
        self._latest_index = index  # _entry let it through: it holds the latest time so far
        bound = self.cosigned
        if bound is not None and index < bound.size and bound.contradicts(logged_at):
            self._invalid(
                index, kind, "logged_after_cosigned", bound.explain(f"entry {index}", logged_at)
            )

    def check_resumed(self) -> None:
        """For a resumed replay: the entries verified before were checked against the witness
        times known then; the latest logged_at among them is checked against `cosigned` now."""
        index, bound = self._latest_index, self.cosigned
        if index is None or bound is None or index >= bound.size:
            return
        if bound.contradicts(self._last_logged_at) and not any(
            i.index == index and i.code == "logged_after_cosigned" for i in self.invalid
        ):
            self._invalid(
                index, "unknown", "logged_after_cosigned",
                bound.explain(f"entry {index}", self._last_logged_at),
            )  # fmt: skip

    def _invalid(self, index: int, kind: str, code: str, reason: str) -> None:
        self.invalid.append(InvalidEntry(index, kind, code, reason))

    # --- resuming ---

    def to_json(self) -> AuditState:
        return {
            "counts": dict(self.counts),
            "invalid": [i.to_json() for i in self.invalid],
            "cautions": [c.to_json() for c in self._revocation_cautions],
            "vendors": vendors_state(self._vendors),
            "devices": devices_state(self._devices),
            "revoked": self._revoked,
            "claims": claims_state(self._claims),
            "revocations": self._revocations,
            "scoped": self._scoped.to_json(),
            "last_logged_at": self._last_logged_at,
            "priority": self.priority.to_json(),
            "latest_index": self._latest_index,
        }

    def load_json(self, data: AuditState) -> None:
        self.counts = Counter(data["counts"])
        self.invalid = [InvalidEntry(**i) for i in data["invalid"]]
        # State files from before cautions have neither: resumed, they report the cautions of
        # the entries checked from then on, against the revocations seen from then on.
        self._revocation_cautions = [
            CautionEntry(c["index"], c["kind"], c["code"], c["reason"], tuple(c["evidence"]))
            for c in data.get("cautions", [])
        ]
        self._revocations = {
            k: [(int(i), int(s)) for i, s in v] for k, v in data.get("revocations", {}).items()
        }
        self._scoped.load_json(data.get("scoped", {}))  # absent before revocation/v2
        self._vendors = vendors_from_state(data["vendors"])
        self._devices = devices_from_state(data["devices"])
        self._revoked = {k: int(v) for k, v in data["revoked"].items()}
        self._claims = claims_from_state(data["claims"])
        self._last_logged_at = int(data["last_logged_at"])
        if "priority" in data:  # absent in states saved before the priority check
            self.priority.load_json(data["priority"])
        latest = data.get("latest_index")  # absent from states saved before it was kept
        self._latest_index = None if latest is None else int(latest)

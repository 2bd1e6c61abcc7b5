"""Verifying proof bundles offline (the format: `registry.bundle.format`). No database: this
module never imports SQLAlchemy (tests/structure/test_bundle_structure.py), so a verifier can ship alone.

`verify_bundle` runs the numbered checks of `registry.bundle.checks` in order and records each
in the report; the first failure is recorded and ends the verification (later checks would be
noise). A check that fails says why in one sentence, which the report carries.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar, cast

from ledger.checkpoint import Checkpoint
from ledger.cosignature import Cosignature, CosignatureVerifier
from ledger.errors import LedgerError
from ledger.note import Verifier
from registry.admission.caution_rule import capture_cautions
from registry.bundle.checks import (
    ImageQuery,
    Witnessed,
    check_chain,
    check_checkpoint,
    check_cosignatures,
    check_image,
    check_inclusion,
    check_links,
    check_revocations,
    check_signature,
    check_time,
)
from registry.bundle.format import (
    PARTS,
    STATUS,
    Bundle,
    Entry,
    ProvenPart,
    parse_bundle,
    text_field,
)
from registry.bundle.report import BundleReport, Check, TimeClaim
from registry.bundle.status import RevocationStatus, check_status, unproven_status
from registry.cautions import Caution
from registry.entries.codec import CAPTURE, DEVICE, REVOCATION, VENDOR

__all__ = [
    "BundleReport",
    "Check",
    "ImageQuery",
    "TimeClaim",
    "parse_bundle",
    "verify_bundle",
]


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
    note = text_field(bundle["checkpoint"], "checkpoint")
    run = _Run()
    # 1. The checkpoint is the log's, signed by its key.
    checkpoint = run.establish(
        "checkpoint signature", check_checkpoint, bundle["log"], note, log_key
    )
    if checkpoint is None:
        return run.report()
    # 2. Enough of the given witnesses cosigned it (only when witnesses are asked for).
    cosignatures: list[Cosignature] = []
    if witnesses or min_witnesses:
        found = run.establish(
            "witness cosignatures", check_cosignatures, note, witnesses, min_witnesses
        )
        if found is None:
            return run.report()
        cosignatures = found
    # 3. Each part's entry is in the checkpoint's tree, of the kind its place says.
    entries: dict[str, Entry] = {}
    for key, name, kind, part in _parts(bundle):
        entry = run.establish(f"{name} inclusion", check_inclusion, part, name, kind, note, log_key)
        if entry is None:
            return run.report()
        entries[key] = entry
    # 4-10. What the proven entries say, read as the admission rules read them.
    _verify_entries(
        run, bundle, entries, (checkpoint, log_key),
        Witnessed(checkpoint.size, cosignatures, min_witnesses), image_hashes, image,
    )  # fmt: skip
    return run.report()


def _verify_entries(
    run: "_Run",
    bundle: Bundle,
    entries: dict[str, Entry],
    signed: tuple[Checkpoint, Verifier],
    witnessed: Witnessed,
    image_hashes: ImageQuery | None,
    image: bytes | None,
) -> None:
    capture, device, vendor = entries["capture"], entries["device"], entries["vendor"]
    revocations = [entry for key, entry in entries.items() if key.startswith("revocation ")]
    # 4. capture -> device -> vendor, by the hashes the entries carry.
    if not run.passed("entries refer to each other", check_links, capture, device, vendor):
        return
    # 5. The device certificate chains to the vendor root, valid when enrolled.
    if not run.passed("device certificate chain", check_chain, device, vendor):
        return
    # 6. The revocations carried are all the log holds against the device, its CAs and its
    # root as of the checkpoint (registry.bundle.status), or the report says it is unproven.
    if not _revocation_status(run, bundle, (device, vendor), signed, witnessed):
        return
    # 7. The device signed the claim, inside its certificate's validity.
    if not run.passed("device signature on the claim", check_signature, capture, device):
        return
    # 8. Who vouches for when the capture existed (recorded even when the check fails).
    logged = [(f"the {name} entry", entries[name]["logged_at"]) for name in PARTS]
    if not run.passed("time evidence", check_time, capture, logged, witnessed, run.times):
        return
    # 9. The revocations, each signed by a CA on the device's path, applied as cautions.
    capture_index = cast(ProvenPart, bundle["capture"])["index"]
    if revocations:
        cautions = run.establish(
            "revocations", check_revocations, capture_index, capture, device, vendor, revocations
        )
        if cautions is None:
            return
    else:
        claim = capture["claim"]
        cautions = capture_cautions(capture_index, claim["captured_at"], capture["logged_at"], ())
    run.cautions.extend(cautions)
    # 10. The image given is the registered one, or a near-duplicate of it.
    if image_hashes is not None:
        run.passed("image matches the capture", check_image, capture, image_hashes, image)


def _revocation_status(
    run: "_Run",
    bundle: Bundle,
    entries: tuple[Entry, Entry],
    signed: tuple[Checkpoint, Verifier],
    witnessed: Witnessed,
) -> bool:
    """Step 6; False if it failed. A bundle without `status` (older, or stripped) passes it,
    unproven, with the caution that keeps it from looking clean."""
    checkpoint, log_key = signed
    if STATUS not in bundle:
        detail, run.status, caution = unproven_status(checkpoint.size)
        run.checks.append(Check(STATUS_CHECK, True, detail))
        run.cautions.append(caution)
        return True
    carried = cast(list[ProvenPart], bundle.get("revocations", []))  # proven in step 3
    run.status = run.establish(
        STATUS_CHECK, check_status, bundle["status"], checkpoint, log_key, entries, carried,
        witnessed.cosignatures, witnessed.required,
    )  # fmt: skip
    return run.status is not None


# --- running the checks ---

STATUS_CHECK = "revocation status"

_P = ParamSpec("_P")
_T = TypeVar("_T")
# What a check may raise on input the log signed but that is not what its kind says: a failed
# check with the reason, never a crash.
_FAILURES = (LedgerError, ValueError, KeyError, TypeError)


@dataclass
class _Run:
    """The checks done so far, and the evidence they gathered."""

    checks: list[Check] = field(default_factory=list)
    times: list[TimeClaim] = field(default_factory=list)
    cautions: list[Caution] = field(default_factory=list)
    status: RevocationStatus | None = None

    def passed(
        self, name: str, check: Callable[_P, str], *args: _P.args, **kwargs: _P.kwargs
    ) -> bool:
        """Run a check that establishes a sentence; record it. False if it failed."""
        try:
            detail = check(*args, **kwargs)
        except _FAILURES as exc:
            self.checks.append(Check(name, False, _reason(exc)))
            return False
        self.checks.append(Check(name, True, detail))
        return True

    def establish(
        self,
        name: str,
        check: Callable[_P, tuple[str, _T]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T | None:
        """Run a check that also establishes a value; record it. None if it failed."""
        try:
            detail, value = check(*args, **kwargs)
        except _FAILURES as exc:
            self.checks.append(Check(name, False, _reason(exc)))
            return None
        self.checks.append(Check(name, True, detail))
        return value

    def report(self) -> BundleReport:
        return BundleReport(
            tuple(self.checks), tuple(self.times), tuple(self.cautions), self.status
        )


def _reason(exc: Exception) -> str:
    """Our errors say what failed; another error is named, since its text alone may not."""
    return str(exc) if isinstance(exc, LedgerError) else f"{type(exc).__name__}: {exc}"


def _parts(bundle: Bundle) -> list[tuple[str, str, str, object]]:
    """(key in the verified entries, name in the report, entry kind, the proven part)."""
    parts: list[tuple[str, str, str, object]] = [
        ("capture", "capture", CAPTURE, bundle["capture"]),
        ("device", "device", DEVICE, bundle["device"]),
        ("vendor", "vendor", VENDOR, bundle["vendor"]),
    ]
    parts += [
        (f"revocation {position}", "revocation", REVOCATION, part)
        for position, part in enumerate(bundle.get("revocations", []))
    ]
    return parts

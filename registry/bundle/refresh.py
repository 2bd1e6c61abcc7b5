"""`prov verify --refresh URL`: a bundle's revocation status now, not only as of its checkpoint.

A bundle proves its status as of its own checkpoint (registry.bundle.status). To know the
status now, the verifier asks the log for a fresh bundle of the same capture (the log serves
them at its latest checkpoint) and trusts nothing it answers beyond what it can check:

1. the fresh bundle verifies offline, with the same log key and witnesses (`verify_bundle`);
2. it proves the same capture: the same leaf index and the same leaf bytes;
3. its checkpoint extends the old one: an RFC 9162 consistency proof from the old tree to the
   new one verifies (equal sizes need equal roots), so a log that forked, or shrank, fails.

Then the fresh bundle's status is the status as of the newer checkpoint. No database (offline
but for what `FreshSource` fetches).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.cosignature import CosignatureVerifier
from ledger.errors import LedgerError, UnavailableError, VerificationError
from ledger.monitor import ForkAlarm, Seen, check_extends
from ledger.note import Verifier
from registry.bundle.format import parse_bundle, text_field
from registry.bundle.report import BundleReport, Check
from registry.bundle.verify import ImageQuery, verify_bundle

__all__ = ["FreshSource", "Refreshed", "refresh_bundle"]


class FreshSource(Protocol):
    """What a refresh fetches from the log (cli: its HTTP API)."""

    def bundle(self, index: int) -> bytes: ...
    def consistency_proof(self, old: int, new: int) -> list[bytes]: ...


@dataclass(frozen=True)
class Refreshed:
    """The refresh's own checks, and the fresh bundle's report (None if none was fetched)."""

    checks: tuple[Check, ...]
    report: BundleReport | None

    @property
    def ok(self) -> bool:
        return (
            self.report is not None
            and self.report.ok
            and bool(self.checks)
            and all(c.ok for c in self.checks)
        )


def refresh_bundle(
    old: bytes,
    source: FreshSource,
    log_key: Verifier,
    witnesses: Sequence[CosignatureVerifier] = (),
    min_witnesses: int = 0,
    image_hashes: ImageQuery | None = None,
    image: bytes | None = None,
) -> Refreshed:
    """Fetch and check a fresh bundle of the capture `old` proves (see the module's steps)."""
    checks: list[Check] = []
    bundle = parse_bundle(old)
    capture = bundle["capture"]
    index = capture.get("index") if isinstance(capture, dict) else None
    if not isinstance(index, int) or isinstance(index, bool):
        checks.append(Check("fresh bundle", False, "the bundle names no capture index"))
        return Refreshed(tuple(checks), None)
    try:
        fresh = source.bundle(index)
        report = verify_bundle(fresh, log_key, image_hashes, witnesses, min_witnesses, image)
    except UnavailableError:
        raise  # the log did not answer: that says nothing of the capture (exit 3, not 1)
    except LedgerError as exc:
        checks.append(Check("fresh bundle", False, f"the log gave no bundle that verifies: {exc}"))
        return Refreshed(tuple(checks), None)
    if not report.ok:
        failed = next(c for c in report.checks if not c.ok)
        checks.append(Check("fresh bundle", False, f"{failed.name}: {failed.detail}"))
        return Refreshed(tuple(checks), report)
    new = parse_bundle(fresh)
    checks.append(Check("fresh bundle", True, f"verified offline ({len(fresh):,} bytes)"))
    for name, step in (("same capture", _same_capture), ("log consistency", _consistent)):
        try:
            checks.append(Check(name, True, step(bundle, new, source, log_key)))
        except UnavailableError:
            raise
        except LedgerError as exc:
            checks.append(Check(name, False, str(exc)))
            break
    return Refreshed(tuple(checks), report)


def _same_capture(old: object, new: object, _source: FreshSource, _key: Verifier) -> str:
    """Same leaf index, same leaf bytes: the fresh bundle is about this very entry."""
    before, after = _capture(old), _capture(new)
    if before != after:
        raise VerificationError(
            f"the fresh bundle proves another entry (log entry {after[0]}) than this bundle's "
            f"capture (log entry {before[0]}), or other bytes for it"
        )
    return f"log entry {before[0]}, the same leaf bytes"


def _consistent(old: object, new: object, source: FreshSource, log_key: Verifier) -> str:
    """The fresh checkpoint extends the bundle's: the monitor's own rule (ledger.monitor:
    equal sizes need equal roots, a smaller tree is a rollback, a larger one needs a verified
    consistency proof)."""
    before = Seen(_note(old), _checkpoint(old, log_key), "this bundle")
    after = Seen(_note(new), _checkpoint(new, log_key), "the log's fresh bundle")
    try:
        proof = check_extends(before, after, source.consistency_proof)
    except ForkAlarm as alarm:
        raise VerificationError(
            f"the log forked or rolled back its history: {alarm}", code=alarm.code
        ) from None
    if after.checkpoint.size == before.checkpoint.size:
        return f"the log is still at checkpoint {after.checkpoint.size}, the same tree"
    return (
        f"checkpoint {after.checkpoint.size} extends this bundle's checkpoint "
        f"{before.checkpoint.size} ({len(proof)}-hash consistency proof)"
    )


def _capture(bundle: object) -> tuple[object, object]:
    part = bundle["capture"] if isinstance(bundle, dict) else None
    if not isinstance(part, dict):
        raise VerificationError("a bundle has no capture part")
    return part.get("index"), part.get("entry")


def _note(bundle: object) -> bytes:
    return text_field(bundle["checkpoint"] if isinstance(bundle, dict) else None, "checkpoint")


def _checkpoint(bundle: object, log_key: Verifier) -> Checkpoint:
    return open_checkpoint(_note(bundle), log_key)

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
from ledger.errors import LedgerError, VerificationError
from ledger.merkle import verify_consistency
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
    """The fresh checkpoint extends the bundle's: same tree at the same size, or a verified
    consistency proof from the smaller to the larger."""
    before, after = _checkpoint(old, log_key), _checkpoint(new, log_key)
    if after.size < before.size:
        raise VerificationError(
            f"the log's latest checkpoint ({after.size} entries) is smaller than this bundle's "
            f"({before.size}): the log was rolled back"
        )
    if after.size == before.size:
        if after.root_hash != before.root_hash:
            raise VerificationError(
                f"the log signed two different trees of {after.size} entries: a fork"
            )
        return f"the log is still at checkpoint {after.size}, the same tree"
    proof = source.consistency_proof(before.size, after.size)
    try:
        verify_consistency(before.size, after.size, before.root_hash, after.root_hash, proof)
    except (VerificationError, ValueError) as exc:
        raise VerificationError(
            f"checkpoint {after.size} does not extend this bundle's checkpoint {before.size} "
            f"({exc}): the log forked, or rewrote its history"
        ) from None
    return (
        f"checkpoint {after.size} extends this bundle's checkpoint {before.size} "
        f"({len(proof)}-hash consistency proof)"
    )


def _capture(bundle: object) -> tuple[object, object]:
    part = bundle["capture"] if isinstance(bundle, dict) else None
    if not isinstance(part, dict):
        raise VerificationError("a bundle has no capture part")
    return part.get("index"), part.get("entry")


def _checkpoint(bundle: object, log_key: Verifier) -> Checkpoint:
    note = bundle["checkpoint"] if isinstance(bundle, dict) else None
    return open_checkpoint(text_field(note, "checkpoint"), log_key)

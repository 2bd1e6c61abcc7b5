"""What a bundle verification found: each check in order, the time claims, the cautions."""

from dataclasses import dataclass

from registry.bundle.status import RevocationStatus
from registry.cautions import Caution
from registry.wording import iso_utc

__all__ = ["BundleReport", "Check", "TimeClaim"]


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
        return f"{self.what} {iso_utc(self.at_ms)} ({self.vouched_by})"


@dataclass(frozen=True)
class BundleReport:
    checks: tuple[Check, ...]
    times: tuple[TimeClaim, ...] = ()
    # What the bundle's own entries show against the capture: never part of `ok` (the proof
    # holds), but a verdict that carries any is not a clean pass.
    cautions: tuple[Caution, ...] = ()
    # What the bundle proves about the revocations against its device, and as of when (None:
    # the verification stopped before that check).
    status: RevocationStatus | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

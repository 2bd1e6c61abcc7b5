"""`prov audit replay`'s priority check: captures the log admitted rightly, but that came after
something they should not have come after.

An admissible capture is still cautioned (registry.cautions, registry.lookup.priority) when, earlier
in the log (by leaf index) and from another origin (another device, or for a vendor that signs
each capture with a one-time certificate, another issuing CA: registry.admission.capture_origin),

- a generator vendor disclosed the same file (same SHA-256) or a near-duplicate of it
  (`generator_disclosed_first`, on camera captures), or
- a near-duplicate or the same file was logged after the time this capture claims
  (`claims_time_before_earlier_log`): a backdated claim to be first.

Near-duplicates are PDQ hashes of quality >= `MIN_QUALITY` within `PDQ_RADIUS` bits
(registry.imaging.matching), found by the origin report's exact self-join
(`registry.imaging.pairs.near_pairs`); the same file by SHA-256,
whatever its PDQ quality. Features (crops, regions) are not compared: that is the lookup's job.

The check runs once, over every capture, when the replay finishes: it needs each capture's
hashes, which it keeps (94 bytes a capture, in memory and in the replay state) so that a
resumed replay still compares new captures with the old ones.
"""

import base64
import struct
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final, TypedDict

from registry.cautions import CLAIMS_TIME_BEFORE_EARLIER_LOG, GENERATOR_DISCLOSED_FIRST
from registry.entries.formats import C2paCaptureEntry, CaptureEntry
from registry.imaging.matching import MIN_QUALITY, PDQ_RADIUS
from registry.lookup.priority import Logged, cautions_for

__all__ = ["CautionEntry", "CautionJson", "PriorityAudit", "PriorityState"]

REPORTED: Final = (GENERATOR_DISCLOSED_FIRST, CLAIMS_TIME_BEFORE_EARLIER_LOG)
# index, logged_at, captured_at, origin ordinal, generator?, PDQ quality, SHA-256, PDQ
_ROW: Final = struct.Struct(">qqqI?B32s32s")


class CautionJson(TypedDict):
    index: int
    kind: str
    code: str
    reason: str
    evidence: list[int]


class PriorityState(TypedDict):
    """`PriorityAudit.to_json`, for a resumed replay."""

    # Origin ids by ordinal: the device, or a per-capture vendor's issuing CA (the key keeps
    # the name it had when every origin was a device).
    devices: list[str]
    rows: str  # base64 of the packed rows (_ROW)
    kinds: dict[str, str]  # index -> kind, for the rows not of capture/v1


@dataclass(frozen=True)
class CautionEntry:
    """An admissible entry the log knows something against (not an invalid one)."""

    index: int
    kind: str
    code: str
    reason: str
    evidence: tuple[int, ...]

    def to_json(self) -> CautionJson:
        return {
            "index": self.index,
            "kind": self.kind,
            "code": self.code,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class _Row:
    index: int
    kind: str
    logged_at: int
    captured_at: int
    origin: int
    generator: bool
    quality: int
    sha256: bytes
    pdq: bytes


class PriorityAudit:
    def __init__(self) -> None:
        self._rows: list[_Row] = []
        self._origins: dict[str, int] = {}

    def add(
        self,
        index: int,
        kind: str,
        entry: CaptureEntry | C2paCaptureEntry,
        role: str,
        origin: str,
    ) -> None:
        """A capture that passed admission's rules (its signature may still fail), with its
        vendor's role and its origin (registry.admission.capture_origin.origin_id)."""
        claim = entry["claim"]
        ordinal = self._origins.setdefault(origin, len(self._origins))
        self._rows.append(
            _Row(
                index, kind, entry["logged_at"], claim["captured_at"], ordinal,
                role == "generator", claim["pdq_quality"], bytes.fromhex(claim["sha256"]),
                bytes.fromhex(claim["pdq"]),
            )
        )  # fmt: skip

    def findings(self, excluded: Collection[int] = ()) -> list[CautionEntry]:
        """The cautions over every capture added, in index order; `excluded` (entries found
        invalid) neither get nor give cautions."""
        from registry.imaging.pairs import near_pairs  # numpy and the join: only when auditing

        rows = sorted((r for r in self._rows if r.index not in excluded), key=lambda r: r.index)
        earlier: dict[int, set[int]] = defaultdict(set)  # position -> earlier positions
        same_file: dict[bytes, list[int]] = defaultdict(list)
        for position, row in enumerate(rows):
            earlier[position].update(same_file[row.sha256])
            same_file[row.sha256].append(position)
        good = [p for p, r in enumerate(rows) if r.quality >= MIN_QUALITY]
        if len(good) >= 2:
            first, second = near_pairs([rows[p].pdq for p in good], PDQ_RADIUS)
            for a, b in zip(first.tolist(), second.tolist(), strict=True):
                earlier[good[b]].add(good[a])
        found: list[CautionEntry] = []
        for position, row in enumerate(rows):
            if not earlier[position]:
                continue
            logged = [_logged(rows[q]) for q in earlier[position]]
            for caution in cautions_for(_logged(row), logged):
                if caution.code in REPORTED:
                    found.append(
                        CautionEntry(row.index, row.kind, caution.code, caution.message,
                                     caution.evidence)
                    )  # fmt: skip
        return found

    # --- resuming ---

    def to_json(self) -> PriorityState:
        packed = b"".join(
            _ROW.pack(r.index, r.logged_at, r.captured_at, r.origin, r.generator, r.quality,
                      r.sha256, r.pdq)
            for r in self._rows
        )  # fmt: skip
        return {
            "devices": list(self._origins),
            "rows": base64.b64encode(packed).decode(),
            "kinds": {str(r.index): r.kind for r in self._rows if r.kind != "capture/v1"},
        }

    def load_json(self, data: PriorityState) -> None:
        self._origins = {origin: n for n, origin in enumerate(data["devices"])}
        kinds = {int(k): str(v) for k, v in data["kinds"].items()}
        packed = base64.b64decode(data["rows"])
        self._rows = [
            _Row(index, kinds.get(index, "capture/v1"), logged, captured, origin, generator,
                 quality, sha, pdq)
            for index, logged, captured, origin, generator, quality, sha, pdq
            in _ROW.iter_unpack(packed)
        ]  # fmt: skip


def _logged(row: _Row) -> Logged:
    return Logged(
        row.index,
        row.logged_at,
        row.captured_at,
        str(row.origin),
        "generator" if row.generator else "camera",
    )

"""What the page at `/origins` adds to the origin report, in words, from the log's tables: when
each revocation behind a device's compromise-window signal declared the compromise to begin,
and when that revocation was logged. The report names the revocations but not their dates; the
page must not blur the two, since a capture taken after the declared date may well have been
logged before anyone reported the compromise.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ledger import LogStore
from registry.origins.facts import revocation_dates
from registry.wording import iso_utc

__all__ = ["compromise_sentences"]

# The report's `revoked_by` items read "log entry N: <scope in words>" (registry.origins.report).
_REVOKED_BY: Final = re.compile(r"log entry (\d+): (.*)")


def compromise_sentences(
    store: LogStore, rows: Sequence[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Device (origin) id -> for its compromise_window signal, one sentence per revocation the
    report names for it: "log entry K (scope) declared the compromise from D; that report was
    logged at R"."""
    named = {
        row["device"]: [m.groups() for m in map(_REVOKED_BY.fullmatch, row.get("revoked_by", [])) if m]
        for row in rows
        if "compromise_window" in row["signals"]
    }  # fmt: skip
    dates = revocation_dates(store, sorted({int(i) for found in named.values() for i, _ in found}))
    return {
        device: [
            f"log entry {i} ({scope}) declared the compromise from {iso_utc(dates[int(i)][0])}; "
            f"that report was logged at {iso_utc(dates[int(i)][1])}"
            for i, scope in found
            if int(i) in dates
        ]
        for device, found in named.items()
    }

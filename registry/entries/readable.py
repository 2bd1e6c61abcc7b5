"""A log entry as a person reads it (the page /entries/{index}): its kind, when it was logged,
and each field by name, with times in ISO 8601 UTC, certificates and signatures by their size,
and the ids of devices and vendors in full. The entry's bytes stay what the log holds: this is
only a view, and the raw JSON is one link away."""

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from ledger import LogStore
from registry.wording import iso_utc

__all__ = ["EntryView", "Field", "entry_view"]

# Millisecond times among an entry's fields (the claim's and a revocation's included).
_TIMES: Final = frozenset({"logged_at", "captured_at", "compromised_since"})
# Fields holding DER or signatures in standard base64: said by size, not printed.
_BINARY: Final = frozenset({"cert", "chain", "root", "sig", "certs", "cose", "claim_cbor"})
_LONG: Final = 120  # characters past which any other text is shortened


@dataclass(frozen=True)
class Field:
    name: str  # dotted for nested objects: "claim.captured_at"
    text: str


@dataclass(frozen=True)
class EntryView:
    index: int
    kind: str
    logged_at: str  # ISO 8601 UTC, or "" for an entry without one
    fields: list[Field]
    is_capture: bool


def entry_view(store: LogStore, index: int) -> EntryView:
    """The entry at `index` (NotFoundError past the log's end, from the store)."""
    entry = json.loads(store.entry(index))
    kind = str(entry.get("kind", "(no kind)"))
    logged = entry.get("logged_at")
    fields = list(_fields("", entry))
    return EntryView(
        index=index,
        kind=kind,
        logged_at=iso_utc(logged) if isinstance(logged, int) else "",
        fields=fields,
        is_capture=kind in ("capture/v1", "c2pa-capture/v1"),
    )


def _fields(prefix: str, value: object) -> Iterator[Field]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _fields(f"{prefix}{key}" if not prefix else f"{prefix}.{key}", inner)
        return
    yield Field(prefix, _text(prefix.rsplit(".", 1)[-1], value))


def _text(name: str, value: object) -> str:
    if name in _TIMES and isinstance(value, int) and not isinstance(value, bool):
        return f"{iso_utc(value)} ({value} ms)"
    if name in _BINARY:
        items = value if isinstance(value, list) else [value]
        return "; ".join(_binary(item) for item in items) or "(none)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _LONG else text[:_LONG] + f"… ({len(text)} characters)"


def _binary(item: object) -> str:
    if not isinstance(item, str):
        return json.dumps(item)[:_LONG]
    try:
        size = len(base64.b64decode(item, validate=True))
    except (ValueError, binascii.Error):
        return item[:_LONG]
    return f"{size} bytes (base64 {item[:16]}…)"

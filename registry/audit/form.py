"""The form of a logged entry, before its rules: JSON, a known kind, the canonical bytes.

Stateless checks the auditor (`registry.audit.auditor`) runs on every leaf; each failure is a
`LedgerError` whose code the audit reports for that entry.
"""

import json
from typing import cast

from ledger.errors import LedgerError
from registry.entries.codec import CAPTURE, KINDS, encode_entry, unb64
from registry.entries.formats import Entry

__all__ = ["certificate_der", "not_canonical", "only_fields", "parse_leaf"]


def parse_leaf(leaf: bytes) -> Entry:
    """The leaf as an object of a known kind, in canonical form (capture/v1: checked by the
    auditor against capture_leaf, one JCS encoding instead of two on the kind that is nearly
    every entry). Its fields, `logged_at` included, are checked by kind."""
    try:
        entry = json.loads(leaf)
    except (UnicodeDecodeError, ValueError, RecursionError):  # Recursion: nested too deep
        raise LedgerError("entry is not JSON (or nests too deep)", code="bad_entry") from None
    if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
        raise LedgerError("entry is not an object of a known kind", code="bad_entry")
    if entry["kind"] != CAPTURE and encode_entry(entry) != leaf:
        raise not_canonical()
    return cast(Entry, entry)


def not_canonical() -> LedgerError:
    return LedgerError(
        "entry is not in canonical form (RFC 8785 JCS): not the bytes admission logs",
        code="not_canonical",
    )


def only_fields(entry: Entry, allowed: set[str]) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise LedgerError(
            f"{entry['kind']} entry has unknown fields: {', '.join(sorted(unknown))}",
            code="unknown_field",
        )


def certificate_der(value: object) -> bytes:
    """A logged certificate: a base64 DER string."""
    if not isinstance(value, str):
        raise LedgerError("certificates are base64 DER strings", code="bad_certificate")
    try:
        return unb64(value)
    except ValueError:
        raise LedgerError("a certificate is not valid base64", code="bad_certificate") from None

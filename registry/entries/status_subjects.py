"""The registry's status rule (ledger.status_index.StatusRule): which subjects a leaf names.

A revocation names one subject, the 32-byte id (SHA-256 of the certificate's DER) of what it
revokes: revocation/v1 its `device`, revocation/v2 its `subject` (a device, a CA or a vendor
root). Every other leaf names none. The log's status index maps each subject to the leaves
naming it, so a bundle can prove a device's and its chain's revocations, or their absence.

Total and pure, as the rule must be (auditors replay it over the whole log): anything that is
not a well-formed revocation names nothing, and no leaf makes it raise.
"""

import json
import re

_REVOCATION_KIND = b'"kind":"revocation/'  # leaves are JCS: no space after the colon
_SUBJECT_FIELD = {"revocation/v1": "device", "revocation/v2": "subject"}
_ID = re.compile(r"[0-9a-f]{64}")


def status_subjects(leaf: bytes) -> tuple[bytes, ...]:
    """The ids of the devices, CAs or vendor roots `leaf` revokes: one for a revocation."""
    # Nearly every leaf is a capture: skip the JSON parse unless it can be a revocation.
    if _REVOCATION_KIND not in leaf:
        return ()
    try:
        entry = json.loads(leaf)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ()
    kind = entry.get("kind") if isinstance(entry, dict) else None
    name = _SUBJECT_FIELD.get(kind) if isinstance(kind, str) else None
    subject = entry.get(name) if name else None
    if not isinstance(subject, str) or not _ID.fullmatch(subject):
        return ()
    return (bytes.fromhex(subject),)

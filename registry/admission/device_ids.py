"""Device ids as people type them: the full hex SHA-256 of the certificate, or, as git takes
commit ids, any unique prefix of it of at least MIN_PREFIX hex characters, in either case.

Resolution is a query on the enrolled devices, so it lives here and every edge (the commands,
local or through the API) gets the same answer and the same errors.
"""

import re

from sqlalchemy import Connection, select

from ledger.errors import MalformedError, NotFoundError
from registry.admission.schema import reg_devices

MIN_PREFIX = 8
FULL_LENGTH = 64
MAX_CANDIDATES = 10  # an ambiguous prefix lists this many ids, enough to pick a longer prefix
_HEX = re.compile(r"[0-9a-f]+")


def normalize_device_id(text: str) -> str:
    """`text` lowercased, once it is known to be hex of a usable length; MalformedError saying
    what is wrong with it otherwise."""
    value = text.strip().lower()
    shown = f"{text!r:.80}"
    if not _HEX.fullmatch(value):
        raise MalformedError(
            f"device id {shown} is not hexadecimal: give the device's id (the SHA-256 of its "
            f"certificate, as `prov device enroll` prints it) or its first {MIN_PREFIX} or more "
            "characters",
            code="bad_device",
        )
    if len(value) < MIN_PREFIX:
        raise MalformedError(
            f"device id {shown} is too short to name one device: give at least {MIN_PREFIX} of "
            "its hex characters",
            code="bad_device",
        )
    if len(value) > FULL_LENGTH:
        raise MalformedError(
            f"device id {shown} is longer than a device id ({FULL_LENGTH} hex characters): "
            "check what was pasted",
            code="bad_device",
        )
    return value


def resolve_device_id(connection: Connection, text: str) -> str:
    """The full id of the one enrolled device whose id starts with `text`."""
    prefix = normalize_device_id(text)
    # A range, not LIKE, so the primary key's index answers it on every database: every id
    # starting with the prefix sorts from the prefix up to, and without, the prefix + "g".
    column = reg_devices.c.device_id
    found = list(
        connection.execute(
            select(column)
            .where(column >= prefix, column < prefix + "g")
            .order_by(column)
            .limit(MAX_CANDIDATES + 1)
        ).scalars()
    )
    if not found:
        which = "" if len(prefix) == FULL_LENGTH else " (no enrolled device's id starts so)"
        raise NotFoundError(
            f"device {prefix} is not enrolled{which}: check the id, or enroll the device "
            "first with `prov device enroll`",
            code="unknown_device",
        )
    if len(found) > 1:
        listed = ", ".join(found[:MAX_CANDIDATES])
        more = " and more" if len(found) > MAX_CANDIDATES else ""
        raise MalformedError(
            f"device id {prefix} is ambiguous: it starts the ids of {listed}{more}; give more "
            "of its characters",
            code="ambiguous_device",
        )
    device_id: str = found[0]
    return device_id

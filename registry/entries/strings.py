"""The one check every string of a new log entry passes at admission: no U+0000.

PostgreSQL's text columns cannot hold NUL, so a NUL in a derived row's string (a vendor's
name, a revocation's reason, a claim's media type) failed the whole transaction, and with it
every other record of the batch, as a 500. A NUL is never meaningful in any logged field, so
admission refuses it per record, naming the field. Only admission checks: a log that already
holds NUL strings (SQLite stores them) must still replay and audit.
"""

from ledger.errors import MalformedError

NUL = "\x00"


def check_no_nul(value: object, where: str) -> None:
    """Raise `nul_in_string` if any string of the parsed JSON `value` (keys included) holds
    U+0000; the message names the first such field by its path below `where`."""
    stack: list[tuple[object, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                raise _nul_error(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key!r}]"
                if isinstance(key, str) and NUL in key:
                    raise _nul_error(f"{path} (a field name)")
                stack.append((child, name))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))


def _nul_error(path: str) -> MalformedError:
    return MalformedError(
        f"{path} contains a NUL character (U+0000), which no logged string may hold: "
        "remove it and sign the record again",
        code="nul_in_string",
    )

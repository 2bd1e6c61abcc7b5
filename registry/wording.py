"""How the product says times, counts and durations to people: one wording for the CLI, the
pages and the error messages, so that the same entry never reads "13 s" in one place and
"12 seconds later" in another. Machine-readable output (`--json`, the API) keeps milliseconds.
"""

import hashlib
from datetime import UTC, datetime


def iso_utc(ms: int) -> str:
    """A millisecond Unix time as ISO 8601 UTC to the second, e.g. 2020-01-01T00:00:00Z.

    Logged times come from devices and witnesses, which may sign any integer, so a time
    beyond the calendar is said as such rather than raised."""
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return f"{ms} ms after 1970 (beyond the calendar)"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 capture`, `2 captures`, `0 captures`."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def duration(ms: int) -> str:
    """A non-negative span in words, truncated (never rounded up) to its largest sensible unit:
    "0 seconds", "1 second", "12 seconds", "3 minutes", "2 hours", "5 days".

    Truncation is the one rule, so a 12.6 s delay is "12 seconds" everywhere."""
    seconds = max(ms, 0) // 1000
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            return plural(seconds // size, unit)
    return plural(seconds, "second")


def key_fingerprint(vkey: str) -> str:
    """A log key's short fingerprint, for people comparing keys by eye across places: the first
    16 hex digits of the SHA-256 of the verifier key string (`name+keyid+base64`) as written."""
    return hashlib.sha256(vkey.encode()).hexdigest()[:16]

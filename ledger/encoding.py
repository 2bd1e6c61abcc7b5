"""The two text encodings every C2SP format here uses, parsed strictly."""

import base64
import binascii

from ledger.errors import MalformedError


def decode_base64(text: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), canonical only: any character outside the alphabet, or
    unused bits that are not zero, is an error, so each byte string has exactly one encoding
    and no character of a signed or hashed document can change without changing its bytes."""
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{what} {text!r:.80} is not valid base64") from None
    if base64.b64encode(decoded).decode() != text:
        raise MalformedError(f"{what} {text!r:.80} is not canonical base64")
    return decoded


def parse_decimal(text: str, what: str) -> int:
    """An ASCII decimal with no sign and no leading zeros (except 0 itself)."""
    if not text.isascii() or not text.isdigit() or (text.startswith("0") and text != "0"):
        raise MalformedError(f"{what} {text!r} is not a decimal number without leading zeros")
    return int(text)

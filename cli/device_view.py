"""`prov device show` for people: labelled lines, times in ISO 8601 UTC, each revocation as a
block of its own. `--json` prints the registry's answer instead, milliseconds and all."""

from typing import Any

from registry.wording import iso_utc

_WIDTH = 18  # the longest label, so the values line up


def _line(label: str, value: object) -> str:
    return f"{label + ':':<{_WIDTH}} {value}"


def device_lines(info: dict[str, Any]) -> list[str]:
    """The device's fields, then its revocations (or that it has none)."""
    lines = [
        _line("device", info["device_id"]),
        _line("subject", info["subject"]),
        _line("issuer", info["issuer"]),
        _line("vendor", f"{info['vendor_name']} ({info['role']}) {info['vendor_id']}"),
        _line("issuing CA", info["issuer_id"]),
        _line("algorithm", info["algorithm"]),
        _line("valid from", iso_utc(info["not_before_ms"])),
        _line("valid until", iso_utc(info["not_after_ms"])),
        _line("enrolled", f"at index {info['leaf_index']}, {iso_utc(info['logged_at_ms'])}"),
        _line("captures", f"{info['captures']:,} logged"),
        _line(
            "highest counter", "none yet" if info["max_counter"] is None else info["max_counter"]
        ),
    ]
    revocations = info["revocations"]
    if not revocations:
        return [*lines, _line("revocations", "none")]
    lines.append(_line("revocations", len(revocations)))
    for revocation in revocations:
        lines.extend(_revocation_lines(revocation))
    return lines


def _revocation_lines(revocation: dict[str, Any]) -> list[str]:
    scope = {"device": "this device", "ca": "a CA on its path", "vendor": "its vendor root"}
    firmware = revocation["firmware"]
    lines = [
        f"  - revocation at index {revocation['leaf_index']}",
        "    "
        + _line(
            "scope",
            f"{scope.get(revocation['scope'], revocation['scope'])} ({revocation['subject_id']})",
        ),  # fmt: skip
        "    " + _line("reason", revocation["reason"]),
        "    " + _line("compromised since", iso_utc(revocation["compromised_since_ms"])),
        "    " + _line("logged at", iso_utc(revocation["logged_at_ms"])),
        "    " + _line("signed by", revocation["signer_id"]),
    ]
    if firmware is not None:
        lines.append("    " + _line("firmware", ", ".join(firmware)))
    return lines

"""The scoped parts of the pure caution rule: a firmware-limited revocation covers only the
releases it names, and the words a verdict uses name the scope."""

from registry.admission.caution_rule import (
    CA_SCOPE,
    VENDOR_SCOPE,
    Revocation,
    capture_cautions,
    covers,
    describe,
    uncovered_reasons,
)
from registry.cautions import CAPTURED_IN_COMPROMISE_WINDOW

SINCE = 1_787_788_800_000  # 2026-08-27T00:00:00Z
FLAWED = Revocation(7, "ab" * 32, SINCE, VENDOR_SCOPE, ("2.00",))


def test_a_firmware_revocation_covers_only_its_releases() -> None:
    assert covers(FLAWED, "2.00")
    assert not covers(FLAWED, "2.01")
    assert not covers(FLAWED, None)  # a claim naming no firmware is not covered
    assert covers(Revocation(7, "ab" * 32, SINCE), None)  # unlimited: every capture


def test_only_covered_captures_get_the_window_caution() -> None:
    after = SINCE + 1000
    # Logged (entry 5) before the revocation (entry 7), claimed after the compromise date.
    flagged = capture_cautions(5, after, after, [FLAWED], "2.00")
    assert [c.code for c in flagged] == [CAPTURED_IN_COMPROMISE_WINDOW]
    assert capture_cautions(5, after, after, [FLAWED], "2.01") == []
    assert capture_cautions(5, after, after, [FLAWED], None) == []


def test_the_words_name_the_scope_and_why_a_capture_is_not_covered() -> None:
    assert describe(FLAWED, "Example Camera Co.") == (
        "firmware 2.00 of Example Camera Co., from 2026-08-27"
    )
    ca = Revocation(3, "cd" * 32, SINCE, CA_SCOPE)
    assert describe(ca) == f"every device under CA {'cd' * 8}…, from 2026-08-27"
    [reason] = uncovered_reasons([FLAWED, ca], None)
    assert "log entry 7" in reason and "names no firmware" in reason

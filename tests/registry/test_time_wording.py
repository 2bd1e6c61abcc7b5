"""Times in the registry's messages are ISO 8601 UTC (registry.wording.iso_utc), never a bare
count of milliseconds (issue 17): a refused capture says when it was taken in words people
read; the milliseconds stay in the JSON fields."""

from registry import Registry
from registry.entries.sdk import device_id, sign_revocation
from registry.wording import iso_utc
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import record


def rejection(registry: Registry, captured: dict[str, object]) -> str:
    [result] = registry.submit_captures([captured])
    assert not result.accepted
    assert result.reason is not None
    return result.reason


def test_a_capture_from_the_future_says_when_in_iso_8601(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    later = clock.now_ms + 3_600_000

    reason = rejection(registry, record(enrolled.device, 1, 1, later))

    assert f"captured at {iso_utc(later)}, more than 5 minutes after the log's clock" in reason
    assert str(later) not in reason and "ms" not in reason.split()


def test_a_capture_outside_the_certificate_says_its_validity_in_iso_8601(
    registry: Registry, enrolled: DevicePKI
) -> None:
    certificate = enrolled.device.certificate
    before = int(certificate.not_valid_before_utc.timestamp() * 1000) - 86_400_000

    reason = rejection(registry, record(enrolled.device, 1, 1, before))

    assert f"captured at {iso_utc(before)}, outside the device certificate's validity" in reason
    assert f"{certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to " in reason
    assert str(before) not in reason


def test_a_capture_after_a_revocation_says_both_times_in_iso_8601(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock
) -> None:
    since = clock.now_ms - 60_000
    root = enrolled.root
    registry.revoke(
        sign_revocation(
            device_id(enrolled.device.certificate), since, "lost", root.private_key,
            root.certificate,
        )
    )  # fmt: skip
    taken = clock.now_ms - 1_000

    reason = rejection(registry, record(enrolled.device, 1, 1, taken))

    assert f"compromised since {iso_utc(since)}, at or before this capture ({iso_utc(taken)})" in (
        reason
    )
    assert str(since) not in reason and str(taken) not in reason

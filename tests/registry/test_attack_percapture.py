"""Issue 15, "one certificate per picture": a phone that signs each capture with its own one-time
certificate is one origin - the CA that issued them - for lookups' priority, for the audit's
priority replay and for the origin report. Attacked first: a burst of near-duplicates from one
such phone must not read as "registered earlier elsewhere" against itself, while a copy by
another phone (another CA) or another vendor still does. On both databases."""

from pathlib import Path
from typing import Any

import pytest

from ledger import Signer
from registry import Registry
from registry.audit.replay import replay_log
from registry.bundle.build import build_bundle
from registry.bundle.verify import verify_bundle
from registry.cautions import (
    CAPTURED_IN_COMPROMISE_WINDOW,
    CLAIMS_TIME_BEFORE_EARLIER_LOG,
    REGISTERED_EARLIER_ELSEWHERE,
)
from registry.entries.sdk import device_id
from registry.lookup.query import REGISTERED, Lookup, LookupResult, query_from_image
from registry.origins.facts import load_facts
from registry.origins.report import build_report
from testkit.pki import DevicePKI
from testkit.revocations import revoke_ca
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.percapture_world import (
    MINUTE,
    PhoneWorld,
    frame,
    make_world,
    ordinary_vendor_with_a_device_ca,
)
from tests.support.registry_fixtures import reencoded

PRIORITY = (REGISTERED_EARLIER_ELSEWHERE, CLAIMS_TIME_BEFORE_EARLIER_LOG)


@pytest.fixture
def world(registry: Registry, clock: FixedClock) -> PhoneWorld:
    return make_world(registry, clock)


def looked_up(world: PhoneWorld, image: bytes) -> LookupResult:
    return Lookup(world.registry.store).lookup(query_from_image(image))


def codes_of(result: LookupResult, index: int) -> dict[str, list[int]]:
    (match,) = [m for m in result.matches if m.leaf_index == index]
    return {c.code: list(c.evidence) for c in match.cautions}


def test_a_burst_from_one_per_capture_phone_is_one_origin(world: PhoneWorld) -> None:
    burst = world.burst(0, seed=71, frames=3, captured_at=world.clock.now_ms - 3000)
    assert len({device_id(world.certificates[i].device.certificate) for i in burst}) == 3
    for number, index in enumerate(burst):
        result = looked_up(world, frame(71, number))
        assert {m.leaf_index for m in result.matches} == set(burst)
        for other in burst:
            assert not set(codes_of(result, other)) & set(PRIORITY), (number, other)
        # The frame's own lookup: its exact file, clean - not a copy of its own burst.
        assert result.verdict == REGISTERED and result.cautions == []
        assert result.matches[0].leaf_index == index


def test_another_phone_ca_and_another_vendor_are_still_elsewhere(world: PhoneWorld) -> None:
    burst = world.burst(0, seed=73, frames=2, captured_at=world.clock.now_ms - 3000)
    world.later(40 * MINUTE)
    copy = reencoded(frame(73, 0))
    by_phone, by_vendor = world.submit(
        world.shoot(1, copy, world.clock.now_ms - 500),
        world.record(world.other, copy, world.clock.now_ms - 400),
    )
    result = looked_up(world, copy)
    for later in (by_phone, by_vendor):
        assert codes_of(result, later)[REGISTERED_EARLIER_ELSEWHERE] == [burst[0], later]
    for index in burst:
        assert not set(codes_of(result, index)) & set(PRIORITY)
    origins = {m.leaf_index: m.origin_id for m in result.matches}
    assert origins[burst[0]] == origins[burst[1]] == world.origin(0)
    assert origins[by_phone] == world.origin(1)
    assert origins[by_vendor] == device_id(world.other.device.certificate)


def test_a_vendor_without_the_flag_keeps_one_origin_per_device(
    registry: Registry, clock: FixedClock
) -> None:
    """Two devices issued by one CA, vendor registered without "certificates": as before,
    each device is its own origin, so the second device's copy is registered elsewhere."""
    world = make_world(registry, clock)
    first, second = ordinary_vendor_with_a_device_ca(registry, clock)
    (original,) = world.submit(world.record(first, frame(75, 0), clock.now_ms - 1000))
    world.later(10 * MINUTE)
    (copied,) = world.submit(world.record(second, frame(75, 1), clock.now_ms - 1000))
    result = looked_up(world, frame(75, 1))
    assert codes_of(result, copied)[REGISTERED_EARLIER_ELSEWHERE] == [original, copied]
    for device in (first, second):
        info = registry.device(device_id(device.device.certificate))
        assert info["issuer_id"] == device_id(device.intermediates[0].certificate)
    ids = {m.leaf_index: m.origin_id for m in result.matches}
    assert ids == {
        original: device_id(first.device.certificate),
        copied: device_id(second.device.certificate),
    }


def test_audit_replay_agrees_with_the_live_lookup(
    world: PhoneWorld, signer: Signer, tmp_path: Path
) -> None:
    """The burst's frames claim times before earlier frames were logged, which by another
    origin would be a backdated claim; a copy by the other phone that backdates is one."""
    burst = world.burst(0, seed=77, frames=3, captured_at=world.clock.now_ms - 3000)
    world.later(40 * MINUTE)
    (backdated,) = world.submit(world.shoot(1, frame(77, 5), world.clock.now_ms - 60 * MINUTE))
    result = looked_up(world, frame(77, 0))
    live = {
        (m.leaf_index, c.code)
        for m in result.matches
        for c in m.cautions
        if c.code == CLAIMS_TIME_BEFORE_EARLIER_LOG
    }
    with served(world.registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.ok, (report.invalid, report.findings)
    audited = {(c.index, c.code) for c in report.cautions}
    assert audited == live == {(backdated, CLAIMS_TIME_BEFORE_EARLIER_LOG)}
    assert not {index for index, _ in audited} & set(burst)


def device_rows(world: PhoneWorld) -> dict[str, dict[str, Any]]:
    report = build_report(load_facts(world.registry.store))
    return {row["device"]: dict(row) for row in report["devices"]}


def test_the_origin_report_counts_one_origin_per_ca(world: PhoneWorld) -> None:
    burst = world.burst(0, seed=79, frames=3, captured_at=world.clock.now_ms - 3000)
    world.later(40 * MINUTE)
    # The other phone re-registers the picture three times, a certificate each time.
    copies = world.submit(
        *(world.shoot(1, frame(79, 10 + n), world.clock.now_ms - 500 + n) for n in range(3))
    )
    report = build_report(load_facts(world.registry.store))
    rows = {row["device"]: row for row in report["devices"]}
    assert set(rows) == {world.origin(1)}  # not the one-time certificates, not phone 0
    row = rows[world.origin(1)]
    assert row["signals"]["first_registered_elsewhere"] == {
        "count": 3,
        "evidence": sorted([burst[0], *copies]),
    }
    assert row["captures"] == 3 and row["suspicious"]
    assert row.get("origin") == "ca" and row.get("certificates") == 3
    assert "revoke" in row.get("revocation", "")
    (cluster,) = report["clusters"]
    assert cluster["members"] == [*burst, *copies]
    assert cluster["devices"] == sorted([world.origin(0), world.origin(1)])
    (vendor,) = report["vendors"]
    assert vendor["devices_flagged"] == 1


# --- revoking a per-capture phone: its CA (revocation/v2, scope "ca") ---


def test_revoking_a_phone_ca_covers_every_one_time_certificate(
    world: PhoneWorld, signer: Signer
) -> None:
    """A thief who extracted phone 0's CA key can mint one-time certificates at will: revoking
    one certificate does nothing, so the vendor revokes the phone's CA - every certificate it
    issued is covered, phone 1 is not, and a certificate minted after the revocation cannot
    log a capture dated after the compromise."""
    since = world.clock.now_ms - 10 * MINUTE
    stolen = world.submit(*(world.shoot(0, frame(83, n), since + n) for n in range(3)))
    world.submit(world.shoot(1, frame(84, 0), since + 5))
    phone = world.phones
    revocation = world.registry.revoke(
        revoke_ca(DevicePKI(phone.root, (phone.phone_cas[0],), world.certificates[stolen[0]].device),
                  0, since, signer=phone.root)
    ).index  # fmt: skip
    for n, index in enumerate(stolen):
        result = looked_up(world, frame(83, n))
        assert result.matches[0].leaf_index == index
        assert {c.code for c in result.cautions} == {CAPTURED_IN_COMPROMISE_WINDOW}
    assert looked_up(world, frame(84, 0)).cautions == []

    minted = world.shoot(0, frame(85, 0), since + 60_000)
    (refused,) = world.registry.submit_captures([{k: v for k, v in minted.items() if k != "_pki"}])
    assert refused.receipt is None and refused.code == "ca_revoked"
    # Offline, from the bundle alone; and the origin report names the CA's revocation.
    report = verify_bundle(build_bundle(world.registry.store, stolen[1]), signer.verifier)
    assert report.ok and {c.code for c in report.cautions} == {CAPTURED_IN_COMPROMISE_WINDOW}
    row = device_rows(world)[world.origin(0)]
    assert row["signals"]["compromise_window"]["count"] == 3
    (named,) = row["revoked_by"]
    assert named.startswith(f"log entry {revocation}: every device under CA {world.origin(0)[:16]}")

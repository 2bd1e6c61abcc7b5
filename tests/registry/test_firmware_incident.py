"""Issue 15, part 2: a firmware incident, end to end.

A vendor ships three firmware releases to 30 cameras under two CAs. Release 2.00 turns out to
let one capture mode sign pictures the camera did not take; the vendor revokes that release
alone, from its ship date, for all of its devices. Every capture's verdict must then be right:
2.00 after the ship date is flagged, everything else - other releases, 2.00 before the date,
claims naming no firmware - stays clean, and the verdict says why a revocation does not cover
it. The origin report names the scope; a bundle made before the revocation is clean as of its
checkpoint and `--refresh` shows the revocation; new 2.00 captures from after the date are
refused. Both databases.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger import Signer
from registry import Registry
from registry.audit.replay import replay_log
from registry.bundle.build import build_bundle
from registry.bundle.refresh import refresh_bundle
from registry.bundle.verify import verify_bundle
from registry.cautions import CAPTURED_IN_COMPROMISE_WINDOW, LOGGED_AFTER_REVOCATION
from registry.entries.sdk import sign_capture
from registry.lookup.query import Lookup, LookupResult, query_from_image
from registry.origins.facts import load_facts
from registry.origins.report import build_report
from testkit.pki import DevicePKI, make_device, make_intermediate, make_root
from testkit.revocations import revoke_vendor
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.registry_fixtures import TOKEN, now_of, picture
from tests.support.status_fixtures import hex_id, source

RELEASES = ("1.00", "2.00", "2.01")
FLAWED = "2.00"
HOUR_MS = 3_600_000
VENDOR = "Example Camera Co."


@dataclass(frozen=True)
class Shot:
    index: int
    seed: int
    device: int
    firmware: str | None
    after_ship: bool

    @property
    def affected(self) -> bool:
        return self.firmware == FLAWED and self.after_ship


@dataclass
class Incident:
    devices: list[DevicePKI]
    shots: list[Shot]
    ship: int  # the flawed release's ship date, ms
    old_bundle: bytes  # of an affected capture, made before the revocation
    old_bundle_shot: Shot
    revocation: int


def firmware_of(device: int) -> str:
    return RELEASES[device % len(RELEASES)]


@pytest.fixture
def incident(registry: Registry, clock: FixedClock) -> Incident:
    now = now_of(clock)
    root = make_root(now, common_name=f"{VENDOR} Root")
    cas = [make_intermediate(root, now, common_name=f"{VENDOR} CA {n}") for n in "AB"]
    registry.add_vendor(VENDOR, "camera", root.der, TOKEN)
    devices = []
    for n in range(30):
        ca = cas[n % 2]
        device = make_device(ca, now, common_name=f"{VENDOR} X100 #{n:04d}")
        registry.enroll_device(device.der, [ca.der])
        devices.append(DevicePKI(root, (ca,), device))
    ship = clock.now_ms - 8 * HOUR_MS
    shots, records = [], []
    for n, pki in enumerate(devices):
        plan: list[tuple[str | None, int]] = [
            (firmware_of(n), ship - HOUR_MS - n),
            (firmware_of(n), ship + HOUR_MS + n),
        ]
        if n < 3:  # an older SDK that signs no firmware
            plan.append((None, ship + 2 * HOUR_MS + n))
        for counter, (firmware, at) in enumerate(plan, 1):
            seed = 1000 + 10 * n + counter
            records.append(
                sign_capture(
                    picture(seed),
                    pki.device.private_key,
                    pki.device.certificate,
                    counter,
                    at,
                    firmware=firmware,
                )
            )
            shots.append((seed, n, firmware, at >= ship))  # fmt: skip
    results = [
        r
        for at in range(0, len(records), 30)
        for r in registry.submit_captures(records[at : at + 30])
    ]
    assert all(r.receipt is not None for r in results), [r.reason for r in results]
    placed = [
        Shot(r.receipt.index, seed, n, firmware, after)
        for r, (seed, n, firmware, after) in zip(results, shots, strict=True)
        if r.receipt is not None
    ]
    first_affected = next(s for s in placed if s.affected)
    old = build_bundle(registry.store, first_affected.index)
    revocation = registry.revoke(revoke_vendor(devices[0], ship, firmware=[FLAWED])).index
    return Incident(devices, placed, ship, old, first_affected, revocation)


def lookup(registry: Registry, seed: int) -> LookupResult:
    return Lookup(registry.store).lookup(query_from_image(picture(seed)))


def test_every_verdict_is_right(registry: Registry, incident: Incident) -> None:
    affected = [s for s in incident.shots if s.affected]
    assert len(affected) == 10 and len(incident.shots) == 63
    for shot in incident.shots:
        result = lookup(registry, shot.seed)
        assert result.matches[0].leaf_index == shot.index
        codes = {c.code for c in result.cautions}
        if shot.affected:
            assert codes == {CAPTURED_IN_COMPROMISE_WINDOW}, shot
            (caution,) = result.cautions
            assert caution.evidence == (incident.revocation,)
            assert f"firmware {FLAWED}" in caution.message
        else:
            assert codes == set(), shot
            if shot.firmware != FLAWED:  # the verdict says why the revocation does not cover it
                (note,) = result.matches[0].notes
                said = "names no firmware" if shot.firmware is None else f"'{shot.firmware}'"
                assert f"log entry {incident.revocation}" in note and said in note


def test_the_origin_report_names_the_scope(registry: Registry, incident: Incident) -> None:
    report = build_report(load_facts(registry.store))
    flagged = {row["device"]: row for row in report["devices"]}
    on_flawed = {hex_id(d.device.der) for n, d in enumerate(incident.devices)
                 if firmware_of(n) == FLAWED}  # fmt: skip
    assert {d for d, row in flagged.items() if "compromise_window" in row["signals"]} == on_flawed
    for device in on_flawed:
        (named,) = flagged[device]["revoked_by"]
        assert named.startswith(f"log entry {incident.revocation}: firmware {FLAWED} of {VENDOR}")
        assert named.endswith(", from " + _day(incident.ship))


def test_bundles_are_clean_as_of_their_checkpoint_and_refresh_shows_the_revocation(
    registry: Registry, incident: Incident, signer: Signer, tmp_path: Path
) -> None:
    then = verify_bundle(incident.old_bundle, signer.verifier)
    assert then.ok and then.cautions == ()
    with source(registry, signer, tmp_path) as fresh:
        refreshed = refresh_bundle(incident.old_bundle, fresh, signer.verifier)
    assert refreshed.ok, refreshed.checks
    now = refreshed.report
    assert now is not None and now.status is not None
    assert [r.index for r in now.status.revocations] == [incident.revocation]
    assert {c.code for c in now.cautions} == {CAPTURED_IN_COMPROMISE_WINDOW}
    # A fresh bundle of a capture of another release lists the revocation and stays clean.
    other = next(s for s in incident.shots if s.firmware == "2.01" and s.after_ship)
    report = verify_bundle(build_bundle(registry.store, other.index), signer.verifier)
    assert report.ok and report.cautions == ()
    (check,) = [c for c in report.checks if c.name == "revocations"]
    assert "limited to firmware 2.00" in check.detail and "'2.01'" in check.detail


def test_new_captures_on_the_flawed_release_after_the_date_are_refused(
    registry: Registry, incident: Incident, clock: FixedClock
) -> None:
    n = next(n for n in range(30) if firmware_of(n) == FLAWED)
    pki = incident.devices[n]
    at = incident.ship + 3 * HOUR_MS

    def submit(seed: int, firmware: str | None, when: int) -> tuple[str | None, int | None]:
        record = sign_capture(picture(seed), pki.device.private_key, pki.device.certificate,
                              50 + seed, when, firmware=firmware)  # fmt: skip
        (result,) = registry.submit_captures([record])
        return result.code, None if result.receipt is None else result.receipt.index

    code, _ = submit(1, FLAWED, at)
    assert code == "vendor_revoked"
    code, index = submit(2, "2.01", at)  # the fixed release: accepted, and clean
    assert code is None and index is not None
    assert {c.code for c in lookup(registry, 2).cautions} == set()
    code, index = submit(3, FLAWED, incident.ship - 1)  # before the date, logged after: doubtful
    assert index is not None
    assert {c.code for c in lookup(registry, 3).cautions} == {LOGGED_AFTER_REVOCATION}


def test_audit_replay_of_the_incident_is_clean(
    registry: Registry, incident: Incident, signer: Signer, tmp_path: Path
) -> None:
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.ok and report.invalid == []


def _day(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def test_the_page_names_the_scope_and_says_why_others_are_clean(
    registry: Registry, incident: Incident, signer: Signer, tmp_path: Path
) -> None:
    from tests.support.in_process import api_client

    affected = next(s for s in incident.shots if s.affected)
    clean = next(s for s in incident.shots if s.firmware is None)
    with api_client(registry, signer, tmp_path) as client:
        flagged = client.post("/", files={"image": ("a.png", picture(affected.seed), "image/png")})
        other = client.post("/", files={"image": ("b.png", picture(clean.seed), "image/png")})
    assert 'data-cautions="captured_in_compromise_window"' in flagged.text
    assert f"(firmware {FLAWED}, from {_day(incident.ship)}" in flagged.text
    assert "data-cautions" not in other.text
    assert "names no firmware, so it is not covered" in other.text

"""Origin clusters and signals on small hand-built logs: each signal fires on its adversary and
stays quiet on honest look-alikes (burst shots, one event seen by several cameras), clusters
never chain, and a report at a fixed size is the same bytes however often it is computed."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger import Signer
from ledger.note import write_private_key_file
from registry import Registry
from registry.origins.clusters import cluster
from registry.origins.facts import Parameters, load_facts
from registry.origins.report import build_report, report_bytes
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.origin_world import MINUTE, T0, World, flags, flipped, pdq
from tests.support.registry_fixtures import record


def test_clusters_are_anchored_and_never_chain() -> None:
    world = World()
    base = pdq(1)
    a = world.add("cam-a", base, T0)
    b = world.add("cam-a", flipped(base, 20), T0 + 1000)  # 20 from A
    c = world.add("cam-a", flipped(base, 40), T0 + 2000)  # 20 from B, 40 from A: not A's
    anchors = cluster(world.captures, Parameters())
    assert anchors[a] == anchors[b] == a
    assert anchors[c] == c or anchors[c] != a


def test_same_file_joins_even_with_a_low_quality_hash() -> None:
    world = World()
    sha = b"\2" * 32
    first = world.add("cam-a", pdq(2), T0, quality=10, sha=sha)
    copy = world.add("cam-b", pdq(3), T0 + 5 * MINUTE, quality=10, sha=sha)
    assert cluster(world.captures, Parameters())[copy] == first


def test_burst_shots_and_one_event_seen_by_two_cameras_are_not_flagged() -> None:
    world = World()
    scene = pdq(4)
    for i in range(5):  # a burst: one device, near-identical frames
        world.add("cam-a", flipped(scene, 4 + i), T0 + 200 * i)
    world.add("cam-b", flipped(scene, 10, offset=100), T0 + 300, logged=T0 + 30 * MINUTE)
    report = world.report()
    assert report["devices"] == []
    (group,) = report["clusters"]
    assert group["devices"] == ["cam-a", "cam-b"] and len(group["members"]) == 6


def test_first_registered_elsewhere() -> None:
    world = World()
    photo = world.add("cam-a", pdq(5), T0)
    screen = world.add("cam-b", flipped(pdq(5), 12), T0 + 2 * 86_400_000)  # days later
    found = flags(world.report(), "cam-b")
    assert set(found) == {"first_registered_elsewhere"}
    assert found["first_registered_elsewhere"] == {"count": 1, "evidence": [photo, screen]}
    assert flags(world.report(), "cam-a") == {}


def test_laundered_synthetic() -> None:
    world = World()
    disclosed = world.add("gen", pdq(6), T0)
    photographed = world.add("cam-c", flipped(pdq(6), 16), T0 + 10 * MINUTE)
    report = world.report()
    assert flags(report, "cam-c")["laundered_synthetic"]["evidence"] == [disclosed, photographed]
    top = report["devices"][0]
    assert top["device"] == "cam-c" and top["suspicious"]
    assert "generator's disclosure" in top["reasons"][0]
    assert report["vendors"][0]["vendor"] == "vendor-cam2"


@pytest.mark.parametrize("pattern", ["repeat", "interleaved"])
def test_cloned_key(pattern: str) -> None:
    world = World()
    if pattern == "repeat":
        world.add("cam-a", pdq(7), T0, counter=5)
        world.add("cam-a", pdq(8), T0 + MINUTE, counter=5)
    else:  # two devices with one key, each counting on its own
        for i, counter in enumerate([1, 2, 1, 3, 2, 4]):
            world.add("cam-a", pdq(20 + i), T0 + i * MINUTE, counter=counter)
    assert flags(world.report(), "cam-a")["cloned_key"]["count"] >= 2


def test_impossible_rate_over_a_sliding_window() -> None:
    world = World()
    for i in range(201):  # 201 captures in 10 s: just over 20 per second
        world.add("cam-a", pdq(100 + i), T0 + i * 49)
    for i in range(200):  # exactly at the limit: fine
        world.add("cam-b", pdq(400 + i), T0 + i * 50)
    report = world.report()
    assert flags(report, "cam-a")["impossible_rate"]["count"] == 201
    assert "impossible_rate" not in flags(report, "cam-b")


def test_clock_anomalies() -> None:
    world = World()
    for i in range(20):
        world.add("cam-a", pdq(700 + i), T0 + i * MINUTE)  # logged 2 s after capture
    ahead = world.add("cam-b", pdq(800), T0 + 5 * MINUTE, logged=T0 + 4 * MINUTE)
    late = world.add("cam-b", pdq(801), T0, logged=T0 + 3 * 86_400_000)
    assert flags(world.report(), "cam-b")["clock_anomaly"]["evidence"] == [ahead, late]


def test_compromise_window() -> None:
    world = World()
    before = world.add("cam-a", pdq(900), T0)
    after = world.add("cam-a", pdq(901), T0 + 2 * MINUTE)
    world.compromised["cam-a"] = T0 + MINUTE
    assert flags(world.report(), "cam-a")["compromise_window"]["evidence"] == [after]
    assert before != after


def test_report_states_its_checkpoint_and_parameters() -> None:
    report = World().report()
    assert report["checkpoint"] == {
        "origin": "test/log",
        "tree_size": 0,
        "root_hash": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    }
    assert report["parameters"]["radius"] == 31 and report["parameters"]["rate_per_s"] == 20


# --- on a real registry ---


def test_report_at_a_fixed_size_is_the_same_bytes(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    registry.submit_captures(
        [record(enrolled.device, s, s, clock.now_ms - 1000) for s in (1, 2, 3)]
    )
    # The same counter again: a cloned-key signal, and a near-duplicate pair.
    registry.submit_captures([record(enrolled.device, 1, 1, clock.now_ms - 500)])
    size = registry.store.latest_checkpoint().size
    first = report_bytes(build_report(load_facts(registry.store, size)))
    registry.submit_captures([record(enrolled.device, s, s, clock.now_ms) for s in (7, 8)])
    again = report_bytes(build_report(load_facts(registry.store, size)))
    assert again == first
    registry.reindex(chunk=2)  # the derived tables rebuilt from the log itself
    assert report_bytes(build_report(load_facts(registry.store, size))) == first
    report = json.loads(first)
    assert report["checkpoint"]["tree_size"] == size
    # Counter 1 twice (both), and by capture time 1, 2, 3, 1: the last one below counter 3.
    assert report["devices"][0]["signals"]["cloned_key"]["count"] == 3

    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path), "--database", migrated_url]
    as_json = runner.invoke(main, [*base, "clusters", "--at", str(size), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert as_json.output.strip().encode() == first
    human = runner.invoke(main, [*base, "clusters"])
    assert human.exit_code == 0, human.output
    assert "cloned or extracted key" in human.output


def test_api_serves_the_report_and_one_origin(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    from fastapi.testclient import TestClient

    from api import create_app
    from ledger import LogConfig
    from registry import RegistrySettings

    registry.submit_captures([record(enrolled.device, s, 1, clock.now_ms - 1000) for s in (1, 2)])
    size = registry.store.latest_checkpoint().size
    expected = report_bytes(build_report(load_facts(registry.store, size)))
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    app = create_app(
        RegistrySettings(log=LogConfig(tmp_path, migrated_url, key_file), verify_workers=0)
    )
    with TestClient(app) as client:
        served = client.get("/v1/clusters")
        assert served.status_code == 200 and served.content == expected
        device = json.loads(expected)["devices"][0]["device"]
        one = client.get(f"/v1/origins/{device}").json()
        assert one["kind"] == "device" and one["signals"]["cloned_key"]["count"] == 2
        assert one["checkpoint"]["tree_size"] == size
        vendor = client.get(f"/v1/origins/{one['vendor']}").json()
        assert vendor["kind"] == "vendor" and vendor["devices_flagged"] == 1
        missing = client.get("/v1/origins/" + "0" * 64)
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "no_signals"
        # A size the log signed no checkpoint at is computed nowhere but on one's own machine.
        beyond = client.get("/v1/clusters", params={"at": size + 5})
        assert beyond.status_code == 404, beyond.text
        assert beyond.json()["error"]["type"] == "report_not_computed"

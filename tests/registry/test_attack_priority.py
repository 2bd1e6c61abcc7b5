"""Issue 13, holes 5 and 6: priority between near-duplicates is decided by the log, not by a
device's clock. A generator's disclosure logged before a camera capture of the same picture
decides the lookup (laundered synthetic images are not "registered"); a copier that backdates
its claimed capture time never shows as the earlier capture, and the origin report and
`prov audit replay` name it. On both databases, through the registry and `POST /v1/lookup`."""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api import create_app
from cli import common
from cli.errors import EXIT_CAUTION
from cli.main import main
from ledger import LogConfig, Signer
from registry import Registry, RegistrySettings
from registry.audit.replay import replay_log
from registry.cautions import (
    CLAIMS_TIME_BEFORE_EARLIER_LOG,
    GENERATOR_DISCLOSED_FIRST,
    REGISTERED_EARLIER_ELSEWHERE,
)
from registry.entries.sdk import device_id, sign_capture
from registry.lookup.query import (
    DISCLOSED_SYNTHETIC,
    REGISTERED,
    Lookup,
    LookupResult,
    query_from_image,
)
from registry.origins.clusters import cluster
from registry.origins.facts import Parameters, load_facts
from registry.origins.report import build_report
from testkit.pki import DevicePKI, make_device, make_root
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.origin_world import T0, World, flags, flipped, pdq
from tests.support.registry_fixtures import TOKEN, as_json, now_of, picture, reencoded

SIZE = (320, 240)
MINUTE = 60_000


@dataclass
class Parties:
    registry: Registry
    clock: FixedClock
    cam1: DevicePKI  # the photographer
    cam2: DevicePKI  # another camera vendor's device: the copier
    gen: DevicePKI  # a generator vendor's release
    counters: dict[str, int]

    def record(self, who: DevicePKI, image: bytes, captured_at: int) -> dict[str, Any]:
        name = device_id(who.device.certificate)
        self.counters[name] = self.counters.get(name, 0) + 1
        return as_json(sign_capture(
            image, who.device.private_key, who.device.certificate,
            self.counters[name], captured_at,
        ))  # fmt: skip

    def submit(self, *records: dict[str, Any]) -> list[int]:
        """One batch; the leaf index of each record."""
        results = self.registry.submit_captures(list(records))
        indexes = []
        for result in results:
            assert result.receipt is not None, result
            indexes.append(result.receipt.index)
        return indexes

    def logged_at(self, index: int) -> int:
        return int(json.loads(self.registry.store.entry(index))["logged_at"])

    def later(self, ms: int) -> None:
        self.clock.now_ms += ms


@pytest.fixture
def parties(registry: Registry, clock: FixedClock) -> Parties:
    made = []
    for name, role in [
        ("Example Camera Co.", "camera"),
        ("Other Camera Co.", "camera"),
        ("Example Diffusion Labs", "generator"),
    ]:
        # Roots with their own names: the registry finds a device's vendor by issuer name.
        root = make_root(now_of(clock), common_name=f"{name} Root CA", organization=name)
        pki = DevicePKI(root, (), make_device(root, now_of(clock), organization=name))
        registry.add_vendor(name, role, pki.root.der, TOKEN)
        registry.enroll_device(pki.device.der, pki.chain_der)
        made.append(pki)
    cam1, cam2, gen = made
    return Parties(registry, clock, cam1, cam2, gen, counters={})


@contextmanager
def api(registry: Registry, tmp_path: Path) -> Iterator[TestClient]:
    """A read-only API on the registry's database (lookups write nothing)."""
    url = registry.store.engine.url.render_as_string(hide_password=False)
    app = create_app(
        RegistrySettings(log=LogConfig(tmp_path, url, tmp_path / "log.key"), verify_workers=0)
    )
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.prov.registry.close()
        app.state.prov.store.engine.dispose()


def looked_up(parties: Parties, image: bytes) -> LookupResult:
    return Lookup(parties.registry.store).lookup(query_from_image(image))


def posted(client: TestClient, image: bytes) -> dict[str, Any]:
    response = client.post("/v1/lookup", files={"image": ("image.jpg", image)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(cautions: list[Any]) -> dict[str, list[int]]:
    """code -> evidence, from Caution objects or their JSON."""
    found = {}
    for caution in cautions:
        if isinstance(caution, dict):
            found[caution["code"]] = list(caution["evidence"])
        else:
            found[caution.code] = list(caution.evidence)
    return found


def by_index(matches: list[Any], index: int) -> Any:
    (match,) = [
        m for m in matches if (m["leaf_index"] if isinstance(m, dict) else m.leaf_index) == index
    ]
    return match


def device_signals(parties: Parties, who: DevicePKI) -> dict[str, Any]:
    report = build_report(load_facts(parties.registry.store))
    name = device_id(who.device.certificate)
    row = next((r for r in report["devices"] if r["device"] == name), None)
    return {} if row is None else dict(row["signals"])


# --- hole 5: laundered synthetic images ---


@pytest.mark.parametrize("copy", ["reencoded", "same_file"])
def test_laundered_synthetic_exact_copy_is_not_registered(
    parties: Parties, tmp_path: Path, copy: str
) -> None:
    generated = picture(41, SIZE)
    (disclosed,) = parties.submit(
        parties.record(parties.gen, generated, parties.clock.now_ms - 1000)
    )
    parties.later(10 * MINUTE)
    # A camera registers the picture as its own capture: the file that then circulates.
    laundered = reencoded(generated) if copy == "reencoded" else generated
    (camera,) = parties.submit(parties.record(parties.cam1, laundered, parties.clock.now_ms - 2000))
    result = looked_up(parties, laundered)
    assert result.verdict == DISCLOSED_SYNTHETIC
    assert by_index(result.matches, camera).exact  # the camera's capture is this very file
    first, later = by_index(result.matches, disclosed), by_index(result.matches, camera)
    assert first.first_logged and not later.first_logged
    assert codes(later.cautions)[GENERATOR_DISCLOSED_FIRST] == [disclosed, camera]
    assert codes(first.cautions) == {}
    assert GENERATOR_DISCLOSED_FIRST in codes(result.cautions)
    with api(parties.registry, tmp_path) as client:
        body = posted(client, laundered)
    assert body["verdict"] == DISCLOSED_SYNTHETIC
    assert by_index(body["matches"], disclosed)["first_logged"] is True
    assert by_index(body["matches"], camera)["first_logged"] is False
    assert codes(by_index(body["matches"], camera)["cautions"])[GENERATOR_DISCLOSED_FIRST] == [
        disclosed,
        camera,
    ]
    assert codes(body["cautions"])[GENERATOR_DISCLOSED_FIRST] == [disclosed, camera]


def test_laundered_copy_in_the_same_batch_as_the_disclosure(parties: Parties) -> None:
    """Same logged_at: the log order (leaf index) decides, in lookups and in origins."""
    generated = picture(43, SIZE)
    disclosed, camera = parties.submit(
        parties.record(parties.gen, generated, parties.clock.now_ms - 1000),
        parties.record(parties.cam1, reencoded(generated), parties.clock.now_ms - 900),
    )
    assert parties.logged_at(disclosed) == parties.logged_at(camera)
    result = looked_up(parties, reencoded(generated))
    assert result.verdict == DISCLOSED_SYNTHETIC
    assert codes(by_index(result.matches, camera).cautions)[GENERATOR_DISCLOSED_FIRST] == [
        disclosed,
        camera,
    ]
    assert camera in device_signals(parties, parties.cam1)["laundered_synthetic"]["evidence"]


def test_camera_first_then_disclosure_stays_registered_with_a_caution_on_the_later_copy(
    parties: Parties,
) -> None:
    """The opposite order: the photo was logged first; a generator later disclosed it (say, an
    edit of it) and a second camera re-registered the file. The verdict stays with the first."""
    photo = picture(45, SIZE)
    (original,) = parties.submit(parties.record(parties.cam1, photo, parties.clock.now_ms - 500))
    parties.later(5 * MINUTE)
    (disclosed,) = parties.submit(
        parties.record(parties.gen, reencoded(photo), parties.clock.now_ms - 500)
    )
    parties.later(5 * MINUTE)
    (copied,) = parties.submit(parties.record(parties.cam2, photo, parties.clock.now_ms - 500))
    result = looked_up(parties, photo)
    assert result.verdict == REGISTERED
    assert by_index(result.matches, original).first_logged
    assert codes(by_index(result.matches, original).cautions) == {}
    later = codes(by_index(result.matches, copied).cautions)
    assert later[GENERATOR_DISCLOSED_FIRST] == [disclosed, copied]
    assert later[REGISTERED_EARLIER_ELSEWHERE] == [original, copied]


def test_a_flood_of_later_copies_cannot_push_the_disclosure_out_of_the_matches(
    parties: Parties,
) -> None:
    generated = picture(47, SIZE)
    (disclosed,) = parties.submit(
        parties.record(parties.gen, generated, parties.clock.now_ms - 1000)
    )
    parties.later(MINUTE)
    laundered = reencoded(generated)
    copies = parties.submit(
        *[parties.record(parties.cam1, laundered, parties.clock.now_ms - 900) for _ in range(25)]
    )
    result = looked_up(parties, laundered)
    assert result.verdict == DISCLOSED_SYNTHETIC
    assert by_index(result.matches, disclosed).first_logged
    assert len(result.matches) <= 20 and copies[0] in {m.leaf_index for m in result.matches}


# --- hole 6: backdating wins priority ---


def register_then_copy(parties: Parties, backdate_ms: int, seed: int) -> tuple[int, int, bytes]:
    """Device 1 registers a photo; 30 minutes later device 2 registers a near-duplicate whose
    captured_at claims `backdate_ms` before device 1's capture was logged."""
    photo = picture(seed, SIZE)
    (original,) = parties.submit(parties.record(parties.cam1, photo, parties.clock.now_ms - 2000))
    parties.later(30 * MINUTE)
    claimed = parties.logged_at(original) - backdate_ms
    copy = reencoded(photo)
    (copied,) = parties.submit(parties.record(parties.cam2, copy, claimed))
    return original, copied, copy


def assert_device_1_first(
    result: LookupResult, original: int, copied: int, *, verdict_on_copy: bool = True
) -> None:
    first, later = by_index(result.matches, original), by_index(result.matches, copied)
    assert first.first_logged and not later.first_logged
    assert codes(first.cautions) == {}
    found = codes(later.cautions)
    assert found[CLAIMS_TIME_BEFORE_EARLIER_LOG] == [original, copied]
    assert found[REGISTERED_EARLIER_ELSEWHERE] == [original, copied]
    if verdict_on_copy:  # the verdict rests on the copy: its cautions are the verdict's
        assert result.matches[0].leaf_index == copied
        assert CLAIMS_TIME_BEFORE_EARLIER_LOG in codes(result.cautions)
    else:  # the original's verdict stays clean, however the copier backdated
        assert result.matches[0].leaf_index == original
        assert result.cautions == []


def test_backdated_copy_does_not_win_priority(parties: Parties, tmp_path: Path) -> None:
    original, copied, copy = register_then_copy(parties, 40 * MINUTE, seed=51)
    claimed = by_index(looked_up(parties, copy).matches, copied).captured_at_ms
    assert claimed < by_index(looked_up(parties, copy).matches, original).captured_at_ms
    # The original file: a later copier cannot cloud its verdict.
    assert_device_1_first(
        looked_up(parties, picture(51, SIZE)), original, copied, verdict_on_copy=False
    )
    assert_device_1_first(looked_up(parties, copy), original, copied)  # the copier's file
    with api(parties.registry, tmp_path) as client:
        body = posted(client, copy)
    assert body["verdict"] == REGISTERED  # the copier's file is its capture...
    assert by_index(body["matches"], original)["first_logged"] is True  # ...but not the first
    assert by_index(body["matches"], copied)["first_logged"] is False
    assert codes(by_index(body["matches"], copied)["cautions"])[CLAIMS_TIME_BEFORE_EARLIER_LOG] == [
        original,
        copied,
    ]
    assert CLAIMS_TIME_BEFORE_EARLIER_LOG in codes(body["cautions"])
    evidence = device_signals(parties, parties.cam2)["first_registered_elsewhere"]["evidence"]
    assert copied in evidence and original in evidence
    assert device_signals(parties, parties.cam1) == {}


@pytest.mark.parametrize("backdate_ms", [2 * MINUTE, 20 * MINUTE, 59 * MINUTE, 3 * 60 * MINUTE])
def test_backdating_by_any_amount_beyond_the_grace_is_flagged(
    parties: Parties, backdate_ms: int
) -> None:
    original, copied, copy = register_then_copy(parties, backdate_ms, seed=53)
    assert_device_1_first(looked_up(parties, copy), original, copied)
    assert copied in device_signals(parties, parties.cam2)["first_registered_elsewhere"]["evidence"]


def test_backdating_within_the_grace_still_loses_priority(parties: Parties) -> None:
    """Claiming the same moment as device 1's capture is what a second camera at the same event
    would claim: the origin report does not accuse it, but the lookup never ranks it first."""
    original, copied, copy = register_then_copy(parties, 20_000, seed=55)
    assert_device_1_first(looked_up(parties, copy), original, copied)


def test_backdated_copy_in_the_same_batch(parties: Parties) -> None:
    photo = picture(57, SIZE)
    now = parties.clock.now_ms
    original, copied = parties.submit(
        parties.record(parties.cam1, photo, now - 2000),
        parties.record(parties.cam2, reencoded(photo), now - 30 * MINUTE),
    )
    assert parties.logged_at(original) == parties.logged_at(copied)
    assert_device_1_first(looked_up(parties, reencoded(photo)), original, copied)
    assert copied in device_signals(parties, parties.cam2)["first_registered_elsewhere"]["evidence"]


# --- the old log: prov audit replay ---


def test_audit_replay_reports_laundered_and_backdated_captures(
    parties: Parties, signer: Signer, tmp_path: Path
) -> None:
    generated = picture(61, SIZE)
    (disclosed,) = parties.submit(parties.record(parties.gen, generated, parties.clock.now_ms))
    parties.later(MINUTE)
    same_file, near_copy = parties.submit(
        parties.record(parties.cam1, generated, parties.clock.now_ms - 500),
        parties.record(parties.cam1, reencoded(generated), parties.clock.now_ms - 400),
    )
    parties.later(MINUTE)
    original, backdated, _ = register_then_copy(parties, 40 * MINUTE, seed=63)
    (unrelated,) = parties.submit(
        parties.record(parties.cam2, picture(65, SIZE), parties.clock.now_ms - 500)
    )
    with served(parties.registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.ok, (report.invalid, report.findings)  # cautions, not invalid entries
    found = {(c.index, c.code): list(c.evidence) for c in report.cautions}
    assert found[(same_file, GENERATOR_DISCLOSED_FIRST)] == [disclosed, same_file]
    assert found[(near_copy, GENERATOR_DISCLOSED_FIRST)] == [disclosed, near_copy]
    assert found[(backdated, CLAIMS_TIME_BEFORE_EARLIER_LOG)] == [original, backdated]
    assert not {index for index, _ in found} & {disclosed, original, unrelated}
    as_json = report.to_json()
    assert {"index": backdated, "code": CLAIMS_TIME_BEFORE_EARLIER_LOG} in [
        {"index": c["index"], "code": c["code"]} for c in as_json["cautions"]
    ]


# --- which came first, as people read it ---


def test_web_page_and_prov_lookup_say_which_came_first(
    parties: Parties, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, copied, copy = register_then_copy(parties, 40 * MINUTE, seed=67)
    with api(parties.registry, tmp_path) as client:
        page = client.post("/", files={"image": ("copy.jpg", copy, "image/jpeg")})
    assert page.status_code == 200, page.text
    rows = re.findall(r'<tr class="match[^"]*" data-index="(\d+)">(.*?)</tr>', page.text, re.S)
    order = {int(index): row for index, row in rows}
    assert 'class="match cautioned' in page.text  # the later copy carries its cautions
    assert "first logged" in order[original]
    assert f"logged later than #{original}" in order[copied]
    image = tmp_path / "copy.jpg"
    image.write_bytes(copy)
    url = parties.registry.store.engine.url.render_as_string(hide_password=False)
    # The console is built once per process, reading COLUMNS then: widen it for this test
    # alone, whichever test imported the CLI first.
    monkeypatch.setattr(common.console, "_width", 300)
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path), "--database", url, "lookup", str(image)]
    )
    assert result.exit_code == EXIT_CAUTION, result.output  # the copy's cautions
    lines = {line.split()[1]: line for line in result.output.splitlines() if "│" in line[:3]}
    assert "first logged" in lines[str(original)]
    assert f"logged later than #{original}" in lines[str(copied)]


def test_laundering_is_found_when_the_disclosure_anchors_another_cluster() -> None:
    """The photograph joins the cluster of an earlier, nearer capture, not the disclosure's:
    the disclosure within the radius is found all the same."""
    world = World()
    base = pdq(71)
    first = world.add("cam-c", base, T0)
    disclosed = world.add("gen", flipped(base, 40), T0 + MINUTE)  # 40 from first: own cluster
    photographed = world.add("cam-c", flipped(base, 20), T0 + 2 * MINUTE)  # 20 from both
    anchors = cluster(world.captures, Parameters())
    assert anchors[photographed] == first and anchors[disclosed] == disclosed
    evidence = flags(world.report(), "cam-c")["laundered_synthetic"]["evidence"]
    assert evidence == [disclosed, photographed]


def test_second_camera_at_the_same_moment_is_not_accused_but_a_backdated_one_is() -> None:
    world = World()
    scene = pdq(73)
    anchor = world.add("cam-a", scene, T0, logged=T0 + 2_000)
    same_moment = world.add("cam-b", flipped(scene, 10), T0 + 500, logged=T0 + 30 * MINUTE)
    backdated = world.add("cam-c", flipped(scene, 12), T0 - 5 * MINUTE, logged=T0 + 31 * MINUTE)
    report = world.report()
    assert flags(report, "cam-b") == {}
    assert flags(report, "cam-c")["first_registered_elsewhere"]["evidence"] == [anchor, backdated]
    assert same_moment not in flags(report, "cam-c")["first_registered_elsewhere"]["evidence"]

"""`prov lookup --server ... --bundle-dir`: the file names come from what the server sent, so a
hostile server (here an httpx MockTransport in front of a real registry) must not be able to
name a file outside the directory, nor write through a symlink planted in it."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

import cli.common
from cli.client import HttpClient
from cli.main import main
from registry import Registry
from registry.bundle.build import build_bundle
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.prov_cli import assert_exit
from tests.support.registry_fixtures import picture, record

SERVER = "http://hostile.test"


def run_lookup(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry: Registry,
    leaf_index: object,
    bundle_of: int,
    *extra: str,
) -> tuple[Result, Path]:
    """`prov --server SERVER lookup image --bundle-dir D --json` against a server that names
    one match `leaf_index` and answers every bundle with the real bundle of `bundle_of`."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/lookup":
            match: dict[str, Any] = {"leaf_index": leaf_index, "exact": True}
            return httpx.Response(200, json={"verdict": "registered", "matches": [match]})
        return httpx.Response(200, content=build_bundle(registry.store, bundle_of))

    def client(base_url: str) -> HttpClient:
        http = httpx.Client(transport=httpx.MockTransport(answer), base_url=base_url)
        return HttpClient(base_url, http=http)

    monkeypatch.setattr(cli.common, "HttpClient", client)
    image = tmp_path / "image.png"
    image.write_bytes(picture(1))
    directory = tmp_path / "bundles"
    directory.mkdir(exist_ok=True)
    arguments = ["--server", SERVER, "lookup", str(image), "--bundle-dir", str(directory), "--json"]
    return CliRunner().invoke(main, [*arguments, *extra]), directory


@pytest.fixture
def logged(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> int:
    """The index of a logged capture of picture(1)."""
    result = registry.submit_captures([record(enrolled.device, 1, 1, clock.now_ms - 10_000)])[0]
    assert result.receipt is not None
    return result.receipt.index


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("hostile", ["../../x", "../escape", -1, 10**30, 1.5, True, None, "2"])
def test_a_hostile_leaf_index_writes_no_file(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry: Registry,
    logged: int,
    hostile: object,
) -> None:
    before = files_under(tmp_path)

    result, directory = run_lookup(monkeypatch, tmp_path, registry, hostile, logged)

    assert_exit(result, 1, "not a log index", "no bundle was written")
    assert files_under(tmp_path) == sorted([*before, "bundles", "image.png"])
    assert list(directory.iterdir()) == []


def test_a_leaf_index_the_bundle_does_not_prove_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, registry: Registry, logged: int
) -> None:
    result, directory = run_lookup(monkeypatch, tmp_path, registry, logged + 7, logged)

    assert_exit(result, 1, "does not prove that index")
    assert list(directory.iterdir()) == []


def test_a_symlink_planted_in_the_bundle_dir_is_not_written_through(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, registry: Registry, logged: int
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    directory = tmp_path / "bundles"
    directory.mkdir()
    planted = directory / f"capture-{logged}.bundle.json"
    planted.symlink_to(outside)

    result, _ = run_lookup(monkeypatch, tmp_path, registry, logged, logged)

    assert_exit(result, 2, "is a symbolic link")
    assert outside.read_text() == "keep me\n"
    assert planted.is_symlink()
    assert [p.name for p in directory.iterdir()] == [planted.name]  # no temporary file left


def test_an_honest_answer_writes_the_bundle_replacing_an_old_file_with_force(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, registry: Registry, logged: int
) -> None:
    directory = tmp_path / "bundles"
    directory.mkdir()
    (directory / f"capture-{logged}.bundle.json").write_text("stale")

    refused, _ = run_lookup(monkeypatch, tmp_path, registry, logged, logged)
    assert_exit(refused, 2, "exists; give --force")
    result, _ = run_lookup(monkeypatch, tmp_path, registry, logged, logged, "--force")

    assert_exit(result, 0)
    written = directory / f"capture-{logged}.bundle.json"
    assert written.read_bytes() == build_bundle(registry.store, logged)
    assert json.loads(result.stdout)["matches"][0]["bundle_file"] == str(written)
    assert [p.name for p in directory.iterdir()] == [written.name]

"""`prov lookup` of many images (issue 17): a directory or several files, one line per image
and a summary, --json and --csv, --bundle-dir, the batch's exit code, and --hash-only, which
sends the server hash sets only (POST /v1/lookups), never an image's bytes."""

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

import cli.common
from cli.client import LOOKUP_CHUNK, HttpClient
from cli.lookup_batch import Answer, batch_exit_code
from cli.main import main
from ledger.errors import UnavailableError
from registry import Registry, RegistrySettings
from registry.bundle.build import build_bundle
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.prov_cli import one_line
from tests.support.registry_fixtures import picture, record, reencoded, serving_app

# The CLI is the same on both databases (the registry tests cover PostgreSQL).
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SERVER_URL = "http://ledger.test"


@pytest.fixture
def logged(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> dict[int, int]:
    """Seed -> leaf index of a logged capture of picture(seed), for seeds 1 and 2."""
    records = [record(enrolled.device, seed, seed, clock.now_ms - 10_000) for seed in (1, 2)]
    results = registry.submit_captures(records)
    return {seed: r.receipt.index for seed, r in zip((1, 2), results, strict=True) if r.receipt}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """found.png (a logged file), edited.jpg (a logged picture, re-encoded), other.png
    (nothing like it), broken.jpg (not an image), notes.txt (not looked at), and sub/deep.png
    (only with -r)."""
    folder = tmp_path / "found"
    (folder / "sub").mkdir(parents=True)
    (folder / "found.png").write_bytes(picture(1))
    (folder / "edited.jpg").write_bytes(reencoded(picture(2)))
    (folder / "other.png").write_bytes(picture(99))
    (folder / "broken.jpg").write_bytes(b"this is not a JPEG")
    (folder / "notes.txt").write_text("not an image, and not named like one\n")
    (folder / "sub" / "deep.png").write_bytes(picture(1))
    return folder


@pytest.fixture
def prov(writable_settings: RegistrySettings, tmp_path: Path) -> Iterator[Any]:
    """`prov` on the test database, with its log key."""
    runner = CliRunner(env={"PROV_LOG_KEY_FILE": str(writable_settings.log.key_file)})
    base = ["--data-dir", str(tmp_path), "--database", writable_settings.log.database_url]

    def run(*args: str) -> Result:
        return runner.invoke(main, [*base, *args])

    yield run


def by_file(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {Path(r["file"]).name: r for r in document["results"]}


@SQLITE
def test_a_directory_gets_one_line_per_image_and_the_counts(
    prov: Any, folder: Path, logged: dict[int, int]
) -> None:
    result = prov("lookup", str(folder))

    assert result.exit_code == 2, result.output  # broken.jpg could not be decoded
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        str(folder / name) for name in ("broken.jpg", "edited.jpg", "found.png", "other.png")
    ]
    text = one_line(result.stdout)
    assert f"found.png: registered, best match log entry {logged[1]} (the same file)" in text
    words = "(the same picture, re-encoded|very close|close: resized, cropped or overlaid)"
    near = rf"edited\.jpg: near-duplicate, best match log entry {logged[2]} \({words}: PDQ \d+"
    assert re.search(near, text), text
    assert "other.png: not-found" in text
    assert "broken.jpg: error" in text and "not an image in a supported format" in text
    assert lines[-1] == "4 images: 1 error, 1 near-duplicate, 1 not-found, 1 registered"


@SQLITE
def test_json_is_one_document_with_each_image_and_its_error(
    prov: Any, folder: Path, logged: dict[int, int]
) -> None:
    result = prov("lookup", str(folder), "--json", "-r")

    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    results = by_file(document)
    assert sorted(results) == ["broken.jpg", "deep.png", "edited.jpg", "found.png", "other.png"]
    assert results["broken.jpg"]["error"]["type"] == "image_unreadable"
    assert "lookup" not in results["broken.jpg"]
    assert results["deep.png"]["lookup"]["verdict"] == "registered"
    assert results["edited.jpg"]["lookup"]["matches"][0]["leaf_index"] == logged[2]
    assert results["other.png"]["lookup"]["verdict"] == "not-found"
    assert document["summary"] == {
        "error": 1, "near-duplicate": 1, "not-found": 1, "registered": 2,
    }  # fmt: skip
    assert document["exit_code"] == 2


@SQLITE
def test_several_files_and_the_exit_code_of_the_worst(
    prov: Any, folder: Path, logged: dict[int, int]
) -> None:
    clean = prov("lookup", str(folder / "found.png"), str(folder / "edited.jpg"))
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.splitlines()[-1] == "2 images: 1 near-duplicate, 1 registered"

    missing = prov("lookup", str(folder / "found.png"), str(folder / "other.png"))
    assert missing.exit_code == 1, missing.output

    unreadable = prov("lookup", str(folder / "found.png"), str(folder / "absent.png"))
    assert unreadable.exit_code == 2, unreadable.output
    assert "absent.png: error cannot read image" in one_line(unreadable.stdout)


def test_the_exit_code_table_of_a_batch() -> None:
    def answer(verdict: str, cautions: int = 0) -> Answer:
        caution = {"code": "x", "message": "m", "evidence": []}
        return Answer("f", {"verdict": verdict, "matches": [], "cautions": [caution] * cautions})

    error = Answer("f", error={"type": "image_unreadable", "message": "m"})
    assert batch_exit_code([answer("registered"), answer("near-duplicate")]) == 0
    assert batch_exit_code([answer("registered"), answer("registered", cautions=1)]) == 4
    assert batch_exit_code([answer("registered", cautions=1), answer("not-found")]) == 1
    assert batch_exit_code([answer("not-found"), error]) == 2


@SQLITE
def test_csv_has_a_row_per_image(prov: Any, folder: Path, logged: dict[int, int]) -> None:
    out = folder.parent / "results.csv"

    result = prov("lookup", str(folder), "--csv", str(out))

    assert result.exit_code == 2, result.output
    rows = {Path(r["file"]).name: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert sorted(rows) == ["broken.jpg", "edited.jpg", "found.png", "other.png"]
    assert rows["found.png"]["verdict"] == "registered"
    assert rows["found.png"]["best_match"] == str(logged[1])
    assert rows["found.png"]["likeness"] == "the same file"
    # A near-duplicate's likeness is in words first, the numbers beside (registry.lookup.explain).
    assert rows["edited.jpg"]["likeness"].startswith(
        ("the same picture, re-encoded: PDQ ", "very close: PDQ ", "close: resized")
    ), rows["edited.jpg"]
    assert rows["broken.jpg"]["verdict"] == "error"
    assert rows["broken.jpg"]["error_type"] == "image_unreadable"
    assert rows["other.png"]["best_match"] == ""


@SQLITE
def test_bundle_dir_writes_each_capture_once(
    prov: Any, folder: Path, logged: dict[int, int], registry: Registry
) -> None:
    bundles = folder.parent / "bundles"

    result = prov("lookup", str(folder), "-r", "--bundle-dir", str(bundles), "--json")

    assert result.exit_code == 2, result.output
    names = sorted(p.name for p in bundles.iterdir())
    assert names == sorted(f"capture-{index}.bundle.json" for index in logged.values())
    for index in logged.values():
        written = bundles / f"capture-{index}.bundle.json"
        assert written.read_bytes() == build_bundle(registry.store, index)
    results = by_file(json.loads(result.stdout))
    first = results["found.png"]["lookup"]["matches"][0]
    assert first["bundle_file"] == str(bundles / f"capture-{logged[1]}.bundle.json")
    assert results["deep.png"]["lookup"]["matches"][0]["bundle_file"] == first["bundle_file"]


class KeptOpen(HttpClient):
    """Leaves the app's test client open for the next command."""

    def close(self) -> None:
        pass


@pytest.fixture
def server(
    monkeypatch: pytest.MonkeyPatch, writable_settings: RegistrySettings
) -> Iterator[list[httpx.Request]]:
    """`--server` answered by the real app in this process; the requests it got."""
    seen: list[httpx.Request] = []
    with serving_app(writable_settings) as test_client:
        test_client.event_hooks["request"] = [seen.append]

        def client(base_url: str) -> HttpClient:
            return KeptOpen(base_url, http=test_client)

        monkeypatch.setattr(cli.common, "HttpClient", client)
        yield seen


@SQLITE
def test_hash_only_sends_the_server_hashes_and_never_an_image(
    server: list[httpx.Request], folder: Path, logged: dict[int, int]
) -> None:
    arguments = ["--server", "http://ledger.test", "lookup", str(folder), "--json"]
    uploaded = json.loads(CliRunner().invoke(main, arguments).stdout)
    server.clear()

    result = CliRunner().invoke(main, [*arguments, "--hash-only"])

    assert result.exit_code == 2, result.output
    assert [(r.method, r.url.path) for r in server] == [("POST", "/v1/lookups")]
    body = server[0].content
    assert b"multipart" not in server[0].headers.get("content-type", "").encode()
    for name in ("found.png", "edited.jpg", "other.png", "broken.jpg"):
        assert (folder / name).read_bytes()[:64] not in body
    sent = json.loads(body)["lookups"]
    assert len(sent) == 3  # broken.jpg was refused here, before anything was sent
    assert set(sent[0]) == {"probes", "sha256"}
    hashed = by_file(json.loads(result.stdout))
    for name, answer in by_file(uploaded).items():
        if "lookup" in answer:
            assert hashed[name]["lookup"]["matches"] == answer["lookup"]["matches"], name
        else:
            assert hashed[name]["error"]["type"] == answer["error"]["type"]


@SQLITE
def test_hash_only_of_one_image_through_the_server(
    server: list[httpx.Request], folder: Path, logged: dict[int, int]
) -> None:
    image = str(folder / "edited.jpg")
    arguments = ["--server", "http://ledger.test", "lookup", image, "--hash-only", "--json"]

    result = CliRunner().invoke(main, arguments)

    assert result.exit_code == 0, result.output
    assert [r.url.path for r in server] == ["/v1/lookups"]
    answer = json.loads(result.stdout)
    assert answer["verdict"] == "near-duplicate"
    assert answer["matches"][0]["leaf_index"] == logged[2]


def test_help_says_what_hash_only_sends_and_the_exit_codes() -> None:
    text = one_line(CliRunner().invoke(main, ["lookup", "--help"]).stdout)
    assert "the images never leave this machine" in text
    assert "Exit code over a batch: 2 if any image could not be read" in text


@SQLITE
def test_a_directory_without_images_is_bad_input(prov: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here\n")
    (empty / "sub" / "deep.png").write_bytes(picture(1))

    result = prov("lookup", str(empty))

    assert result.exit_code == 2, result.output
    assert "holds no images" in one_line(result.output)
    assert "give -r to look in its subdirectories" in one_line(result.output)
    assert prov("lookup", str(empty), "-r", "--json").exit_code == 1  # deep.png: not found


@SQLITE
def test_the_progress_bar_is_drawn_on_a_terminal_only(
    prov: Any, folder: Path, logged: dict[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = prov("lookup", str(folder), "--json")
    assert piped.stderr == ""  # a pipe or a file gets no bar
    json.loads(piped.stdout)

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: stderr is a terminal
    shown = prov("lookup", str(folder), "--json")

    assert "looking up" in shown.stderr and "4/4" in shown.stderr
    assert json.loads(shown.stdout)["summary"]["registered"] == 1  # stdout stays clean JSON


def test_the_http_client_sends_hash_sets_in_chunks_and_checks_the_count() -> None:
    sizes: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["lookups"]
        sizes.append(len(items))
        short = items[0] == "short"  # a server that drops an answer
        results = [{"verdict": "not-found", "item": item} for item in items[short:]]
        return httpx.Response(200, json={"results": results})

    http = httpx.Client(transport=httpx.MockTransport(answer), base_url=SERVER_URL)
    client = HttpClient(SERVER_URL, http=http)

    results = client.lookup_hashes(list(range(LOOKUP_CHUNK * 2 + 100)))

    assert sizes == [LOOKUP_CHUNK, LOOKUP_CHUNK, 100]
    assert [r["item"] for r in results] == list(range(LOOKUP_CHUNK * 2 + 100))
    with pytest.raises(UnavailableError, match="answered 1 of 2 lookups"):
        client.lookup_hashes(["short", "x"])

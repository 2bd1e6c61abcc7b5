"""Issue 17's three journeys, from the README alone: every block the README marks
`<!-- journey: NAME -->` runs exactly as written (bash -e, pipefail; `, exits N` when the step's
point is that exit), in the reader's own directory, with `prov` on PATH and `PROV_SERVER` set to
a real `prov serve` of a trial log on SQLite - the README's trial-log block, done here on a free
port - and each journey's outcome is then checked from the outside:

- the vendor (after the OpenSSL recipe of docs/vendors.md section 2): its capture is logged, by
  its device;
- the fact-checker: the lookup of a re-encoded copy finds that capture, its bundle verifies with
  `prov verify` (exit 0) and in the /verify page in headless Chromium;
- the auditor: `prov audit watch` against a forked copy of the log (the same key, another
  history) exits 1 and writes evidence that verifies with the log's key.
"""

import base64
import io
import json
import re
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from PIL import Image

from ledger import Verifier, open_checkpoint
from registry.entries.sdk import sign_capture
from registry.wording import key_fingerprint
from tests.support.doc_blocks import BIN, ROOT, Block, device_id, jpeg, marked_blocks, reader_env
from tests.support.doc_blocks import run_block as run_doc_block
from tests.support.serving import prov_serve
from tests.support.web_sites import chromium

if TYPE_CHECKING:
    from playwright.sync_api import FilePayload, Route

README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "vendors.md"
JOURNEY = re.compile(r"<!-- journey: [a-z-]+(, exits \d+)? -->")
ORIGIN = "example.org/trial/log"


def journey(name: str) -> list[tuple[Block, int]]:
    """The README's blocks of one journey, in order, each with the exit it must give."""
    blocks = marked_blocks(README.read_text(), JOURNEY, "README.md")
    chosen = [b for b in blocks if b.marker.split(",")[0] == f"journey: {name}"]
    assert chosen, f"the README marks no block for the {name} journey"
    return [(b, int(m[1]) if (m := re.search(r"exits (\d+)", b.marker)) else 0) for b in chosen]


def run_journey(name: str, workdir: Path, env: dict[str, str]) -> str:
    outputs = [run_doc_block(b, workdir, env, "README.md", code) for b, code in journey(name)]
    return "\n".join(outputs)


def recipe_blocks() -> list[Block]:
    """docs/vendors.md's OpenSSL recipe: its run blocks in section 2."""
    text = GUIDE.read_text()
    end = text[: text.index("\n## 3.")].count("\n") + 1
    blocks = marked_blocks(text, re.compile(r"<!-- vendors-guide: run -->"), "vendors.md")
    return [b for b in blocks if b.line < end]


def prov(workdir: Path, env: dict[str, str], *arguments: str) -> str:
    done = subprocess.run(
        [str(BIN / "prov"), *arguments],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"prov {' '.join(arguments)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class TrialLog:
    root: Path
    server: str
    env: dict[str, str]  # the reader's, with PROV_SERVER
    vendor_dir: Path  # the vendor's directory: its certificates, keys, photo.jpg, prov-data
    vendor_output: str
    stack: ExitStack  # the servers started for this log, stopped at the end


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialLog]:
    """The README's trial log, served, after the vendor's journey: every other journey needs its
    capture, and each journey runs in a directory of its own."""
    root = tmp_path_factory.mktemp("journeys")
    vendor = root / "vendor"
    vendor.mkdir()
    (vendor / "photo.jpg").write_bytes(jpeg(1))
    env = reader_env(root) | {"PROV_ADMIN_TOKEN": secrets.token_hex(16)}
    prov(vendor, env, "init", "--origin", ORIGIN)
    with ExitStack() as stack:
        data = ["--data-dir", str(vendor / "prov-data")]
        server = stack.enter_context(prov_serve(data, root / "serve.log", env))
        env["PROV_SERVER"] = server
        for block in recipe_blocks():
            run_doc_block(block, vendor, env, "vendors.md")
        output = run_journey("vendor", vendor, env)
        yield TrialLog(root, server, env, vendor, output, stack)


def lookup(server: str, image: bytes) -> dict[str, object]:
    answer = httpx.post(f"{server}/v1/lookup", files={"image": image}, timeout=60)
    answer.raise_for_status()
    found: dict[str, object] = answer.json()
    return found


def capture_of_photo(trial: TrialLog) -> tuple[int, str]:
    """The leaf index and device of the vendor's capture of photo.jpg, as the log answers."""
    found = lookup(trial.server, (trial.vendor_dir / "photo.jpg").read_bytes())
    assert found["verdict"] == "registered", found
    matches = found["matches"]
    assert isinstance(matches, list) and len(matches) == 1, found
    return matches[0]["leaf_index"], matches[0]["device_id"]


def test_the_vendor_journey_logs_its_capture(trial: TrialLog) -> None:
    device = device_id(trial.vendor_dir, "device.pem")
    assert f"device id: {device}" in trial.vendor_output, trial.vendor_output
    assert "accepted 1 (0 already logged), rejected 0" in trial.vendor_output
    index, by = capture_of_photo(trial)
    assert by == device
    entry = httpx.get(f"{trial.server}/v1/log/entries/{index}", timeout=10)
    assert entry.status_code == 200, entry.text
    assert json.loads(base64.b64decode(entry.json()["data"]))["kind"] == "capture/v1"


def reencoded(data: bytes) -> bytes:
    """A found copy: resized to three quarters and saved again at a lower quality."""
    image = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    image.resize((image.width * 3 // 4, image.height * 3 // 4)).save(out, "JPEG", quality=75)
    return out.getvalue()


def test_the_fact_checker_journey_verifies_the_proof_offline_and_in_the_browser(
    trial: TrialLog,
) -> None:
    workdir = trial.root / "fact-checker"
    workdir.mkdir()
    photo = (trial.vendor_dir / "photo.jpg").read_bytes()
    (workdir / "found.jpg").write_bytes(reencoded(photo))

    output = run_journey("fact-checker", workdir, trial.env)

    vkey = httpx.get(f"{trial.server}/v1/log", timeout=10).json()["vkey"]
    assert (workdir / "log.vkey").read_text().strip() == vkey
    assert f"fingerprint {key_fingerprint(vkey)}" in " ".join(output.split())
    index, _ = capture_of_photo(trial)
    bundle = workdir / "proofs" / f"capture-{index}.bundle.json"
    assert sorted((workdir / "proofs").iterdir()) == [bundle], output
    assert output.count("bundle verified") == 1, output
    assert "near-duplicate" in output, output  # found as an edited copy, not the file itself
    assert browser_verdict(trial.server, vkey, bundle.read_text(), photo) == "clean"


def browser_verdict(server: str, vkey: str, bundle: str, image: bytes) -> str | None:
    """What the /verify page says, used as the README tells: the key and the bundle pasted, the
    image (an exact copy: the page checks SHA-256 only) chosen, Verify pressed. The page may ask
    nothing of any host, this server included, once loaded."""
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{server}/verify")
        asked: list[str] = []

        def refuse(route: "Route") -> None:
            asked.append(route.request.url)
            route.abort()

        page.route("**/*", refuse)
        page.fill("#log-key", vkey)
        page.fill("#bundle-text", bundle)
        photo: FilePayload = {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": image}
        page.set_input_files("#image-file", files=[photo])
        page.click("#verify")
        verdict = page.wait_for_selector("#verdict", timeout=20_000)
        assert verdict is not None
        assert not asked, asked
        return verdict.get_attribute("data-verdict")


def fork(trial: TrialLog) -> str:
    """A copy of the trial log's data directory (its key too), served; then one capture logged
    in the copy and another in the log: two histories of one size, both signed with the log's
    key. The copy's URL."""
    mirror = trial.root / "mirror"
    mirror.mkdir()
    shutil.copy2(trial.vendor_dir / "prov-data" / "log.key", mirror / "log.key")
    source = sqlite3.connect(trial.vendor_dir / "prov-data" / "log.db")
    copy = sqlite3.connect(mirror / "log.db")
    try:
        source.backup(copy)  # consistent while the log's server writes to it
    finally:
        copy.close()
        source.close()
    served = prov_serve(["--data-dir", str(mirror)], trial.root / "mirror.log", trial.env)
    url = trial.stack.enter_context(served)
    key = load_pem_private_key((trial.vendor_dir / "device.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = x509.load_pem_x509_certificate((trial.vendor_dir / "device.pem").read_bytes())
    taken = time.time_ns() // 1_000_000 - 1_000
    for seed, server in ((7, url), (8, trial.server)):
        record = sign_capture(jpeg(seed), key, cert, 100 + seed, taken)
        answer = httpx.post(f"{server}/v1/captures", json={"records": [record]}, timeout=60)
        assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
    return url


def test_the_auditor_journey_turns_a_fork_into_evidence(trial: TrialLog) -> None:
    workdir = trial.root / "auditor"
    workdir.mkdir()
    (first, _), (alarm, code) = journey("auditor")
    assert code == 1
    pinned = run_doc_block(first, workdir, trial.env, "README.md")
    assert "the log verifies" in pinned, pinned

    env = trial.env | {"MIRROR": fork(trial)}
    run_doc_block(alarm, workdir, env, "README.md", expect=1)

    (evidence,) = (workdir / "evidence").iterdir()
    assert sorted(p.name for p in evidence.iterdir()) == [
        "ALARM.txt", "first.checkpoint", "second.checkpoint",
    ]  # fmt: skip
    assert "SPLIT VIEW" in (evidence / "ALARM.txt").read_text()
    key = Verifier.from_vkey((workdir / "log.vkey").read_text().strip())
    seen = [
        open_checkpoint((evidence / n).read_bytes(), key)
        for n in ("first.checkpoint", "second.checkpoint")
    ]
    assert seen[0].size == seen[1].size and seen[0].root_hash != seen[1].root_hash
    assert base64.b64encode(seen[1].root_hash).decode() in (evidence / "ALARM.txt").read_text()


def test_the_trial_log_is_the_one_the_readme_starts() -> None:
    """The journeys run against what the README's (unmarked: it starts a server on a fixed
    port) trial-log block makes: a `prov init` log of this origin, served, with an admin token,
    and PROV_SERVER pointing at it once it is ready."""
    text = README.read_text()
    block = text[text.index("## Three journeys") :].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("  #")[0].strip() for line in block.splitlines()]
    assert commands[0] == f"prov init --origin {ORIGIN}"
    assert commands[1].startswith("export PROV_ADMIN_TOKEN=")
    assert commands[2].startswith("prov serve --port 8000 ") and commands[2].endswith("&")
    assert commands[3] == "export PROV_SERVER=http://127.0.0.1:8000"
    assert "/readyz" in commands[4]

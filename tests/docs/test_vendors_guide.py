"""docs/vendors.md cannot rot: every block marked `<!-- vendors-guide: run -->` is run exactly
as written, in the page's order, in one empty directory - the OpenSSL recipe with the machine's
openssl, the `prov` steps against a fresh `prov init` SQLite log, the SDK program against that
log served by `prov serve` - and the pictures must then look up as registered by the devices the
recipe made. A failing command fails the test (bash -e, pipefail; `prov submit` and `prov lookup`
exit non-zero on a rejection or a miss).
"""

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from registry.admission.certs import C2PA_CLAIM_SIGNING, DOCUMENT_SIGNING
from tests.support import doc_blocks
from tests.support.doc_blocks import ROOT, Block, device_id, jpeg, marked_blocks, reader_env
from tests.support.serving import prov_serve

GUIDE = ROOT / "docs" / "vendors.md"
ERRORS = ROOT / "docs" / "errors.md"
MARKER = "<!-- vendors-guide: run -->"


def run_blocks(markdown: str) -> list[Block]:
    """The fenced blocks right after a MARKER line, in order."""
    return marked_blocks(markdown, re.compile(re.escape(MARKER)), "vendors.md")


def run_block(block: Block, workdir: Path, env: dict[str, str]) -> str:
    return doc_blocks.run_block(block, workdir, env, "vendors.md")


def guide_env() -> dict[str, str]:
    """The environment of a vendor with `prov` on PATH (tests/support/doc_blocks.py)."""
    return reader_env()


def lookup(server: str, path: Path) -> tuple[str, set[str]]:
    """The verdict for the image at `path`, and the devices of its exact matches."""
    answer = httpx.post(f"{server}/v1/lookup", files={"image": path.read_bytes()}, timeout=60)
    answer.raise_for_status()
    found = answer.json()
    return found["verdict"], {m["device_id"] for m in found["matches"] if m["exact"]}


def tree_size(server: str) -> int:
    return int(httpx.get(f"{server}/checkpoint", timeout=10).text.splitlines()[1])


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """An empty directory holding only the pictures the guide signs: photo.jpg for the CLI,
    captures/*.jpg for the SDK program."""
    (tmp_path / "photo.jpg").write_bytes(jpeg(1))
    (tmp_path / "captures").mkdir()
    for seed in (2, 3):
        (tmp_path / "captures" / f"shot-{seed}.jpg").write_bytes(jpeg(seed))
    yield tmp_path


def test_the_guide_runs_as_written_and_its_captures_are_registered(workdir: Path) -> None:
    blocks = run_blocks(GUIDE.read_text())
    assert [b.language for b in blocks].count("python") == 1, "one SDK program"
    env = guide_env()
    with ExitStack() as stack:
        server = ""
        sizes: list[int] = []
        for block in blocks:
            if block.language == "python" and not server:
                # The SDK submits over HTTP: the trial log the CLI steps made, served.
                log = workdir.parent / "serve.log"
                server = stack.enter_context(
                    prov_serve(["--data-dir", str(workdir / "prov-data")], log, env)
                )
                env = {**env, "PROV_SERVER": server}
            if server:
                sizes.append(tree_size(server))
            output = run_block(block, workdir, env)
            if block.language == "python":
                assert output.count("logged at index") == 2, output
        assert server, "the guide never ran its SDK program"
        sizes.append(tree_size(server))
        # After the SDK program, the retry block resubmits its records: nothing new is logged.
        assert sizes[-1] == sizes[-2], f"resubmitting logged new entries: {sizes}"

        p256, ed25519 = device_id(workdir, "device.pem"), device_id(workdir, "device-ed25519.pem")
        assert lookup(server, workdir / "photo.jpg") == ("registered", {p256})
        for shot in sorted((workdir / "captures").glob("*.jpg")):
            assert lookup(server, shot) == ("registered", {ed25519}), shot


def test_a_broken_command_in_a_marked_block_fails(tmp_path: Path) -> None:
    page = f"{MARKER}\n```sh\nopenssl genpkey -algorithm NO-SUCH-ALGORITHM -out x.key\n```\n"
    (block,) = run_blocks(page)
    with pytest.raises(AssertionError, match="exited"):
        run_block(block, tmp_path, guide_env())


def test_a_failure_inside_a_pipeline_fails(tmp_path: Path) -> None:
    page = f"{MARKER}\n```sh\nfalse | cat\necho reached\n```\n"
    (block,) = run_blocks(page)
    with pytest.raises(AssertionError, match="exited"):
        run_block(block, tmp_path, guide_env())


def test_every_per_record_rejection_code_is_explained() -> None:
    """Each code docs/errors.md calls a per-record rejection has its row in the guide's table."""
    codes = {
        row.split("`")[1]
        for row in ERRORS.read_text().splitlines()
        if row.startswith("| `") and "per-record rejection" in row
    }
    assert len(codes) >= 10
    guide = GUIDE.read_text()
    table = guide[guide.index("## 6. What each rejection means") :]
    missing = sorted(c for c in codes if f"| `{c}` |" not in table)
    assert not missing, f"per-record codes the guide does not explain: {missing}"


def test_the_profile_names_the_ekus_the_code_checks() -> None:
    guide = GUIDE.read_text()
    for oid in (C2PA_CLAIM_SIGNING, DOCUMENT_SIGNING):
        assert oid.dotted_string in guide
    # and the recipe's device profile uses the one the code calls C2PA claim signing
    assert f"extendedKeyUsage = {C2PA_CLAIM_SIGNING.dotted_string}" in guide


def test_readme_links_the_guide() -> None:
    assert "docs/vendors.md" in (ROOT / "README.md").read_text()

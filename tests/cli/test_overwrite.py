"""One rule for every command that writes a file it names (issue 17): an existing file is
replaced only with --force, and the refusal comes before any work (cli/files.py)."""

from pathlib import Path

import pytest

from tests.support.cli_world import Cli, Files, records_file, register_and_enroll, sign, submit
from tests.support.prov_cli import assert_exit

pytestmark = pytest.mark.usefixtures("no_prov_environment")

BEFORE = b"keep me\n"


def existing(path: Path) -> Path:
    path.write_bytes(BEFORE)
    return path


@pytest.fixture
def logged(local: Cli, files: Files) -> Files:
    """A capture logged at index 2 (after the vendor and the device)."""
    register_and_enroll(local, files)
    assert_exit(submit(local, records_file(local, files, range(1, 2))), 0)
    return files


def test_bundle_out_refuses_an_existing_file(local: Cli, logged: Files) -> None:
    out = existing(logged.dir / "b.json")

    assert_exit(local("bundle", "2", "--out", str(out)), 2, "exists; give --force")
    assert out.read_bytes() == BEFORE


def test_bundle_out_with_force_replaces_it(local: Cli, logged: Files) -> None:
    out = existing(logged.dir / "b.json")

    local.ok("bundle", "2", "--out", str(out), "--force")

    assert out.read_bytes().startswith(b'{"capture"')


def test_bundle_out_writes_a_new_file(local: Cli, logged: Files) -> None:
    out = logged.dir / "new.json"

    local.ok("bundle", "2", "--out", str(out))

    assert out.read_bytes().startswith(b'{"capture"')


def test_capture_sign_out_refuses_an_existing_file_and_uses_no_counter(
    device_side: Cli, files: Files
) -> None:
    out = existing(files.dir / "one.json")

    assert_exit(sign(device_side, files, 1, "--out", str(out)), 2, "exists; give --force")
    assert out.read_bytes() == BEFORE

    assert_exit(sign(device_side, files, 1, "--out", str(out), "--force"), 0)
    assert b'"counter":1' in out.read_bytes()  # the refusal used none up


def test_lookup_bundle_dir_refuses_an_existing_bundle(local: Cli, logged: Files) -> None:
    directory = logged.dir / "bundles"
    directory.mkdir()
    planted = existing(directory / "capture-2.bundle.json")
    image = str(logged.image(1))

    assert_exit(local("lookup", image, "--bundle-dir", str(directory)), 2, "give --force")
    assert planted.read_bytes() == BEFORE

    assert_exit(local("lookup", image, "--bundle-dir", str(directory), "--force"), 0)
    assert planted.read_bytes().startswith(b'{"capture"')
    assert [p.name for p in directory.iterdir()] == ["capture-2.bundle.json"]  # no temporaries

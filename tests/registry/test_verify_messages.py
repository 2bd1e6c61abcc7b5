"""Issue 17: `prov verify` says "none given" for the witness check when no witness key is given
(nothing was checked, so it is not "ok"), and a bundle built before its witnesses cosigned says
to download a fresh one."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger import Signer
from ledger.cosignature import Cosigner
from registry import Registry
from registry.bundle.build import build_bundle
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import record


@pytest.fixture
def bundle(registry: Registry, enrolled: DevicePKI, clock: FixedClock, tmp_path: Path) -> Path:
    """A bundle built before any witness cosigned the log."""
    (result,) = registry.submit_captures([record(enrolled.device, 3, 1, clock.now_ms - 5_000)])
    assert result.receipt is not None
    path = tmp_path / "bundle.json"
    path.write_bytes(build_bundle(registry.store, result.receipt.index))
    return path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_witness_key_is_none_given_not_ok(bundle: Path, signer: Signer) -> None:
    shown = CliRunner().invoke(main, ["verify", str(bundle), "--log-key", signer.verifier.vkey])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    (witness,) = [line for line in lines if "witness cosignatures" in line]
    assert witness.startswith("none given") and "--witness-key" in witness
    assert lines.index(witness) == 1  # check 2, after the checkpoint signature


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bundle_older_than_its_witnesses_says_to_get_a_fresh_one(
    bundle: Path, signer: Signer
) -> None:
    witness = Cosigner.generate("witness.example.org/w1")
    shown = CliRunner().invoke(
        main,
        ["verify", str(bundle), "--log-key", signer.verifier.vkey,
         "--witness-key", witness.verifier.vkey],
    )  # fmt: skip
    assert shown.exit_code == 1, shown.output
    (failed,) = [line for line in shown.output.splitlines() if line.startswith("FAIL")]
    assert "witness cosignatures: 0 of the 1 witnesses required" in failed
    assert "built before" in failed and "fresh" in failed
    assert "prov bundle" in failed and "--refresh" in failed

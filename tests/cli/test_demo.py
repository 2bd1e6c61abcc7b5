"""`prov demo` runs end to end (it verifies every proof it prints, so a run is a check)."""

from pathlib import Path

from click.testing import CliRunner

from cli.main import main


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--data-dir", str(tmp_path / "demo"), "--captures", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "8 accepted, 0 rejected" in result.output
    assert "consistency proof verified" in result.output
    assert "near-duplicate" in result.output and "verified offline" in result.output
    assert (tmp_path / "demo" / "log.db").exists()
    # The witness ran in its own process and its cosignature dates the looked-up capture.
    assert "5b. witness witness.demo.provenance-ledger.example/w1 cosigned" in result.output
    assert "ok witness cosignatures" in result.output
    assert "existed no later than" in result.output
    assert (tmp_path / "demo" / "witness" / "witness.db").exists()
    # A C2PA-signed file is logged as it is, and found again by a C2PA client without its manifest.
    assert (
        "8c. POST /v1/c2pa/ingest" in result.output and "c2pa-capture/v1 at index" in result.output
    )
    assert (
        "8d. POST /v1/c2pa/matches/byContent (manifest stripped, resized): capture-"
        in result.output
    )
    # The planted launderer tops the origin report, with its evidence.
    assert "10. GET /v1/clusters" in result.output and "generator's disclosure" in result.output

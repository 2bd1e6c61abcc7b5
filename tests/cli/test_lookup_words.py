"""`prov lookup`'s table says what the page at `/` says (issue 17): likeness in words beside the
PDQ distance, the edit a match survived, which registration came first by log time, delays and
times in registry.wording's words, and what a "not found" means."""

import re

import pytest
from click.testing import CliRunner, Result

from cli import common
from cli.main import main
from tests.support.registry_fixtures import picture
from tests.support.web_sites import Site, reencoded


def _lookup(
    site: Site, url: str, image: bytes, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> Result:
    path = site.data_dir / "found.jpg"
    path.write_bytes(image)
    # The console is built once per process: widen it for this test, so no cell wraps.
    monkeypatch.setattr(common.console, "_width", 300)
    arguments = ["--data-dir", str(site.data_dir), "--database", url, "lookup", str(path)]
    return CliRunner().invoke(main, [*arguments, *extra])


def _rows(output: str) -> dict[int, str]:
    lines = [line for line in output.splitlines() if re.match(r"^│\s*\d+\s*│", line)]
    return {int(line.split("│")[1]): line for line in lines}


def test_lookup_says_likeness_order_and_delays_in_words(
    rival_site: Site, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _lookup(rival_site, migrated_url, reencoded(rival_site.image), monkeypatch)
    rows = _rows(result.output)
    assert rival_site.later is not None
    assert set(rows) == {rival_site.index, rival_site.later}, result.output
    first, later = rows[rival_site.index], rows[rival_site.later]
    assert "the same picture, re-encoded" in first, first
    assert "first logged" in first and f"logged later than #{rival_site.index}" in later
    assert re.search(r"\b5 seconds\b", first) and re.search(r"\b2 seconds\b", later), result.output
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first)
    assert not re.search(r"\d+ s\b", result.output)


def test_lookup_not_found_says_which_copies_to_try(
    clean_site: Site, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _lookup(clean_site, migrated_url, picture(99), monkeypatch)
    assert result.exit_code == 1, result.output
    assert "proves nothing either way" in result.output
    assert "least-edited copy" in result.output


def test_lookup_names_each_bundle_it_wrote_and_how_to_check_it(
    clean_site: Site, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fact-checker who asked for the bundles is told which files they are and the command
    that checks one, not only the directory (the README's journey runs that command next)."""
    bundles = clean_site.data_dir / "proofs"
    result = _lookup(
        clean_site, migrated_url, clean_site.image, monkeypatch, "--bundle-dir", str(bundles)
    )
    assert result.exit_code == 0, result.output
    written = bundles / f"capture-{clean_site.index}.bundle.json"
    assert written.is_file()
    assert f"proof bundle of log entry {clean_site.index}: {written}" in result.output
    assert f"prov verify {written} --log-key VKEY --image" in result.output
    assert "prov log status" in result.output and "/how-to-verify" in result.output


def test_lookup_in_an_80_column_terminal_cuts_no_word(
    rival_site: Site, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a terminal's default 80 columns the eleven-column table cut every cell to "ind…",
    "lik…": there each match is told in lines instead, every word whole."""
    path = rival_site.data_dir / "found.jpg"
    path.write_bytes(reencoded(rival_site.image))
    monkeypatch.setattr(common.console, "_width", 80)
    arguments = ["--data-dir", str(rival_site.data_dir), "--database", migrated_url, "lookup"]
    result = CliRunner().invoke(main, [*arguments, str(path)])
    assert result.exit_code == 4, result.output  # the later registration's copy: cautions
    assert "…" not in result.output, result.output
    text = " ".join(result.output.split())
    assert f"log entry {rival_site.index}" in text and "first logged" in text, result.output
    assert f"logged later than #{rival_site.index}" in text
    assert "the same picture, re-encoded" in text and "the same file" in text

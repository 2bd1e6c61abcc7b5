"""Device ids as people use them (issue 17): `device enroll` prints the id, and `device show`
and `revoke` take any unique prefix of 8 or more hex characters, either case, as git does;
`device show` reads as labelled lines with times in ISO 8601 UTC (`--json` keeps ms)."""

import pytest

from registry.wording import iso_utc
from tests.support.cli_world import Cli, Files, add_vendor, enroll, now_ms, register_and_enroll
from tests.support.prov_cli import assert_exit, one_line

pytestmark = pytest.mark.usefixtures("no_prov_environment")


@pytest.fixture
def enrolled(cli: Cli, files: Files) -> Files:
    """The vendor registered and the device enrolled, through `prov` (the `cli` fixture)."""
    return register_and_enroll(cli, files)


def test_enroll_prints_the_device_id(cli: Cli, files: Files) -> None:
    assert_exit(add_vendor(cli, files), 0)

    result = enroll(cli, files)

    assert_exit(result, 0, "device enrolled at index 1", f"device id: {files.device_id}")


def test_enroll_json_carries_the_device_id(local: Cli, files: Files) -> None:
    assert_exit(add_vendor(local, files), 0)

    receipt = local.json("device", "enroll", str(files.device_cert), "--chain", str(files.ca_cert))

    assert receipt["device_id"] == files.device_id
    assert receipt["index"] == 1


@pytest.mark.parametrize("typed", [8, 12, 63])
def test_show_takes_a_prefix_in_either_case(cli: Cli, enrolled: Files, typed: int) -> None:
    prefix = enrolled.device_id[:typed].upper()

    info = cli.json("device", "show", prefix)

    assert info["device_id"] == enrolled.device_id


def test_show_of_a_short_prefix_says_how_many_characters(cli: Cli, enrolled: Files) -> None:
    assert_exit(cli("device", "show", enrolled.device_id[:7]), 2, "at least 8")


def test_show_of_a_non_hex_id_says_what_is_wrong(cli: Cli, enrolled: Files) -> None:
    result = cli("device", "show", "device")

    assert_exit(result, 2, "device id 'device' is not hexadecimal")
    assert "must be" not in result.output


def test_show_of_an_unknown_prefix_is_not_found(cli: Cli, enrolled: Files) -> None:
    unknown = "0123abcd" if not enrolled.device_id.startswith("0123abcd") else "fedc9876"

    assert_exit(cli("device", "show", unknown), 1, f"device {unknown} is not enrolled")


def test_show_for_people_names_the_certificate_in_iso_8601(cli: Cli, enrolled: Files) -> None:
    info = cli.json("device", "show", enrolled.device_id)

    text = one_line(cli.ok("device", "show", enrolled.device_id[:8]).stdout)

    assert "subject: CN=Example Camera Co. X100 #0001" in text
    assert f"issuer: {info['issuer']}" in text and info["issuer"].startswith("CN=")
    assert f"valid from: {iso_utc(info['not_before_ms'])}" in text
    assert f"valid until: {iso_utc(info['not_after_ms'])}" in text
    assert str(info["not_before_ms"]) not in text and str(info["logged_at_ms"]) not in text
    assert "revocations: none" in text


def test_show_lists_each_revocation_readably(cli: Cli, enrolled: Files) -> None:
    since = now_ms() - 60_000
    revoke = cli(
        "revoke", "--device", enrolled.device_id[:10].upper(),
        "--compromised-since", str(since), "--reason", "key extracted",
        "--signer-key", str(enrolled.root_key), "--signer-cert", str(enrolled.root_cert),
    )  # fmt: skip
    assert_exit(revoke, 0, "revocation logged at index 2")

    info = cli.json("device", "show", enrolled.device_id)
    text = cli.ok("device", "show", enrolled.device_id).stdout

    [revocation] = info["revocations"]
    assert revocation["compromised_since_ms"] == since  # --json keeps milliseconds
    assert "{" not in text and "'" not in text  # no Python repr
    flat = one_line(text)
    assert "revocation at index 2" in flat
    assert f"scope: this device ({enrolled.device_id})" in flat
    assert "reason: key extracted" in flat
    assert f"compromised since: {iso_utc(since)}" in flat
    assert f"logged at: {iso_utc(revocation['logged_at_ms'])}" in flat


def test_revoke_of_an_unknown_prefix_signs_nothing(cli: Cli, enrolled: Files) -> None:
    unknown = "0123abcd" if not enrolled.device_id.startswith("0123abcd") else "fedc9876"
    result = cli(
        "revoke", "--device", unknown, "--compromised-since", "0", "--reason", "lost",
        "--signer-key", str(enrolled.root_key), "--signer-cert", str(enrolled.root_cert),
    )  # fmt: skip

    assert_exit(result, 1, "is not enrolled")


def test_enroll_without_the_chain_asks_for_it(cli: Cli, files: Files) -> None:
    assert_exit(add_vendor(cli, files), 0)

    result = cli("device", "enroll", str(files.device_cert))

    assert_exit(result, 1, "did you forget `--chain intermediate.pem`", "Device CA")

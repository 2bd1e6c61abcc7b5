"""`prov capture sign` refuses, with the reason and the fix, what the registry would refuse or
what exposes the device (issue 17): a key that is not the certificate's, a certificate outside
its validity (at the device's clock, a parameter), a key file others can read. The counter is
the key's, not its file's: a copy of the key does not start again at 1."""

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import cli.device_commands
from testkit.pki import generate_key, make_device, make_pki
from tests.support.cli_world import Cli, Files, counter_file, sign, signed, write, write_key
from tests.support.prov_cli import assert_exit

pytestmark = pytest.mark.usefixtures("no_prov_environment")


def sign_with(cli: Cli, files: Files, key: Path, cert: Path, *extra: str) -> list[str]:
    result = cli(
        "capture", "sign", str(files.image(1)), "--device-key", str(key),
        "--device-cert", str(cert), *extra,
    )  # fmt: skip
    return [str(result.exit_code), result.output]


def test_a_key_that_is_not_the_certificates_is_refused(
    device_side: Cli, files: Files, tmp_path: Path
) -> None:
    other = write_key(files.dir / "other.key", generate_key("ES256"))

    code, output = sign_with(device_side, files, other, files.device_cert)

    assert code == "2", output
    assert "is not the key of the certificate" in output and "CN=Example Camera Co." in output
    assert not counter_file(tmp_path, other).exists()  # a refusal uses no counter


def test_an_expired_certificate_is_refused_naming_when(
    device_side: Cli, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    expired = make_device(make_pki(now).root, now, validity="expired")
    key = write_key(files.dir / "expired.key", expired.private_key)
    cert = write(files.dir / "expired.pem", expired.pem)
    ends = expired.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")

    code, output = sign_with(device_side, files, key, cert)

    assert code == "1", output
    assert f"expired at {ends}" in " ".join(output.split())
    assert "renewed certificate" in output


def test_the_validity_is_checked_at_the_devices_clock(
    device_side: Cli, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = datetime.now(UTC) + timedelta(days=400)  # past the device certificate's year
    monkeypatch.setattr(cli.device_commands, "clock", lambda: int(later.timestamp() * 1000))

    assert_exit(sign(device_side, files, 1), 1, "expired at")

    monkeypatch.setattr(cli.device_commands, "clock", lambda: 0)  # 1970: not valid yet
    assert_exit(sign(device_side, files, 1), 1, "not valid until", "device's clock")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_others_can_read_is_refused(
    device_side: Cli, files: Files, tmp_path: Path, mode: int
) -> None:
    files.device_key.chmod(mode)

    result = sign(device_side, files, 1)

    assert_exit(result, 2, "can be read by other users", f"chmod 600 {files.device_key}")
    assert not counter_file(tmp_path, files.device_key).exists()


def test_a_copied_key_file_continues_the_keys_counter(device_side: Cli, files: Files) -> None:
    assert [signed(device_side, files, seed)["claim"]["counter"] for seed in (1, 2)] == [1, 2]
    copy = files.dir / "copy" / "device.key"
    copy.parent.mkdir()
    shutil.copy2(files.device_key, copy)

    code, output = sign_with(device_side, files, copy, files.device_cert)

    assert code == "0", output
    assert '"counter":3' in output


def test_the_counter_beside_the_key_of_earlier_versions_is_a_floor(
    device_side: Cli, files: Files, tmp_path: Path
) -> None:
    legacy = files.device_key.with_name("dev.key.counter")  # where earlier versions kept it
    legacy.write_text("41\n")

    assert signed(device_side, files, 1)["claim"]["counter"] == 42
    assert counter_file(tmp_path, files.device_key).read_text().strip() == "42"
    legacy.write_text("7\n")  # an older copy of the legacy file never sends it back
    assert signed(device_side, files, 2)["claim"]["counter"] == 43


def test_state_dir_option_keeps_the_counters_there(
    device_side: Cli, files: Files, tmp_path: Path
) -> None:
    state = tmp_path / "elsewhere"

    signed(device_side, files, 1, "--state-dir", str(state))

    assert list((state / "counters").iterdir())[0].read_text().strip() == "1"
    assert not counter_file(tmp_path, files.device_key).exists()

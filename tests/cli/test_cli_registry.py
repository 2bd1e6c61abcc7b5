"""The registry commands of `prov`: vendor add, device enroll/show, capture sign, submit, revoke
and reindex, with their exit codes (0 ok, 1 failed, 2 bad input) and messages.

The commands act on the local database unless `--server URL` is given. The `cli` fixture
(tests/support/cli_world.py) runs each shared test three ways: locally on SQLite (the data
directory's log.db), locally on PostgreSQL (--database), and against a real `prov serve`
subprocess (on SQLite) through --server.
"""

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result

from cli.files import load_key
from registry.entries.codec import b64, capture_message
from registry.entries.sdk import sign_message
from testkit.pki import make_pki
from tests.support.cli_world import (
    NO_EKU,
    TOKEN,
    Cli,
    Files,
    Server,
    add_vendor,
    assert_proven,
    collect,
    counter_file,
    device_info,
    enroll,
    now_ms,
    records_file,
    register_and_enroll,
    sign,
    signed,
    submit,
    submitted,
    write,
    write_key,
)
from tests.support.prov_cli import Prov, assert_exit, one_line
from tests.support.serving import free_port

pytestmark = pytest.mark.usefixtures("no_prov_environment")


@pytest.fixture
def enrolled(cli: Cli, files: Files) -> Files:
    """The vendor registered and the device enrolled, through `prov` (the `cli` fixture)."""
    return register_and_enroll(cli, files)


# --- vendor add ---


def test_vendor_add_prints_the_index(cli: Cli, files: Files) -> None:
    result = add_vendor(cli, files)

    assert_exit(result, 0, "vendor 'Example Camera Co.' (camera) logged at index 0")


def test_vendor_add_json_is_a_receipt_with_an_inclusion_proof(cli: Cli, files: Files) -> None:
    receipt = json.loads(add_vendor(cli, files, "--json").stdout)

    assert (receipt["index"], receipt["tree_size"], receipt["duplicate"]) == (0, 1, False)
    assert receipt["inclusion_proof"] == []  # a tree of one leaf
    assert_proven(cli, receipt)


def test_vendor_add_twice_is_the_same_entry(cli: Cli, files: Files) -> None:
    assert_exit(add_vendor(cli, files), 0)

    assert_exit(add_vendor(cli, files), 0, "already in the log at index 0")


@pytest.mark.parametrize("name", ["[/]", "[bold]Acme"])
def test_vendor_names_are_printed_verbatim(local: Cli, files: Files, name: str) -> None:
    # A name is user input; Rich markup in it used to crash (after logging) or vanish.
    result = local(
        "vendor", "add", "--name", name, "--role", "camera",
        "--root-cert", str(files.root_cert), "--admin-token", TOKEN,
    )  # fmt: skip

    assert_exit(result, 0, f"vendor {name!r} (camera) logged at index 0")
    assert_exit(enroll(local, files), 0)
    assert f"vendor: {name} (camera)" in one_line(
        local.ok("device", "show", files.device_id).stdout
    )


def test_vendor_add_with_a_wrong_token_is_refused(cli: Cli, files: Files) -> None:
    result = cli(
        "vendor", "add", "--name", "V", "--role", "camera",
        "--root-cert", str(files.root_cert), "--admin-token", "wrong",
    )  # fmt: skip

    assert_exit(result, 2, "admin token")


def test_vendor_add_without_a_configured_token_names_the_variable(
    local: Cli, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROV_ADMIN_TOKEN")

    assert_exit(add_vendor(local, files), 2, "PROV_ADMIN_TOKEN")


def test_vendor_add_of_a_file_that_is_not_a_certificate(cli: Cli, files: Files) -> None:
    result = cli(
        "vendor", "add", "--name", "V", "--role", "camera",
        "--root-cert", str(files.not_a_cert), "--admin-token", TOKEN,
    )  # fmt: skip

    assert_exit(result, 2, "notes.txt is not a PEM or DER certificate")


# --- device enroll / show ---


def test_device_enroll_then_again_is_already_enrolled(cli: Cli, files: Files) -> None:
    assert_exit(add_vendor(cli, files), 0)

    assert_exit(enroll(cli, files), 0, "device enrolled at index 1")
    assert_exit(enroll(cli, files), 0, "device already enrolled at index 1")


def test_device_without_the_c2pa_eku_is_refused(cli: Cli, files: Files) -> None:
    assert_exit(add_vendor(cli, files), 0)

    result = enroll(cli, files, files.no_eku_cert)

    assert_exit(result, 1, f"error: {NO_EKU}")
    if cli.server is None:
        assert one_line(result.output) == f"error: {NO_EKU}"


def test_device_show_names_the_vendor_and_the_algorithm(cli: Cli, enrolled: Files) -> None:
    info = device_info(cli, enrolled.device_id)

    assert info["device_id"] == enrolled.device_id
    assert (info["vendor_id"], info["vendor_name"]) == (enrolled.vendor_id, "Example Camera Co.")
    assert info["algorithm"] == "ES256"
    assert (info["captures"], info["revocations"]) == (0, [])


def test_device_show_for_people_lists_the_fields(cli: Cli, enrolled: Files) -> None:
    result = cli.ok("device", "show", enrolled.device_id)

    assert "vendor: Example Camera Co. (camera)" in one_line(result.stdout)


def test_device_show_of_an_unknown_device_fails(cli: Cli, enrolled: Files) -> None:
    assert_exit(cli("device", "show", "ab" * 32), 1, "is not enrolled")


# --- capture sign (always local) ---


def test_capture_sign_prints_one_json_record(device_side: Cli, files: Files) -> None:
    record = signed(device_side, files, 1)

    assert record["kind"] == "capture/v1"
    assert record["claim"]["device"] == files.device_id
    assert record["claim"]["sha256"] == hashlib.sha256(files.image(1).read_bytes()).hexdigest()
    assert isinstance(record["sig"], str)


def test_capture_sign_counts_1_2_3_in_the_keys_state(
    device_side: Cli, files: Files, tmp_path: Path
) -> None:
    counters = [signed(device_side, files, seed)["claim"]["counter"] for seed in (1, 2, 3)]

    assert counters == [1, 2, 3]
    assert counter_file(tmp_path, files.device_key).read_text().strip() == "3"


def test_capture_sign_with_an_explicit_counter_leaves_the_file_alone(
    device_side: Cli, files: Files, tmp_path: Path
) -> None:
    assert signed(device_side, files, 1, "--counter", "41")["claim"]["counter"] == 41

    assert not counter_file(tmp_path, files.device_key).exists()
    assert signed(device_side, files, 2)["claim"]["counter"] == 1


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-22T10:00:00Z", 1_795_341_600_000),
        ("2026-11-22T11:00:00+01:00", 1_795_341_600_000),
        ("2026-11-22T10:00:00.123Z", 1_795_341_600_123),
        ("1795341600000", 1_795_341_600_000),
    ],
)
def test_capture_sign_takes_iso_8601_or_milliseconds(
    device_side: Cli, files: Files, given: str, expected: int
) -> None:
    record = signed(device_side, files, 1, "--captured-at", given)

    assert record["claim"]["captured_at"] == expected


def test_capture_sign_defaults_to_now(device_side: Cli, files: Files) -> None:
    before = now_ms()
    captured_at = signed(device_side, files, 1)["claim"]["captured_at"]

    assert before <= captured_at <= now_ms()


@pytest.mark.parametrize("given", ["2026-11-22T10:00:00", "yesterday", "-5"])
def test_capture_sign_refuses_a_time_without_zone_or_format(
    device_side: Cli, files: Files, given: str
) -> None:
    assert_exit(sign(device_side, files, 1, "--captured-at", given), 2, repr(given))


def test_capture_sign_out_writes_the_record_to_a_file(device_side: Cli, files: Files) -> None:
    out = files.dir / "one.json"

    result = sign(device_side, files, 1, "--out", str(out))

    assert_exit(result, 0)
    assert result.stdout == ""
    record = json.loads(out.read_text())
    assert record["claim"]["counter"] == 1 and out.read_text().count("\n") == 1


def test_capture_sign_touches_no_log(device_side: Cli, files: Files, tmp_path: Path) -> None:
    signed(device_side, files, 1)

    assert not (tmp_path / "no-log").exists()


def test_capture_sign_refuses_digits_that_are_not_ascii(device_side: Cli, files: Files) -> None:
    # str.isdigit() accepts "²", which int() refuses: that was a traceback, not exit 2.
    assert_exit(sign(device_side, files, 1, "--captured-at", "²"), 2, "'²'")


def test_capture_sign_of_a_file_that_is_not_an_image_names_it(
    device_side: Cli, files: Files
) -> None:
    result = device_side(
        "capture", "sign", str(files.not_a_cert),
        "--device-key", str(files.device_key), "--device-cert", str(files.device_cert),
    )  # fmt: skip

    assert_exit(result, 2, "notes.txt", "not an image")


def test_capture_sign_of_a_missing_image_names_it(device_side: Cli, files: Files) -> None:
    missing = files.dir / "missing.png"
    result = device_side(
        "capture", "sign", str(missing),
        "--device-key", str(files.device_key), "--device-cert", str(files.device_cert),
    )  # fmt: skip

    assert_exit(result, 2, "cannot read image", "missing.png")


def test_capture_sign_with_a_certificate_as_the_key_says_so(device_side: Cli, files: Files) -> None:
    result = device_side(
        "capture", "sign", str(files.image(1)),
        "--device-key", str(files.device_cert), "--device-cert", str(files.device_cert),
    )  # fmt: skip

    assert_exit(result, 2, "dev.pem is not an unencrypted PEM private key")


# --- submit ---


def test_submit_collected_records_accepts_them_all(cli: Cli, enrolled: Files) -> None:
    path = records_file(cli, enrolled, range(1, 4))

    result = submit(cli, path)

    assert_exit(result, 0, "accepted 3 (0 already logged), rejected 0")
    assert device_info(cli, enrolled.device_id)["captures"] == 3


def test_submit_json_has_one_result_per_record(cli: Cli, enrolled: Files) -> None:
    path = records_file(cli, enrolled, range(1, 4))

    summary = submitted(cli, path)

    assert (summary["accepted"], summary["rejected"], summary["duplicates"]) == (3, 0, 0)
    assert [r["position"] for r in summary["results"]] == [0, 1, 2]
    assert all(r["accepted"] and r["counter_status"] == "ok" for r in summary["results"])
    assert [r["index"] for r in summary["results"]] == [2, 3, 4]
    for result in summary["results"]:
        assert result["tree_size"] == 5 and result["inclusion_proof"]
        assert_proven(cli, result)


def test_submit_again_reports_the_records_as_already_logged(cli: Cli, enrolled: Files) -> None:
    path = records_file(cli, enrolled, range(1, 3))
    assert_exit(submit(cli, path), 0)

    assert_exit(submit(cli, path), 0, "accepted 2 (2 already logged)")


def test_submit_a_forged_record_fails_naming_its_line(cli: Cli, enrolled: Files) -> None:
    good = [sign(cli, enrolled, seed).stdout.strip() for seed in (1, 2, 3)]
    forged = json.loads(good[1])
    forged["claim"]["counter"] += 100  # edited after signing
    path = collect(enrolled.dir / "forged.jsonl", good[0], json.dumps(forged), good[2])

    result = submit(cli, path)

    assert_exit(result, 1, "accepted 2", "rejected 1", "record 2: bad_signature")
    summary = submitted(cli, path)
    rejected = [r for r in summary["results"] if not r["accepted"]]
    assert [(r["position"], r["line"], r["code"]) for r in rejected] == [(1, 2, "bad_signature")]


def test_submit_a_line_that_is_not_json_names_the_line(local: Cli, files: Files) -> None:
    register_and_enroll(local, files)
    path = collect(files.dir / "broken.jsonl", sign(local, files, 1).stdout.strip(), "{oops")

    assert_exit(submit(local, path), 2, "line 2 is not JSON")
    assert device_info(local, files.device_id)["captures"] == 0

    deep = collect(files.dir / "deep.jsonl", "[" * 30_000 + "]" * 30_000)
    assert_exit(submit(local, deep), 2, "line 1 is not JSON (or nests too deep)")


def test_submit_an_empty_file_is_bad_input(local: Cli, files: Files) -> None:
    path = collect(files.dir / "empty.jsonl", "", "  ")

    assert_exit(submit(local, path), 2, "holds no records")


def test_submit_names_the_file_line_even_after_a_blank_line(local: Cli, files: Files) -> None:
    register_and_enroll(local, files)
    forged = json.loads(sign(local, files, 2).stdout)
    forged["claim"]["counter"] += 1
    path = collect(
        files.dir / "gaps.jsonl", sign(local, files, 1).stdout.strip(), "", json.dumps(forged)
    )

    assert_exit(submit(local, path), 1, "record 3: bad_signature")


def test_submit_shows_a_rejection_reason_verbatim(local: Cli, files: Files) -> None:
    # The reason quotes the record's own text; it must not be read as Rich markup (or crash).
    record = {"kind": "capture/v1", "claim": {"device": "[/]"}, "sig": "AA=="}
    path = collect(files.dir / "markup.jsonl", json.dumps(record))

    result = submit(local, path)

    assert_exit(result, 1, "record 1: bad_device", "got '[/]'")


def test_submit_in_batches_numbers_the_records_across_batches(cli: Cli, enrolled: Files) -> None:
    path = records_file(cli, enrolled, range(1, 6))

    summary = submitted(cli, path, "--batch-size", "2")

    assert summary["accepted"] == 5
    assert [r["position"] for r in summary["results"]] == [0, 1, 2, 3, 4]
    assert [r["line"] for r in summary["results"]] == [1, 2, 3, 4, 5]
    assert len({r["index"] for r in summary["results"]}) == 5


def test_submit_in_batches_names_the_line_of_a_late_rejection(cli: Cli, enrolled: Files) -> None:
    lines = [sign(cli, enrolled, seed).stdout.strip() for seed in range(1, 6)]
    forged = json.loads(lines[3])
    forged["claim"]["captured_at"] -= 1
    lines[3] = json.dumps(forged)
    path = collect(enrolled.dir / "late.jsonl", *lines)

    result = submit(cli, path, "--batch-size", "2")

    assert_exit(result, 1, "accepted 4", "record 4: bad_signature")


def test_submit_for_an_unenrolled_device_rejects_it(cli: Cli, files: Files) -> None:
    assert_exit(add_vendor(cli, files), 0)
    path = records_file(cli, files, range(1, 2))

    assert_exit(submit(cli, path), 1, "record 1: unknown_device")


def test_capture_sign_with_firmware_signs_it_and_submit_takes_it(cli: Cli, enrolled: Files) -> None:
    record = signed(cli, enrolled, 1, "--firmware", "2.00")
    assert record["claim"]["firmware"] == "2.00"
    edited = signed(cli, enrolled, 2, "--firmware", "2.00")
    edited["claim"]["firmware"] = "2.01"  # after signing
    path = collect(enrolled.dir / "fw.jsonl", json.dumps(record), json.dumps(edited))

    summary = submitted(cli, path)

    assert [(r["accepted"], r.get("code")) for r in summary["results"]] == [
        (True, None),
        (False, "bad_signature"),
    ]


@pytest.mark.parametrize("firmware", ["2.00\x07", "a" * 101, ""], ids=repr)
def test_capture_sign_refuses_bad_firmware_before_using_a_counter(
    device_side: Cli, files: Files, firmware: str
) -> None:
    assert_exit(sign(device_side, files, 1, "--firmware", firmware), 2, "'firmware' must be")
    assert signed(device_side, files, 1)["claim"]["counter"] == 1  # none was used up


def test_submit_of_a_signed_bad_firmware_names_the_code(local: Cli, files: Files) -> None:
    register_and_enroll(local, files)
    record = signed(local, files, 1)
    record["claim"]["firmware"] = "2.00\x00"  # signed so by a faulty device: not a bad signature
    message = capture_message(record["claim"])
    record["sig"] = b64(sign_message(load_key(str(files.device_key)), message))
    path = collect(files.dir / "bad-fw.jsonl", json.dumps(record))

    assert_exit(submit(local, path), 1, "record 1: bad_firmware")


# --- revoke ---


def revoke(cli: Cli, files: Files, since: int, signer: str = "root") -> Result:
    key, cert = (
        (files.root_key, files.root_cert) if signer == "root" else (files.ca_key, files.ca_cert)
    )
    return cli(
        "revoke", "--device", files.device_id, "--compromised-since", str(since),
        "--reason", "key extracted", "--signer-key", str(key), "--signer-cert", str(cert),
    )  # fmt: skip


@pytest.mark.parametrize("signer", ["root", "ca"])
def test_revoke_then_later_captures_are_rejected(cli: Cli, enrolled: Files, signer: str) -> None:
    before = records_file(cli, enrolled, range(1, 3), "before.jsonl")
    time.sleep(0.005)  # captured_at >= compromised_since is revoked: keep "before" strictly before
    since = now_ms()
    time.sleep(0.005)

    assert_exit(revoke(cli, enrolled, since, signer), 0, "revocation logged at index 2")

    after = records_file(cli, enrolled, range(3, 4), "after.jsonl")
    assert_exit(submit(cli, after), 1, "record 1: device_revoked")
    summary = submitted(cli, before)  # signed before the compromise: still accepted, flagged
    assert summary["accepted"] == 2
    assert all("logged_after_revocation" in r["flags"] for r in summary["results"])
    revocations = device_info(cli, enrolled.device_id)["revocations"]
    assert [(r["compromised_since_ms"], r["reason"]) for r in revocations] == [
        (since, "key extracted")
    ]


def test_revoke_takes_an_iso_8601_time(cli: Cli, enrolled: Files) -> None:
    result = cli(
        "revoke", "--device", enrolled.device_id, "--compromised-since", "2026-01-01T00:00:00Z",
        "--reason", "lost", "--signer-key", str(enrolled.root_key),
        "--signer-cert", str(enrolled.root_cert), "--json",
    )  # fmt: skip

    assert_exit(result, 0)
    assert json.loads(result.stdout)["index"] == 2
    revocation = device_info(cli, enrolled.device_id)["revocations"][0]
    assert revocation["compromised_since_ms"] == 1_767_225_600_000


def test_revoke_signed_by_a_stranger_is_refused(cli: Cli, enrolled: Files) -> None:
    stranger = make_pki(datetime.now(UTC)).root
    key = write_key(enrolled.dir / "stranger.key", stranger.private_key)
    cert = write(enrolled.dir / "stranger.pem", stranger.pem)

    result = cli(
        "revoke", "--device", enrolled.device_id, "--compromised-since", "0",
        "--reason", "x", "--signer-key", str(key), "--signer-cert", str(cert),
    )  # fmt: skip

    assert_exit(result, 1, "neither the vendor root nor the CA")


def revoke_scoped(cli: Cli, files: Files, since: int, *what: str) -> Result:
    return cli(
        "revoke", *what, "--vendor-root", str(files.root_cert), "--compromised-since", str(since),
        "--reason", "flaw", "--signer-key", str(files.root_key),
        "--signer-cert", str(files.root_cert),
    )  # fmt: skip


def test_revoke_a_ca_refuses_its_devices_later_captures(cli: Cli, enrolled: Files) -> None:
    since = now_ms() - 60_000
    assert_exit(
        revoke_scoped(cli, enrolled, since, "--ca", str(enrolled.ca_cert)),
        0, "revocation logged at index 2",
    )  # fmt: skip
    after = records_file(cli, enrolled, range(1, 2), "after.jsonl")
    assert_exit(submit(cli, after), 1, "record 1: ca_revoked")
    (revocation,) = device_info(cli, enrolled.device_id)["revocations"]
    assert revocation["scope"] == "ca" and revocation["firmware"] is None


def test_revoke_one_firmware_release_of_the_whole_vendor(cli: Cli, enrolled: Files) -> None:
    since = now_ms() - 60_000
    result = revoke_scoped(cli, enrolled, since, "--all-devices", "--firmware", "2.00", "--json")
    assert_exit(result, 0)
    flawed = collect(
        enrolled.dir / "flawed.jsonl", sign(cli, enrolled, 1, "--firmware", "2.00").stdout.strip()
    )
    fixed = collect(
        enrolled.dir / "fixed.jsonl", sign(cli, enrolled, 2, "--firmware", "2.01").stdout.strip()
    )
    assert_exit(submit(cli, flawed), 1, "record 1: vendor_revoked")
    assert submitted(cli, fixed)["accepted"] == 1
    (revocation,) = device_info(cli, enrolled.device_id)["revocations"]
    assert revocation["scope"] == "vendor" and revocation["firmware"] == ["2.00"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "exactly one of --device, --ca or --all-devices"),
        (("--all-devices", "--device", "ab" * 32), "exactly one of"),
        (("--all-devices",), "add --vendor-root"),
        (("--device", "ab" * 32, "--above", "x.pem"), "use it with --ca"),
    ],
)
def test_revoke_says_what_is_missing(
    cli: Cli, enrolled: Files, args: tuple[str, ...], said: str
) -> None:
    result = cli(
        "revoke", *args, "--compromised-since", "0", "--reason", "x",
        "--signer-key", str(enrolled.root_key), "--signer-cert", str(enrolled.root_cert),
    )  # fmt: skip
    assert_exit(result, 2, said)


# --- reindex (always local) ---


def test_reindex_keeps_devices_and_captures(local: Cli, files: Files) -> None:
    register_and_enroll(local, files)
    assert_exit(submit(local, records_file(local, files, range(1, 4))), 0)
    before = device_info(local, files.device_id)

    result = local("reindex")

    assert_exit(result, 0, "from 5 log entries")
    assert device_info(local, files.device_id) == before
    assert before["captures"] == 3


def test_reindex_of_an_uninitialized_data_dir_asks_for_init(tmp_path: Path) -> None:
    assert_exit(Prov(tmp_path / "nothing")("reindex"), 2, "prov init")


# --- server mode specifics ---


def test_server_mode_leaves_the_clients_data_dir_alone(
    server: Server, files: Files, tmp_path: Path
) -> None:
    client_dir = tmp_path / "client"
    remote = Cli(["--data-dir", str(client_dir), "--server", server.base_url], server.vkey, server)

    assert_exit(add_vendor(remote, files), 0)
    assert_exit(enroll(remote, files), 0)

    assert not client_dir.exists()


def test_server_mode_takes_the_admin_token_from_the_environment(
    server: Server, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROV_ADMIN_TOKEN", TOKEN)
    remote = Cli(["--server", server.base_url], server.vkey, server)

    result = remote(
        "vendor", "add", "--name", "V", "--role", "camera", "--root-cert", str(files.root_cert)
    )

    assert_exit(result, 0, "logged at index 0")


def test_server_mode_reads_prov_server(
    server: Server, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROV_SERVER", server.base_url)

    assert_exit(add_vendor(Cli([]), files), 0, "logged at index 0")


@pytest.mark.parametrize("command", ["vendor", "enroll", "submit", "show", "revoke"])
def test_an_unreachable_server_is_exit_3(files: Files, command: str) -> None:
    remote = Cli(["--server", f"http://127.0.0.1:{free_port()}"])  # nothing listens there
    if command == "vendor":
        result = add_vendor(remote, files)
    elif command == "enroll":
        result = enroll(remote, files)
    elif command == "submit":
        result = submit(remote, collect(files.dir / "r.jsonl", "{}"))
    elif command == "revoke":
        result = revoke(remote, files, 0)
    else:
        result = remote("device", "show", files.device_id)

    assert_exit(result, 3, "cannot reach the server", "is the server running?")


def test_revoke_twice_is_answered_with_the_first_receipt(cli: Cli, enrolled: Files) -> None:
    since = now_ms() - 1000
    assert_exit(revoke(cli, enrolled, since), 0, "revocation logged at index 2")

    again = revoke(cli, enrolled, since)  # signed anew: another ECDSA signature, the same body

    assert_exit(again, 0, "revocation already in the log at index 2")
    assert "logged at index 3" not in again.output
    assert len(device_info(cli, enrolled.device_id)["revocations"]) == 1
    assert_exit(revoke(cli, enrolled, since - 1000), 0, "revocation logged at index 3")


def test_vendor_add_of_a_logged_root_under_another_name_names_the_logged_one(
    cli: Cli, files: Files
) -> None:
    assert_exit(add_vendor(cli, files), 0)

    result = cli(
        "vendor", "add", "--name", "Other Co.", "--role", "generator",
        "--root-cert", str(files.root_cert), "--admin-token", TOKEN,
    )  # fmt: skip

    assert_exit(result, 2, "logged already, as 'Example Camera Co.' (camera) at index 0")
    assert_exit(add_vendor(cli, files), 0, "already in the log at index 0")

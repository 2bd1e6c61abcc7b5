"""`prov log witness` says what it did: what each witness answered (a real `prov witness serve`),
that it did not ask one whose cosignature the log holds already, or why one failed - never a
cosignature "at None"."""

import os
import subprocess
from pathlib import Path

from tests.support.prov_cli import Prov, assert_exit, one_line
from tests.support.serving import PROV, free_port, witness_serve

WITNESS = "witness.example.org/w1"


def run(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROV), *arguments], capture_output=True, text=True, env=env, check=False
    )


def vkey_of(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("verifier key: ")]
    return line.removeprefix("verifier key: ")


def test_log_witness_reports_each_answer_and_never_a_time_it_was_not_given(
    tmp_path: Path, database_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    prov = Prov(tmp_path / "log", None if database_url.startswith("sqlite") else database_url)
    log_vkey = prov.init().vkey
    prov.append([b"a"])
    storage = ["--key-file", str(tmp_path / "w.key"), "--database",
               f"sqlite:///{tmp_path / 'witness.db'}"]  # fmt: skip
    made = run(env, "witness", "init", "--name", WITNESS, *storage)
    assert made.returncode == 0, made.stderr
    witness_vkey = vkey_of(made.stdout)

    with witness_serve(["--log", log_vkey, *storage], tmp_path / "witness.log", env) as base:
        first = prov("log", "witness", "--witness", f"{base} {witness_vkey}")
        again = prov("log", "witness", "--witness", f"{base} {witness_vkey}")

    assert_exit(first, 0, f"cosigned {WITNESS}: size 1, its cosignature dated 20")
    assert_exit(again, 0, f"{WITNESS}: already cosigned size 1", "the witness was not contacted")
    for result in (first, again):
        assert "None" not in result.output

    prov.append([b"b"])
    nobody = f"http://127.0.0.1:{free_port()}"
    unreachable = prov("log", "witness", "--witness", f"{nobody} {witness_vkey}")

    # Exit 3 by the one table: a witness not reached says nothing about the log.
    assert_exit(unreachable, 3, f"{WITNESS}: not cosigned: cannot reach witness")
    assert "None" not in one_line(unreachable.output)

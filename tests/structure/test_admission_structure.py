"""registry/admission/ as the next engineer reads it (issue 14): small modules and functions,
and the sequencer entries the write side decides through."""

import ast
from pathlib import Path

from sqlalchemy import Connection

from ledger import LogStore, Sequencer, SignedCheckpoint

ADMISSION = Path(__file__).resolve().parents[2] / "registry" / "admission"


def test_admission_modules_and_functions_are_small() -> None:
    too_long = []
    for path in sorted(ADMISSION.glob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    too_long.append(f"{path.name}:{node.name}: {length} lines")
    assert too_long == []


def test_append_decided_returns_what_the_builder_decided(
    sequencer: Sequencer, store: LogStore
) -> None:
    def build(_connection: Connection, first: int, now: int) -> tuple[list[bytes], str]:
        return [f"entry {first}".encode()], f"decided at {now}"

    result, outcome = sequencer.append_decided(build)
    assert (result.first_index, result.count) == (0, 1)
    assert outcome == f"decided at {result.checkpoint.created_at_ms}"
    assert store.entry(0) == b"entry 0"


def test_append_decided_with_no_leaves_writes_nothing_and_still_answers(
    sequencer: Sequencer, store: LogStore
) -> None:
    result, outcome = sequencer.append_decided(lambda _c, first, _now: ([], first + 41))
    assert (result.count, result.checkpoint.size, outcome) == (0, 0, 41)
    assert store.latest_checkpoint().size == 0


def test_run_locked_sees_the_latest_checkpoint_and_appends_nothing(
    sequencer: Sequencer, store: LogStore
) -> None:
    sequencer.append([b"a", b"b"])

    def work(_connection: Connection, latest: SignedCheckpoint) -> int:
        return latest.size

    assert sequencer.run_locked(work) == 2
    assert store.latest_checkpoint().size == 2

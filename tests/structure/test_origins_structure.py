"""The origins and pair-search modules' shape: the radius search agrees with a brute force,
each signal in the signals docstring is one function, and the modules stay small."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import registry.origins.signals as signals_module
from registry.imaging.pairs import pairs_between
from registry.origins.signals import CHECKS

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    *sorted((ROOT / "registry" / "origins").glob("*.py")),
    ROOT / "registry" / "imaging" / "pairs.py",
    ROOT / "registry" / "imaging" / "neardup.py",
    ROOT / "registry" / "imaging" / "faiss_shards.py",
]


@pytest.mark.parametrize("radius", [0, 8, 31])
def test_pairs_between_equals_a_brute_force(radius: int) -> None:
    rng = np.random.default_rng(radius)
    hashes = rng.integers(0, 256, (600, 32), dtype=np.uint8)
    queries = hashes[rng.choice(600, 40, replace=False)].copy()
    for row in queries:  # a few bits off their original, some beyond the radius
        row[rng.choice(32, int(rng.integers(0, 6)), replace=False)] ^= 1
    queries[0] = hashes[1]  # an exact copy
    distance = np.unpackbits(queries[:, None, :] ^ hashes[None, :, :], axis=2).sum(axis=2)
    expected = np.argwhere(distance <= radius)
    found_q, found_h = pairs_between(
        [q.tobytes() for q in queries], [h.tobytes() for h in hashes], radius
    )
    assert np.array_equal(np.stack([found_q, found_h], axis=1).reshape(-1, 2), expected)


def test_each_numbered_signal_is_one_function() -> None:
    listed = re.findall(r"^\d+\. `(\w+)`", signals_module.__doc__ or "", flags=re.MULTILINE)
    assert listed == list(CHECKS)
    for number, name in enumerate(listed, start=1):
        assert (CHECKS[name].__doc__ or "").startswith(f"{number}. ")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_modules_and_functions_are_small(path: Path) -> None:
    source = path.read_text()
    assert source.count("\n") <= 400
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert (node.end_lineno or 0) - node.lineno + 1 <= 60, node.name

"""The layout of tests/ and bench/: helpers live in tests/support/ (or testkit/), so that no test
depends on another test's module, nothing imports tests/conftest.py, and bench/ and tests/ share
code only through tests.support.

Imports are read from the source (ast), including those inside functions.
"""

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
BENCH = ROOT / "bench"


def imported_modules(path: Path) -> Iterator[str]:
    """Every module `path` imports by absolute name (`import a.b`, `from a.b import c`)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            yield node.module
            # `from tests import test_x` names the module in the alias.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return name.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def is_support(name: str) -> bool:
    return name == "tests.support" or name.startswith("tests.support.")


def sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_layout_is_found() -> None:
    names = {relative(p) for p in sources(TESTS)}
    assert "tests/conftest.py" in names
    assert "tests/support/clocks.py" in names
    assert any(name.startswith("tests/registry/test_attack_") for name in names)
    assert sources(BENCH)


def offenders(root: Path, forbidden: Callable[[str], bool]) -> list[str]:
    """`path: module` for every import under `root` that `forbidden` refuses."""
    return [
        f"{relative(path)}: {name}"
        for path in sources(root)
        for name in sorted(set(imported_modules(path)))
        if forbidden(name)
    ]


def test_no_module_under_tests_imports_a_test_module_or_conftest() -> None:
    """A helper two tests need goes to tests/support/; conftest only registers fixtures."""
    assert offenders(TESTS, is_test_module) == []


def test_tests_do_not_import_bench() -> None:
    """A helper a test and a benchmark both need goes to tests/support/ (or testkit/)."""
    assert offenders(TESTS, lambda name: name.split(".")[0] == "bench") == []


def test_bench_imports_only_tests_support() -> None:
    def forbidden(name: str) -> bool:
        return name.split(".")[0] == "tests" and name != "tests" and not is_support(name)

    assert offenders(BENCH, forbidden) == []


def test_the_checks_see_the_imports_they_forbid(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        "import tests.conftest\n"
        "from tests.registry.test_audit import x\n"
        "from tests import test_cli\n"
        "def f():\n    from tests.support.serving import free_port\n"
    )
    names = set(imported_modules(module))
    assert {"tests.conftest", "tests.registry.test_audit", "tests.test_cli"} <= names
    assert "tests.support.serving" in names
    assert {n for n in names if is_test_module(n)} == {
        "tests.conftest",
        "tests.registry.test_audit",
        "tests.test_cli",
    }

"""The offline verifier's shape: it runs without a database driver, and the bundle package keeps
building (server side, SQL) apart from verifying (offline)."""

import subprocess
import sys

import pytest

OFFLINE = ["registry.bundle.verify", "registry.bundle.format", "registry.bundle.checks"]


@pytest.mark.parametrize("module", OFFLINE)
def test_offline_bundle_modules_do_not_import_sqlalchemy(module: str) -> None:
    # A fresh interpreter: this one has long since imported SQLAlchemy for the other tests.
    probe = (
        f"import sys, {module}\n"
        "assert 'sqlalchemy' not in sys.modules, sorted(m for m in sys.modules if 'sqlalchemy' in m)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_the_registry_and_the_ledger_still_offer_their_storage_names() -> None:
    # ledger/__init__ and registry/__init__ load their SQL names on first use (PEP 562).
    import ledger
    import registry
    from ledger import LogStore, Sequencer, leafindex, open_engine
    from registry import Registry, open_registry

    assert LogStore is ledger.store.LogStore and Sequencer.__name__ == "Sequencer"
    assert callable(open_engine) and leafindex.__name__ == "ledger.leafindex"
    assert Registry is registry.admission.registry.Registry and callable(open_registry)
    with pytest.raises(AttributeError):
        _ = ledger.no_such_name


def test_build_is_apart_from_verify() -> None:
    from registry.bundle import build, verify

    assert not hasattr(verify, "build_bundle") and hasattr(build, "build_bundle")

"""The registry domain: vendors, devices, certificates, capture records, revocations,
perceptual hashing, and the derived indexes built from the log."""

import importlib
from typing import TYPE_CHECKING

from registry.config import RegistrySettings

if TYPE_CHECKING:
    from registry.admission.registry import CaptureResult, Receipt, Registry
    from registry.open import open_registry, registry_sequencer

__all__ = [
    "CaptureResult",
    "Receipt",
    "Registry",
    "RegistrySettings",
    "open_registry",
    "registry_sequencer",
]

# The façade loads SQLAlchemy, so it is imported on first use (PEP 562): the offline bundle
# verifier (registry.bundle.verify) imports `registry` without a database driver.
_STORAGE = {
    "CaptureResult": "registry.admission.registry",
    "Receipt": "registry.admission.registry",
    "Registry": "registry.admission.registry",
    "open_registry": "registry.open",
    "registry_sequencer": "registry.open",
}


def __getattr__(name: str) -> object:
    if name not in _STORAGE:
        raise AttributeError(f"module 'registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(_STORAGE[name]), name)
    globals()[name] = value
    return value

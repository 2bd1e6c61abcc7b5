"""The registry domain: vendors, devices, certificates, capture records, revocations,
perceptual hashing, and the derived indexes built from the log."""

from registry.admission.registry import CaptureResult, Receipt, Registry
from registry.config import RegistrySettings
from registry.open import open_registry

__all__ = ["CaptureResult", "Receipt", "Registry", "RegistrySettings", "open_registry"]

"""The certificate factory for tests: re-exported from registry.testing_pki, which holds it so
that `prov demo` (an installed entry point that cannot import tests/) uses the same code."""

from registry.testing_pki import (
    C2PA_CLAIM_SIGNING,
    DOCUMENT_SIGNING,
    SERVER_AUTH,
    DevicePKI,
    IssuedCert,
    KeyType,
    PrivateKey,
    Validity,
    generate_key,
    make_device,
    make_intermediate,
    make_pki,
    make_root,
)

__all__ = [
    "C2PA_CLAIM_SIGNING",
    "DOCUMENT_SIGNING",
    "SERVER_AUTH",
    "DevicePKI",
    "IssuedCert",
    "KeyType",
    "PrivateKey",
    "Validity",
    "generate_key",
    "make_device",
    "make_intermediate",
    "make_pki",
    "make_root",
]

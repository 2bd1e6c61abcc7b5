"""Signed revocation/v2 entries for tests and the demo: a CA, a vendor root or a device,
optionally limited to firmware releases (registry.entries.sdk.sign_scoped_revocation)."""

from collections.abc import Sequence

from registry.entries.sdk import sign_scoped_revocation
from testkit.pki import DevicePKI, IssuedCert

__all__ = ["revoke_ca", "revoke_device", "revoke_vendor"]


def revoke_ca(
    pki: DevicePKI,
    position: int,
    since: int,
    *,
    firmware: Sequence[str] | None = None,
    signer: IssuedCert | None = None,
    reason: str = "CA key extracted",
) -> dict[str, object]:
    """Revoke the CA at `position` of the device's path (0: its issuer), signed by that CA
    unless `signer` (a CA above it, or the root) is given."""
    ca = pki.intermediates[position]
    by = signer or ca
    return sign_scoped_revocation(
        scope="ca",
        subject=ca.certificate,
        vendor_root=pki.root.certificate,
        above=[c.certificate for c in pki.intermediates[position + 1 :]],
        compromised_since=since,
        reason=reason,
        ca_key=by.private_key,
        ca_cert=by.certificate,
        firmware=firmware,
    )


def revoke_vendor(
    pki: DevicePKI,
    since: int,
    *,
    firmware: Sequence[str] | None = None,
    reason: str = "root key compromised",
) -> dict[str, object]:
    """Revoke everything under the vendor root (or, with `firmware`, those releases)."""
    return sign_scoped_revocation(
        scope="vendor",
        subject=pki.root.certificate,
        vendor_root=pki.root.certificate,
        compromised_since=since,
        reason=reason,
        ca_key=pki.root.private_key,
        ca_cert=pki.root.certificate,
        firmware=firmware,
    )


def revoke_device(
    pki: DevicePKI,
    since: int,
    *,
    firmware: Sequence[str] | None = None,
    signer: IssuedCert | None = None,
    reason: str = "device key extracted",
) -> dict[str, object]:
    """A revocation/v2 of the device, signed by its issuer unless `signer` is given."""
    by = signer or (pki.intermediates[0] if pki.intermediates else pki.root)
    return sign_scoped_revocation(
        scope="device",
        subject=pki.device.certificate,
        vendor_root=pki.root.certificate,
        compromised_since=since,
        reason=reason,
        ca_key=by.private_key,
        ca_cert=by.certificate,
        firmware=firmware,
    )

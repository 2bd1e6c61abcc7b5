"""A vendor that signs each picture with its own one-time certificate, for tests and benches.

Some phones never keep a long-lived signing key: for every capture the phone's own CA (one per
phone, or one per production batch) issues a fresh end-entity certificate, signs the picture
with it and forgets the key. The vendor registers as vendor/v1 `"certificates": "per-capture"`
and every one-time certificate is enrolled as a device/v1 entry; the origin of its capture is
the CA that issued it (registry.admission.capture_origin).

    vendor = make_per_capture_vendor(now, phones=2)   # root -> 2 phone CAs
    one = vendor.capture_certificate(0, now)          # a DevicePKI: root, (phone CA 0,), cert
    registry.enroll_device(one.device.der, one.chain_der)

Like testkit.pki, it never reads the clock and keeps its keys in the clear: test tooling only.
"""

import datetime as dt
from dataclasses import dataclass

from testkit.pki import DevicePKI, IssuedCert, KeyType, make_device, make_intermediate, make_root

__all__ = ["PER_CAPTURE", "PerCaptureVendor", "make_per_capture_vendor"]

PER_CAPTURE = "per-capture"  # the vendor/v1 value (registry.admission.capture_origin)


@dataclass
class PerCaptureVendor:
    """A vendor root and one CA per phone (or per batch), issuing a certificate per capture."""

    name: str
    root: IssuedCert
    phone_cas: tuple[IssuedCert, ...]
    key: KeyType = "ES256"
    issued: int = 0  # one-time certificates issued so far

    def capture_certificate(self, phone: int, now: dt.datetime) -> DevicePKI:
        """A fresh one-time certificate from phone CA `phone`: sign one capture with it."""
        self.issued += 1
        number = self.issued
        ca = self.phone_cas[phone]
        certificate = make_device(
            ca,
            now,
            key=self.key,
            common_name=f"{self.name} phone {phone} capture #{number}",
            organization=self.name,
        )
        return DevicePKI(self.root, (ca,), certificate)


def make_per_capture_vendor(
    now: dt.datetime, *, phones: int = 1, name: str = "Example Phone Co.", key: KeyType = "ES256"
) -> PerCaptureVendor:
    """A root named after `name` (the registry finds a vendor by its root's name), and
    `phones` CAs under it, one per phone."""
    root = make_root(now, common_name=f"{name} Root CA", organization=name)
    cas = tuple(
        make_intermediate(root, now, common_name=f"{name} phone {n} CA", organization=name)
        for n in range(phones)
    )
    return PerCaptureVendor(name, root, cas, key)

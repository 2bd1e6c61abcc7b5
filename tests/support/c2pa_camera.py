"""A C2PA camera for tests: a vendor root, an intermediate and a device certificate with the
C2PA claim-signing EKU, signing JPEGs with Content Credentials (testkit.c2pa)."""

import datetime as dt
import io

from cryptography.x509.oid import ExtendedKeyUsageOID
from PIL import Image

from testkit.c2pa import sign_jpeg
from testkit.pki import C2PA_CLAIM_SIGNING, IssuedCert, make_device, make_intermediate, make_root
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import now_of, picture

C2PA_EKUS = (C2PA_CLAIM_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION)


def jpeg(seed: int, size: tuple[int, int] = (640, 480), quality: int = 92) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(picture(seed, size))).convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


class Camera:
    def __init__(self, clock: FixedClock, *, root: IssuedCert | None = None) -> None:
        now = now_of(clock)
        self.root = root or make_root(now)
        self.ca = make_intermediate(self.root, now)
        self.device = make_device(self.ca, now, eku=C2PA_EKUS)
        self.captured_at = now - dt.timedelta(minutes=1)

    def shoot(self, seed: int, *, firmware: str | None = "1") -> bytes:
        """A signed JPEG whose claim_generator_info version (its firmware) is `firmware`."""
        return sign_jpeg(
            jpeg(seed), self.device, [self.ca], self.captured_at, generator_version=firmware
        )

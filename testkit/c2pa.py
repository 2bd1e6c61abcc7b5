"""Signed camera files for tests and the demo: a JPEG with an embedded C2PA manifest, signed
with c2pa-python's Builder by a device certificate from testkit.pki.

Offline, as a camera signs: no timestamp authority. The manifest says the picture was created
(`c2pa.created`, digital capture) at `captured_at`, which is what the registry logs as the
capture time.
"""

import datetime as dt
import io
from collections.abc import Sequence

import c2pa
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from testkit.pki import IssuedCert

DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def sign_jpeg(
    jpeg: bytes,
    device: IssuedCert,
    intermediates: Sequence[IssuedCert],
    captured_at: dt.datetime,
    *,
    title: str = "capture.jpg",
    generator_version: str | None = "1",
) -> bytes:
    """`jpeg` with a C2PA manifest signed by `device` (its chain: `intermediates`, issuer
    first), stating it was captured at `captured_at`. `generator_version` is the version of
    its claim_generator_info, which the registry logs as the capture's firmware
    (registry.c2pa.firmware); None: the claim names no version."""
    chain = b"".join(
        cert.certificate.public_bytes(Encoding.PEM) for cert in (device, *intermediates)
    )
    key = device.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    algorithm = (
        c2pa.C2paSigningAlg.ED25519
        if isinstance(device.private_key, ed25519.Ed25519PrivateKey)
        else c2pa.C2paSigningAlg.ES256
    )
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(algorithm, chain, key, None))
    when = captured_at.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    generator = {"name": "provenance-ledger test camera"}
    if generator_version is not None:
        generator["version"] = generator_version
    manifest = {
        "claim_generator_info": [generator],
        "title": title,
        "format": "image/jpeg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_CAPTURE,
                            "when": when,
                        }
                    ]
                },
            }
        ],
    }
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()

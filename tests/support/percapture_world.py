"""A registry holding a phone vendor that signs each capture with its own one-time certificate
(vendor/v1 "certificates": "per-capture", one CA per phone), and an ordinary camera vendor
beside it: what the per-capture tests shoot, copy and look up."""

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from registry import Registry
from registry.entries.sdk import device_id, sign_capture
from testkit.percapture import PER_CAPTURE, PerCaptureVendor, make_per_capture_vendor
from testkit.pki import DevicePKI, make_device, make_intermediate, make_root
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import TOKEN, as_json, now_of, picture

SIZE = (320, 240)
SECOND, MINUTE = 1000, 60_000


def frame(seed: int, number: int) -> bytes:
    """Frame `number` of a burst: the scene of `picture(seed)` with a little sensor noise of
    its own, so each frame is another file (another SHA-256) but a near-duplicate (PDQ)."""
    base = np.asarray(Image.open(io.BytesIO(picture(seed, SIZE))).convert("RGB")).astype(np.int16)
    if number:
        base = base + np.random.default_rng(1000 + number).integers(-3, 4, base.shape)
    out = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


@dataclass
class PhoneWorld:
    registry: Registry
    clock: FixedClock
    phones: PerCaptureVendor  # "Example Phone Co.": per-capture, two phone CAs
    other: DevicePKI  # "Other Camera Co.": one certificate per device
    certificates: dict[int, DevicePKI] = field(default_factory=dict)  # leaf index -> its cert
    counters: dict[str, int] = field(default_factory=dict)

    def shoot(self, phone: int, image: bytes, captured_at: int) -> dict[str, Any]:
        """A capture by `phone`, signed with a one-time certificate enrolled just before."""
        one_time = self.phones.capture_certificate(phone, now_of(self.clock))
        self.registry.enroll_device(one_time.device.der, one_time.chain_der)
        return self.record(one_time, image, captured_at)

    def record(self, who: DevicePKI, image: bytes, captured_at: int) -> dict[str, Any]:
        name = device_id(who.device.certificate)
        self.counters[name] = self.counters.get(name, 0) + 1
        signed = sign_capture(
            image, who.device.private_key, who.device.certificate, self.counters[name], captured_at
        )
        return {**as_json(signed), "_pki": who}

    def submit(self, *records: dict[str, Any]) -> list[int]:
        """One batch; the leaf index of each record (its certificate kept by index)."""
        results = self.registry.submit_captures(
            [{k: v for k, v in r.items() if k != "_pki"} for r in records]
        )
        indexes = []
        for record, result in zip(records, results, strict=True):
            assert result.receipt is not None, result
            indexes.append(result.receipt.index)
            self.certificates[result.receipt.index] = record["_pki"]
        return indexes

    def burst(self, phone: int, seed: int, frames: int, captured_at: int) -> list[int]:
        """`frames` frames shot 100 ms apart, then uploaded one batch each, 30 s apart: every
        frame but the first claims a time before the frames before it were logged."""
        shot = [self.shoot(phone, frame(seed, n), captured_at + 100 * n) for n in range(frames)]
        indexes = []
        for record in shot:
            indexes += self.submit(record)
            self.later(30 * SECOND)
        return indexes

    def origin(self, phone: int) -> str:
        """The origin id of `phone`'s captures: its CA."""
        return device_id(self.phones.phone_cas[phone].certificate)

    def later(self, ms: int) -> None:
        self.clock.now_ms += ms


def make_world(registry: Registry, clock: FixedClock) -> PhoneWorld:
    now = now_of(clock)
    phones = make_per_capture_vendor(now, phones=2)
    registry.add_vendor(phones.name, "camera", phones.root.der, TOKEN, PER_CAPTURE)
    name = "Other Camera Co."
    root = make_root(now, common_name=f"{name} Root CA", organization=name)
    other = DevicePKI(root, (), make_device(root, now, organization=name))
    registry.add_vendor(name, "camera", root.der, TOKEN)
    registry.enroll_device(other.device.der, other.chain_der)
    return PhoneWorld(registry, clock, phones, other)


def ordinary_vendor_with_a_device_ca(
    registry: Registry, clock: FixedClock
) -> tuple[DevicePKI, DevicePKI]:
    """A vendor without the flag whose one CA issued two devices, both enrolled: two origins."""
    now, name = now_of(clock), "Plain Camera Co."
    root = make_root(now, common_name=f"{name} Root CA", organization=name)
    ca = make_intermediate(root, now, common_name=f"{name} Device CA", organization=name)
    first, second = (
        DevicePKI(root, (ca,), make_device(ca, now, common_name=f"{name} #{n}", organization=name))
        for n in (1, 2)
    )
    registry.add_vendor(name, "camera", root.der, TOKEN)
    for device in (first, second):
        registry.enroll_device(device.device.der, device.chain_der)
    return first, second

"""Many captures into a test registry fast: one device's signed records submitted in batches
of `BULK_BATCH` through a second `Registry` on the same store and sequencer, whose batch limit
is that large (the fixture's is 50: 20,000 captures were 400 submissions and checkpoints)."""

import dataclasses
from collections.abc import Callable
from typing import Any, Final

from registry import Registry
from registry.entries.codec import CAPTURE, b64, capture_message
from registry.entries.sdk import device_id, sign_message
from registry.open import registry_sequencer
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock

BULK_BATCH: Final = 5000


def log_claims(
    registry: Registry, signer: Any, clock: FixedClock, enrolled: DevicePKI, count: int,
    claim_of: Callable[[int], dict[str, Any]],
) -> None:  # fmt: skip
    """Log `count` captures of the enrolled device: capture i claims `claim_of(i)` (the device
    id is filled in), all admitted."""
    settings = dataclasses.replace(registry.settings, max_batch=BULK_BATCH)
    bulk = Registry(
        registry.store, registry_sequencer(registry.store, signer, clock), settings, clock
    )
    device = enrolled.device
    for start in range(0, count, BULK_BATCH):
        records = []
        for i in range(start, min(start + BULK_BATCH, count)):
            claim = {**claim_of(i), "device": device_id(device.certificate)}
            signature = sign_message(device.private_key, capture_message(claim))
            records.append({"kind": CAPTURE, "claim": claim, "sig": b64(signature)})
        results = bulk.submit_captures(records)
        assert all(r.receipt is not None for r in results), results[0].reason

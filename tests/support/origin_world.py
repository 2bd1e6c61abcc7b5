"""Small hand-built logs for the origin clusters and signals (registry.origins.clusters):
a World of four devices to which a test adds captures in log order."""

import random
from typing import Any

from registry.origins.facts import Capture, Facts, Origin
from registry.origins.report import Report, build_report

MINUTE = 60_000
T0 = 1_790_000_000_000
rng = random.Random(5)


def pdq(seed: int) -> bytes:
    return random.Random(seed).randbytes(32)


def flipped(code: bytes, bits: int, offset: int = 0) -> bytes:
    value = int.from_bytes(code, "big") ^ (((1 << bits) - 1) << offset)
    return value.to_bytes(32, "big")


class World:
    """A log in memory: add captures in log order."""

    def __init__(self) -> None:
        self.captures: list[Capture] = []
        self.devices = {
            "cam-a": Origin("cam-a", "vendor-cam", "Camera Co.", "camera"),
            "cam-b": Origin("cam-b", "vendor-cam", "Camera Co.", "camera"),
            "cam-c": Origin("cam-c", "vendor-cam2", "Other Camera Co.", "camera"),
            "gen": Origin("gen", "vendor-gen", "Diffusion Labs", "generator"),
        }
        self.compromised: dict[str, int] = {}

    def add(self, device: str, code: bytes, captured: int, logged: int | None = None,
            counter: int | None = None, quality: int = 90, sha: bytes | None = None) -> int:  # fmt: skip
        index = len(self.captures)
        own = sum(c.device == device for c in self.captures)
        self.captures.append(
            Capture(index, device, own + 1 if counter is None else counter, captured,
                    captured + 2_000 if logged is None else logged,
                    sha or rng.randbytes(32), code, quality)
        )  # fmt: skip
        return index

    def report(self) -> Report:
        facts = Facts(
            "test/log",
            len(self.captures),
            b"\1" * 32,
            self.captures,
            self.devices,
            self.compromised,
        )
        return build_report(facts)


def flags(report: Report, device: str) -> dict[str, Any]:
    row = next((r for r in report["devices"] if r["device"] == device), None)
    if row is None:
        return {}
    return dict(row["signals"])

"""Small random logs of captures, drawn to hit every branch of the origin report's rules (the
equivalence tests against the all-pairs reference, and the dense-group tests)."""

import random

from registry.origins.facts import CAMERA, GENERATOR, Capture, Facts, Origin

DEVICES = {
    "cam-a": Origin("cam-a", "v-cam", "Camera Co.", CAMERA),
    "cam-b": Origin("cam-b", "v-cam", "Camera Co.", CAMERA),
    "cam-c": Origin("cam-c", "v-cam2", "Other Camera Co.", CAMERA),
    "gen": Origin("gen", "v-gen", "Diffusion Labs", GENERATOR),
    "gen-2": Origin("gen-2", "v-gen", "Diffusion Labs", GENERATOR),
}


def random_log(seed: int) -> Facts:
    """A small log drawn to hit every branch: a few base hashes, each capture an exact copy of
    an earlier file, the same PDQ as an earlier one, a few bits from one (inside or outside
    the radius), or new; some hashes below the quality floor; generators among the devices."""
    rng = random.Random(seed)
    bases = [rng.randbytes(32) for _ in range(rng.randint(1, 4))]
    captures: list[Capture] = []
    t = 1_790_000_000_000
    for index in range(rng.randint(1, 60)):
        device = rng.choice(list(DEVICES) + ["unregistered"])
        t += rng.choice((10, 500, 30_000, 3_600_000, 86_400_000))
        kind = rng.random()
        if captures and kind < 0.2:  # an exact copy of an earlier file (its PDQ may differ)
            model = rng.choice(captures)
            sha, code = model.sha256, model.pdq if rng.random() < 0.8 else rng.choice(bases)
        elif captures and kind < 0.45:  # the same PDQ, another file
            sha, code = rng.randbytes(32), rng.choice(captures).pdq
        elif kind < 0.85:  # near a base: 0..45 bits, around the radius of 31
            flips = rng.sample(range(256), rng.randint(0, 45))
            value = int.from_bytes(rng.choice(bases)) ^ sum(1 << bit for bit in flips)
            sha, code = rng.randbytes(32), value.to_bytes(32)
        else:
            sha, code = rng.randbytes(32), rng.randbytes(32)
        quality = rng.choice((90, 90, 90, 49, 10))
        counter = rng.choice((index, index, 1))
        captures.append(Capture(index, device, counter, t - 1000, t, sha, code, quality))
    return Facts("test/log", len(captures), b"\1" * 32, captures, DEVICES)

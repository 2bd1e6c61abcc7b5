"""Clocks that tests move by hand: time is a parameter of the code under test."""


class FixedClock:
    """A clock tests move by hand (milliseconds since the epoch)."""

    def __init__(self, start_ms: int = 1_790_000_000_000) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        self.now_ms += 1
        return self.now_ms

"""Clocks that tests move by hand: time is a parameter of the code under test."""


class FixedClock:
    """A clock tests move by hand (milliseconds since the epoch)."""

    def __init__(self, start_ms: int = 1_790_000_000_000) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        self.now_ms += 1
        return self.now_ms


class Seconds:
    """A monotonic clock in seconds that only tests move; `sleep` moves it too."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

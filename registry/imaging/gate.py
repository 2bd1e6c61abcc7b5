"""The decode gate: at most `concurrency` image decodes at once in this process, at most `queue`
more waiting for a turn, and past that an immediate OverloadedError (503, Retry-After) rather
than a queue without bound.

Why a count and not a pixel budget: a decode's memory is its decoded pixels times ~8 bytes
(the pixels, the EXIF-transposed copy, the RGB conversion; a 88 MP one-colour PNG peaks at
~0.7 GiB), and the pixel caps already bound each decode (PROV_LOOKUP_MAX_PIXELS for lookups,
PROV_MAX_IMAGE_PIXELS for ingestion), so `concurrency` x cap x 8 bytes bounds them all
together. A budget would need the size from the header inside the decode, for little gain:
the decodes are CPU-bound, so running more than a CPU's worth at once does not finish sooner.

`Slots` is the pure core (counts only); `DecodeGate` runs work in the calling thread under a
lock and condition, so it works from any thread pool and any event loop. Call `run` from a
worker thread (the API's `run_in_threadpool`), never from the event loop: a waiter blocks.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from registry.errors import OverloadedError

T = TypeVar("T")

# Seconds a refused caller is told to wait: about one decode of a large image.
RETRY_AFTER_S = 1


class Admission(Enum):
    RUN = "run"
    WAIT = "wait"
    FULL = "full"


@dataclass
class Slots:
    """How many decodes run and wait, against the limits. Not thread-safe: DecodeGate locks."""

    concurrency: int
    queue: int
    running: int = 0
    waiting: int = 0

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.queue < 0:
            raise ValueError("a decode gate needs concurrency >= 1 and queue >= 0")

    def arrive(self) -> Admission:
        """A new decode: it runs if a slot is free (and nobody waits ahead of it), else waits if
        the queue has room, else is refused. RUN and WAIT are counted; FULL is not."""
        if self.running < self.concurrency and self.waiting == 0:
            self.running += 1
            return Admission.RUN
        if self.waiting < self.queue:
            self.waiting += 1
            return Admission.WAIT
        return Admission.FULL

    def promote(self) -> bool:
        """A waiting decode takes a free slot, if there is one."""
        if self.running >= self.concurrency:
            return False
        self.waiting -= 1
        self.running += 1
        return True

    def finish(self) -> None:
        """A running decode is done (or failed): its slot is free."""
        if self.running < 1:
            raise ValueError("finish() without a running decode")
        self.running -= 1


class DecodeGate:
    """`run(work)`: `work()` under the gate's limits. `on_enter`, if given, is called once a
    slot is taken, before the work (tests block there to hold the slot)."""

    def __init__(
        self, concurrency: int, queue: int, on_enter: Callable[[], None] | None = None
    ) -> None:
        self._slots = Slots(concurrency, queue)
        self._changed = threading.Condition()
        self._on_enter = on_enter

    @property
    def concurrency(self) -> int:
        return self._slots.concurrency

    @property
    def queue(self) -> int:
        return self._slots.queue

    def counts(self) -> tuple[int, int]:
        """(running, waiting), for tests and status."""
        with self._changed:
            return self._slots.running, self._slots.waiting

    def run(self, work: Callable[[], T]) -> T:
        self._enter()
        try:
            if self._on_enter is not None:
                self._on_enter()
            return work()
        finally:
            with self._changed:
                self._slots.finish()
                self._changed.notify()

    def _enter(self) -> None:
        with self._changed:
            admission = self._slots.arrive()
            if admission is Admission.FULL:
                raise self._overloaded()
            if admission is Admission.WAIT:
                while not self._slots.promote():
                    self._changed.wait()

    def _overloaded(self) -> OverloadedError:
        slots = self._slots
        return OverloadedError(
            f"the server is decoding {slots.running} images and has {slots.waiting} waiting, "
            f"its limit (PROV_DECODE_CONCURRENCY={slots.concurrency}, "
            f"PROV_DECODE_QUEUE={slots.queue}); retry in {RETRY_AFTER_S} s (Retry-After)",
            RETRY_AFTER_S,
        )

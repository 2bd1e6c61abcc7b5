"""The lookup pixel cap judges the pixels a decode produces (a JPEG's after draft reduction),
before any is decoded; the cap changes no hash; and the decode gate's counts."""

import io
import threading
from typing import Any

import pytest
from PIL import Image, ImageFile

from registry.errors import OverloadedError, TooLargeError
from registry.imaging.decode import decode
from registry.imaging.gate import Admission, DecodeGate, Slots
from registry.imaging.hashing import hash_image, query_hashes
from tests.support.registry_fixtures import large_jpeg as jpeg
from tests.support.registry_fixtures import picture


def png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(picture(5, (size[0] // 10, size[1] // 10)))).resize(size).save(out, "PNG")
    return out.getvalue()


def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ImageFile.ImageFile) -> Any:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- the cap ---


def test_a_jpeg_is_judged_by_the_pixels_its_draft_decodes() -> None:
    data = jpeg((8000, 6000))  # 48 MP: prep-v1 decodes it at 1/8, 1000 x 750
    assert decode(data, "camera.jpg", max_decoded_pixels=750_000).rgb.size == (1000, 750)
    with pytest.raises(TooLargeError) as caught:
        decode(data, "camera.jpg", max_decoded_pixels=749_999)
    message = str(caught.value)
    assert caught.value.code == "image_too_large"
    assert "1000x750 = 750000 pixels decoded, limit 749999" in message
    assert "PROV_LOOKUP_MAX_PIXELS" in message and "camera.jpg" in message


def test_other_formats_decode_in_full_so_the_cap_is_on_their_full_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = png((2000, 1000))
    assert decode(data, "found.png", max_decoded_pixels=2_000_000).width == 2000
    no_decoding(monkeypatch)  # refused from the header: no pixel is decoded
    with pytest.raises(TooLargeError, match=r"2000x1000 = 2000000 pixels decoded, limit 1999999"):
        query_hashes(data, "found.png", max_decoded_pixels=1_999_999)


def test_the_cap_changes_no_hash() -> None:
    """prep-v1 is the same with and without the cap (stored hashes depend on it)."""
    for data in (jpeg((4000, 3000)), png((1200, 900)), jpeg((600, 500))):
        assert query_hashes(data, max_decoded_pixels=10**8) == query_hashes(data)
        capped = decode(data, "x", max_decoded_pixels=10**8).rgb
        assert capped.tobytes() == decode(data, "x").rgb.tobytes()
    assert hash_image(jpeg((4000, 3000))) == hash_image(jpeg((4000, 3000)))


# --- the decode gate ---


def test_slots_run_then_queue_then_refuse() -> None:
    slots = Slots(concurrency=2, queue=1)
    assert [slots.arrive() for _ in range(4)] == [
        Admission.RUN,
        Admission.RUN,
        Admission.WAIT,
        Admission.FULL,  # not counted
    ]
    assert (slots.running, slots.waiting) == (2, 1)
    assert not slots.promote()  # no free slot yet
    slots.finish()
    assert slots.promote() and (slots.running, slots.waiting) == (2, 0)
    # A free slot goes to whoever waits before a newcomer.
    slots.finish()
    assert slots.arrive() is Admission.RUN
    with pytest.raises(ValueError):
        Slots(concurrency=0, queue=0)


def test_a_full_gate_refuses_at_once_and_a_waiter_runs_when_a_slot_frees() -> None:
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        if not entered.is_set():
            entered.set()
            assert release.wait(timeout=60)

    gate = DecodeGate(concurrency=1, queue=1, on_enter=hold)
    results: list[str] = []
    first = threading.Thread(target=lambda: results.append(gate.run(lambda: "first")))
    first.start()
    assert entered.wait(timeout=60)
    waiter = threading.Thread(target=lambda: results.append(gate.run(lambda: "waiter")))
    waiter.start()
    for _ in range(6000):  # until the waiter is queued: a generous bound, not a timing
        if gate.counts() == (1, 1):
            break
        threading.Event().wait(0.01)
    assert gate.counts() == (1, 1)
    with pytest.raises(OverloadedError) as caught:
        gate.run(lambda: "refused")
    assert caught.value.code == "overloaded" and caught.value.retry_after_s == 1
    assert "PROV_DECODE_CONCURRENCY=1" in str(caught.value)
    assert "PROV_DECODE_QUEUE=1" in str(caught.value)
    release.set()
    first.join(timeout=60)
    waiter.join(timeout=60)
    assert results == ["first", "waiter"]
    assert gate.counts() == (0, 0)


def test_a_failed_decode_frees_its_slot() -> None:
    gate = DecodeGate(concurrency=1, queue=0)

    def fail() -> None:
        raise TooLargeError("too big", code="image_too_large")

    with pytest.raises(TooLargeError):
        gate.run(fail)
    assert gate.run(lambda: 7) == 7

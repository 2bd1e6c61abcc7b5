import pytest

from registry.wording import duration, iso_utc, plural


def test_iso_utc_is_iso_8601_with_a_z() -> None:
    assert iso_utc(1_577_836_800_000) == "2020-01-01T00:00:00Z"
    assert iso_utc(1_577_836_800_999) == "2020-01-01T00:00:00Z"


def test_iso_utc_says_a_time_beyond_the_calendar() -> None:
    assert "beyond the calendar" in iso_utc(2**63 - 1)


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 captures"), (1, "1 capture"), (2, "2 captures"), (1500, "1,500 captures")],
)
def test_plural_agrees_with_its_count(count: int, expected: str) -> None:
    assert plural(count, "capture") == expected


@pytest.mark.parametrize(
    ("ms", "expected"),
    [
        (0, "0 seconds"),
        (1_000, "1 second"),
        (12_999, "12 seconds"),
        (60_000, "1 minute"),
        (7_260_000, "2 hours"),
        (86_400_000 * 5, "5 days"),
        (-5, "0 seconds"),
    ],
)
def test_duration_truncates_to_its_largest_unit(ms: int, expected: str) -> None:
    assert duration(ms) == expected

"""Schedules as Knative's PingSource reads them, with cron's semantics, time zones and DST."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from springhead_ping.schedule import ScheduleError, parse_schedule

UTC_NOON = datetime(2026, 11, 18, 12, 0, 0, tzinfo=UTC)  # a Wednesday


def ticks(expression: str, start: datetime, count: int, timezone: str = "") -> list[datetime]:
    schedule = parse_schedule(expression, timezone)
    found: list[datetime] = []
    tick = schedule.next_tick(None, start)
    while len(found) < count:
        found.append(tick)
        tick = schedule.next_tick(tick, tick)
    return found


def utc_iso(moments: list[datetime]) -> list[str]:
    return [m.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") for m in moments]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", ["2026-11-18 12:00:00", "2026-11-18 12:01:00"]),
        ("*/15 * * * *", ["2026-11-18 12:00:00", "2026-11-18 12:15:00"]),
        ("*/10 * * * * *", ["2026-11-18 12:00:00", "2026-11-18 12:00:10"]),
        ("30 5 * * * *", ["2026-11-18 12:05:30", "2026-11-18 13:05:30"]),
        ("0 9 * * 1-5", ["2026-11-19 09:00:00", "2026-11-20 09:00:00", "2026-11-23 09:00:00"]),
        ("0 9 * * MON-FRI", ["2026-11-19 09:00:00", "2026-11-20 09:00:00", "2026-11-23 09:00:00"]),
        ("0 0 * * 0", ["2026-11-22 00:00:00", "2026-11-29 00:00:00"]),
        ("0 0 * * 7", ["2026-11-22 00:00:00", "2026-11-29 00:00:00"]),
        ("0 0 * * sun", ["2026-11-22 00:00:00", "2026-11-29 00:00:00"]),
        ("0 0 * * */2", ["2026-11-19 00:00:00", "2026-11-21 00:00:00", "2026-11-22 00:00:00"]),
        ("0 0 * * 5-7", ["2026-11-20 00:00:00", "2026-11-21 00:00:00", "2026-11-22 00:00:00"]),
        ("0 0 1 jan ?", ["2027-01-01 00:00:00"]),
        # Both day fields restricted: either matches (cron), not both (APScheduler).
        ("0 0 20 * 1", ["2026-11-20 00:00:00", "2026-11-23 00:00:00", "2026-11-30 00:00:00"]),
        # ... away from midnight, where each branch must keep the hour and minute
        ("30 9 20 * 1", ["2026-11-20 09:30:00", "2026-11-23 09:30:00", "2026-11-30 09:30:00"]),
        # N/step from a day: 1/2 is Monday, Wednesday, Friday (not Sunday)
        ("0 0 * * 1/2", ["2026-11-20 00:00:00", "2026-11-23 00:00:00", "2026-11-25 00:00:00"]),
        # ... and runs to Saturday: 2/2 is Tuesday, Thursday, Saturday
        ("0 0 * * 2/2", ["2026-11-19 00:00:00", "2026-11-21 00:00:00", "2026-11-24 00:00:00"]),
        ("0 0 * * */1", ["2026-11-19 00:00:00", "2026-11-20 00:00:00", "2026-11-21 00:00:00"]),
        # comma lists, by number and by name
        ("0 0 * * 1,3", ["2026-11-23 00:00:00", "2026-11-25 00:00:00", "2026-11-30 00:00:00"]),
        ("0 0 * * tue,thu", ["2026-11-19 00:00:00", "2026-11-24 00:00:00", "2026-11-26 00:00:00"]),
        ("@hourly", ["2026-11-18 12:00:00", "2026-11-18 13:00:00"]),
        ("@daily", ["2026-11-19 00:00:00"]),
        ("@midnight", ["2026-11-19 00:00:00"]),
        ("@weekly", ["2026-11-22 00:00:00"]),
        ("@monthly", ["2026-12-01 00:00:00"]),
        ("@yearly", ["2027-01-01 00:00:00"]),
        ("@annually", ["2027-01-01 00:00:00"]),
    ],
)
def test_schedule_ticks(expression: str, expected: list[str]) -> None:
    assert utc_iso(ticks(expression, UTC_NOON, len(expected))) == expected


def test_default_zone_is_utc() -> None:
    assert parse_schedule("0 9 * * *").timezone == ZoneInfo("UTC")


@pytest.mark.parametrize("prefix", ["CRON_TZ", "TZ"])
def test_zone_prefix(prefix: str) -> None:
    schedule = parse_schedule(f"{prefix}=Asia/Tokyo 0 9 * * *")
    assert schedule.timezone == ZoneInfo("Asia/Tokyo")
    assert utc_iso(ticks(f"{prefix}=Asia/Tokyo 0 9 * * *", UTC_NOON, 1)) == ["2026-11-19 00:00:00"]


def test_timezone_setting() -> None:
    assert utc_iso(ticks("0 9 * * *", UTC_NOON, 1, "America/New_York")) == ["2026-11-18 14:00:00"]


@pytest.mark.parametrize(
    ("expression", "timezone", "message"),
    [
        ("", "", "empty"),
        ("* * * *", "", "has 4 fields"),
        ("* * * * * * *", "", "has 7 fields"),
        ("61 * * * *", "", "invalid schedule"),
        ("* 25 * * *", "", "invalid schedule"),
        ("* * 32 * *", "", "invalid schedule"),
        ("* * * 13 *", "", "invalid schedule"),
        ("* * * * 8", "", "outside 0-7"),
        ("* * * * 5-1", "", "backwards"),
        ("* * * * funday", "", "not a number"),
        ("* * * * monday", "", "not a number"),
        ("* * * * 1-3-5", "", "not a number"),
        ("* * * * */0", "", "at least 1"),
        ("@fortnightly", "", "unknown descriptor"),
        ("@every 5m", "", "unknown descriptor"),
        ("CRON_TZ=Mars/Olympus 0 * * * *", "", "unknown time zone"),
        ("CRON_TZ=Europe/Paris 0 * * * *", "Europe/Berlin", "a CRON_TZ= prefix .* use one of them"),
        ("TZ=Europe/Paris 0 * * * *", "Europe/Berlin", "a TZ= prefix"),
        ("0 * * * *", "Not/AZone", "unknown time zone"),
    ],
)
def test_invalid_schedules(expression: str, timezone: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(expression, timezone)


BERLIN = ZoneInfo("Europe/Berlin")


def test_spring_forward_fires_the_skipped_time_once_after_the_change() -> None:
    # 2026-03-29 02:00 CET the clocks jump to 03:00 CEST: 02:30 does not exist that night.
    found = ticks("30 2 * * *", datetime(2026, 3, 28, 0, 0, tzinfo=BERLIN), 3, "Europe/Berlin")
    assert utc_iso(found) == [
        "2026-03-28 01:30:00",  # 02:30 CET
        "2026-03-29 01:30:00",  # the skipped 02:30, fired at 03:30 CEST: the same instant
        "2026-03-30 00:30:00",  # 02:30 CEST
    ]


def test_fall_back_fires_a_fixed_hour_once() -> None:
    # 2026-10-25 03:00 CEST the clocks go back to 02:00 CET: 02:30 happens twice.
    found = ticks("30 2 * * *", datetime(2026, 10, 24, 0, 0, tzinfo=BERLIN), 3, "Europe/Berlin")
    assert utc_iso(found) == [
        "2026-10-24 00:30:00",
        "2026-10-25 00:30:00",  # the first 02:30 only
        "2026-10-26 01:30:00",
    ]


def test_fall_back_fires_a_wildcard_hour_in_both_real_hours() -> None:
    found = ticks("30 * * * *", datetime(2026, 10, 25, 1, 0, tzinfo=BERLIN), 4, "Europe/Berlin")
    assert utc_iso(found) == [
        "2026-10-24 23:30:00",  # 01:30 CEST
        "2026-10-25 00:30:00",  # 02:30 CEST
        "2026-10-25 01:30:00",  # 02:30 CET: a different real hour
        "2026-10-25 02:30:00",  # 03:30 CET
    ]


def test_a_fixed_hour_after_the_repeated_hour_fires_when_now_is_in_the_repeated_hour() -> None:
    # now is 02:10 CET, the second 02:10 of 2026-10-25; 03:00 CET comes once, 50 minutes later.
    now = datetime(2026, 10, 25, 2, 10, tzinfo=BERLIN, fold=1)
    tick = parse_schedule("0 3 * * *", "Europe/Berlin").next_tick(None, now)
    assert utc_iso([tick]) == ["2026-10-25 02:00:00"]


def test_a_schedule_cannot_be_changed() -> None:
    schedule = parse_schedule("0 9 * * *")
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.fixed_hour = False  # type: ignore[misc]


def test_ticks_are_strictly_increasing_through_a_dst_year() -> None:
    found = ticks("*/30 * * * *", datetime(2026, 1, 1, tzinfo=BERLIN), 365 * 48, "Europe/Berlin")
    instants = [t.timestamp() for t in found]
    assert all(b > a for a, b in zip(instants, instants[1:], strict=False))


def test_ticks_between() -> None:
    schedule = parse_schedule("0 * * * *")
    start = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    end = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    assert utc_iso(schedule.ticks_between(start, end)) == [
        "2026-11-18 10:00:00",
        "2026-11-18 11:00:00",
        "2026-11-18 12:00:00",
    ]


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    expression=st.sampled_from(["* * * * * *", "*/7 * * * *", "30 9 20 * 1", "0 2 * * *"]),
    timezone=st.sampled_from(["", "Europe/Berlin", "America/New_York"]),
)
def test_the_first_tick_is_never_before_now(now: datetime, expression: str, timezone: str) -> None:
    # APScheduler's triggers answer the first fire time at or after ``now`` (the or-trigger the
    # earliest of its triggers'), so next_tick has no earlier tick to skip.
    assert parse_schedule(expression, timezone).next_tick(None, now) >= now

"""Cron schedules as Knative's PingSource reads them, turned into APScheduler triggers.

Accepted: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first;
the descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly; a ``CRON_TZ=<zone>``
or ``TZ=<zone>`` prefix. Semantics follow cron rather than APScheduler where they differ:
day-of-week 0 and 7 are Sunday, and when both day-of-month and day-of-week are restricted a day
matching either one fires (as robfig/cron, which Knative uses, and Vixie cron do).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

__all__ = ["Schedule", "ScheduleError", "parse_schedule", "parse_timezone"]

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_TZ_PREFIX = re.compile(r"^(CRON_TZ|TZ)=(\S+)\s+(.*)$", re.DOTALL)
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_UNRESTRICTED = ("*", "?")


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the trigger, its zone, and whether the hour is fixed.

    A schedule with a fixed hour (``30 2 * * *``) fires once on the night clocks go back, as
    cron does; a wildcard hour (``30 * * * *``) fires in both real hours.
    """

    expression: str
    timezone: ZoneInfo
    trigger: BaseTrigger
    fixed_hour: bool

    def next_tick(self, after: datetime | None, now: datetime) -> datetime:
        """The first tick later than ``after`` (or at/after ``now`` when ``after`` is None).

        Ticks in the repeated hour of a fall-back are skipped for fixed-hour schedules.
        Returned times are aware, in the schedule's zone.
        """
        previous = after
        current = now.astimezone(self.timezone)
        while True:
            tick: datetime | None = self.trigger.get_next_fire_time(previous, previous or current)
            if tick is None:  # pragma: no cover - cron triggers without end dates never end
                raise ScheduleError(f"schedule {self.expression!r} has no further ticks")
            if self.fixed_hour and _repeated_wall_time(tick):
                previous = tick
                continue
            return tick

    def ticks_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every tick ``t`` with ``start < t <= end``, in order."""
        ticks: list[datetime] = []
        tick = self.next_tick(start, start)
        while tick <= end:
            ticks.append(tick)
            tick = self.next_tick(tick, tick)
        return ticks


def _repeated_wall_time(tick: datetime) -> bool:
    """True for the second occurrence of a wall-clock time when clocks go back."""
    if not tick.fold:
        return False
    first = tick.replace(fold=0)
    return first.utcoffset() != tick.utcoffset()


def parse_timezone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (empty: UTC)."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin)"
        ) from None


def parse_schedule(expression: str, timezone: str = "") -> Schedule:
    """Parse ``expression`` for zone ``timezone`` (IANA name; empty means UTC).

    A ``CRON_TZ=``/``TZ=`` prefix is allowed only when ``timezone`` is empty.
    """
    text = expression.strip()
    if not text:
        raise ScheduleError("schedule is empty")
    prefix = _TZ_PREFIX.match(text)
    if prefix is not None:
        if timezone:
            raise ScheduleError(
                f"schedule has a {prefix.group(1)}= prefix and a time zone is also set; "
                "use one of them"
            )
        timezone, text = prefix.group(2), prefix.group(3).strip()
    zone = parse_timezone(timezone)
    if text.startswith("@"):
        cron = _DESCRIPTORS.get(text.lower())
        if cron is None:
            raise ScheduleError(
                f"unknown descriptor {text!r} (known: {', '.join(sorted(_DESCRIPTORS))})"
            )
        text = cron
    fields = text.lower().split()
    if len(fields) == 5:
        fields.insert(0, "0")
    elif len(fields) != 6:
        raise ScheduleError(
            f"schedule {expression!r} has {len(fields)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week) or 6 (seconds first)"
        )
    second, minute, hour, dom, month, dow = (f.replace("?", "*") for f in fields)
    try:
        days = _cron_days_of_week(dow)
        common = {
            "second": second,
            "minute": minute,
            "hour": hour,
            "month": month,
            "timezone": zone,
        }
        trigger: BaseTrigger
        if dom.startswith("*") or dow.startswith("*"):
            trigger = CronTrigger(day=dom, day_of_week=days, **common)
        else:
            trigger = OrTrigger(
                [
                    CronTrigger(day=dom, day_of_week="*", **common),
                    CronTrigger(day="*", day_of_week=days, **common),
                ]
            )
    except ValueError as exc:
        raise ScheduleError(f"invalid schedule {expression!r}: {exc}") from None
    return Schedule(expression, zone, trigger, fixed_hour=not hour.startswith("*"))


def _cron_days_of_week(field: str) -> str:
    """Cron's day-of-week field (0 or 7 = Sunday) as APScheduler day names."""
    if field in _UNRESTRICTED:
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        base, slash, step_text = item.partition("/")
        step = _number(step_text, "step") if slash else 1
        if step < 1:
            raise ValueError(f"day-of-week step must be at least 1 in {item!r}")
        if base in _UNRESTRICTED:
            low, high = 0, 6
        elif "-" in base:
            low_text, high_text = base.split("-", 1)
            low, high = _day(low_text), _day(high_text)
        else:
            low = _day(base)
            high = 6 if slash else low
        if low > high:
            raise ValueError(f"day-of-week range {item!r} runs backwards")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


def _day(text: str) -> int:
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    day = _number(text, "day of week")  # digits only: never negative
    if day > 7:
        raise ValueError(f"day of week {text!r} is outside 0-7")
    return day


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{what} {text!r} is not a number")
    return int(text)

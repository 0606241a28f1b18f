"""When a ruleset is active: days of the week and time windows in an IANA time zone.

Evaluated against the ``now`` the caller passes in (the engine never reads a clock). A window whose
end is before its start runs past midnight: ``22:00``-``06:00`` on Friday covers Friday night until
Saturday 06:00. Start is inclusive, end exclusive.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _clock(value: Any) -> Any:
    if isinstance(value, int):
        # YAML 1.1 reads an unquoted 07:30 as the number 450.
        raise ValueError("write times in quotes, e.g. '07:30'")
    if isinstance(value, str) and value != "24:00" and not _CLOCK.match(value):
        raise ValueError("a time is written HH:MM (00:00 to 24:00)")
    return value


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class Window(_Model):
    """Days the window starts on (all when left out) and a start/end time of day."""

    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1)
    start: str = "00:00"
    end: str = "24:00"

    _clock_format = field_validator("start", "end", mode="before")(_clock)

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == "24:00":
            raise ValueError("a window cannot start at 24:00")
        if _minutes(self.start) == _minutes(self.end):
            raise ValueError("a window's start and end are the same time")
        return self

    def contains(self, weekday: int, minute: int) -> bool:
        start, end = _minutes(self.start), _minutes(self.end)
        starts_today = DAYS[weekday] in self.days
        if start < end:
            return starts_today and start <= minute < end
        # Past midnight: the late part belongs to today's window, the early part to yesterday's.
        started_yesterday = DAYS[(weekday - 1) % 7] in self.days
        return (starts_today and minute >= start) or (started_yesterday and minute < end)


class Schedule(_Model):
    timezone: str = "UTC"
    windows: list[Window] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, key: str) -> str:
        try:
            ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (use an IANA name such as Europe/Berlin)") from None
        return key

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` (timezone-aware) falls in any window, read in this schedule's zone."""
        local = now.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        return any(window.contains(local.weekday(), minute) for window in self.windows)


__all__ = ["DAYS", "Schedule", "Window"]

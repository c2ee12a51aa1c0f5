"""Usage limits: where a benefit's period starts and how many uses are left. Pure, shared by the till and tests.

A period is a calendar period in the city's time zone: a day from midnight, a week from Monday's midnight, a
month from the first, a year from the first of January; ``ever`` has no start. A limit counts uses (redemptions,
whatever their quantity: "once a month" means one visit); a quota counts the tickets given (the quantities).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from familienkarte.benefits.models import LimitPeriod


def period_start(period: LimitPeriod | str, now: dt.datetime, timezone: ZoneInfo) -> dt.datetime | None:
    """The start (UTC) of the period that contains ``now`` in ``timezone``; None for ``ever``."""
    period = LimitPeriod(period)
    if period is LimitPeriod.EVER:
        return None
    day = now.astimezone(timezone).date()
    if period is LimitPeriod.WEEK:
        day -= dt.timedelta(days=day.weekday())
    elif period is LimitPeriod.MONTH:
        day = day.replace(day=1)
    elif period is LimitPeriod.YEAR:
        day = day.replace(month=1, day=1)
    return dt.datetime.combine(day, dt.time(), tzinfo=timezone).astimezone(dt.UTC)


def left(allowed: int | None, used: int) -> int | None:
    """What is left of ``allowed`` after ``used`` (never below 0); None when nothing limits it."""
    if allowed is None:
        return None
    return max(0, allowed - used)

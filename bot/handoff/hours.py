"""When staff answer the queue: the halls' sessions on working days.

Why the booking sessions: data/kb/halls.yml has no verified office hours (each hall's
`hours` is a configuration value, often unset), but its `sessions` are when the halls
receive citizens, so when staff are at the counter and the console. Working days, with
调休 and holidays, come from bot.calendar. Times are hall-local (Asia/Shanghai), naive, as
the booking repository compares them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Iterable, List, Optional, Sequence, Tuple

from bot.calendar import is_working_day

TIMEZONE = "Asia/Shanghai"
#: How far ahead the next opening is looked for (a long holiday is at most ~10 days).
LOOKAHEAD_DAYS = 30

Session = Tuple[time, time]


def local_now() -> datetime:
    """Hall-local wall-clock time, naive."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None)


def _parse(hhmm: str) -> time:
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def staffed_sessions(pairs: Optional[Iterable[Sequence[str]]] = None) -> List[Session]:
    """The union of every hall's sessions (data/kb/halls.yml), sorted; `pairs` for tests."""
    if pairs is None:
        from bot.kb import get_kb

        pairs = [p for hall in get_kb().halls.values() for p in hall.sessions]
    sessions = sorted({(_parse(a), _parse(b)) for a, b in pairs})
    merged: List[Session] = []
    for start, end in sessions:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def is_staffed(now: datetime, sessions: Optional[List[Session]] = None) -> bool:
    """Inside a session on a working day. Without any sessions configured: any working-day time."""
    sessions = staffed_sessions() if sessions is None else sessions
    if not is_working_day(now.date()):
        return False
    if not sessions:
        return True
    return any(start <= now.time() < end for start, end in sessions)


def next_opening(now: datetime, sessions: Optional[List[Session]] = None) -> Optional[datetime]:
    """The next session start after `now` (on a working day); None if none within reach."""
    sessions = staffed_sessions() if sessions is None else sessions
    starts = [start for start, _ in sessions] or [time(0, 0)]
    day: date = now.date()
    for _ in range(LOOKAHEAD_DAYS + 1):
        if is_working_day(day):
            for start in starts:
                candidate = datetime.combine(day, start)
                if candidate > now:
                    return candidate
        day += timedelta(days=1)
    return None

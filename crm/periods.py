"""The period a report covers, as a manager names it: 今天, 昨天, 本周, 上周, 本月, 上月, 近7天,
近30天, a date (11-20), or two (11-01 11-15, 2026年11月1日至11月15日, 2026-11-01..2026-11-15).
Days, weeks and months are the configured time zone's; a period never runs past now, and the
one it is compared with is the same stretch of time just before it (today so far against
yesterday until the same hour)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

MAX_DAYS = 366


class PeriodError(ValueError):
    """The words name no period; the message says so in Chinese, with examples."""


@dataclass(frozen=True)
class Period:
    name: str  # as the report's title says it: 今天 (11-24), 2026-11-01 至 2026-11-15
    start: datetime  # aware, in the configured time zone
    end: datetime  # exclusive
    previous_start: datetime
    previous_end: datetime

    def days(self) -> list[date]:
        """The days the period touches, first to last."""
        last = (self.end - timedelta(microseconds=1)).date()
        return [self.start.date() + timedelta(days=n)
                for n in range((last - self.start.date()).days + 1)]  # fmt: skip

    def bounds(self) -> list[datetime]:
        """The edges of its days: start, each midnight inside it, end."""
        tz = self.start.tzinfo
        inner = [datetime.combine(day, time(), tz) for day in self.days()[1:]]
        return [self.start, *inner, self.end]

    def previous_bounds(self) -> list[datetime]:
        return [self.previous_start, self.previous_end]


WORDS = ("今天", "昨天", "本周", "上周", "本月", "上月", "近7天", "近30天")
ALIASES = {
    "今日": "今天", "昨日": "昨天", "这周": "本周", "本星期": "本周", "上星期": "上周",
    "这个月": "本月", "上个月": "上月", "近一周": "近7天", "最近7天": "近7天", "近七天": "近7天",
    "最近30天": "近30天", "近三十天": "近30天", "近一个月": "近30天",
}  # fmt: skip
HINT = "可以写：今天、昨天、本周、上周、本月、上月、近7天、近30天，或日期，如 11-20、11-01 11-15"
_DATE = re.compile(r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_BETWEEN = re.compile(r"^\s*(?:到|至|~|～|—|-|–|\.\.|,|，|to)?\s*$")


def is_period(text: str) -> bool:
    """Whether the words look like a period (a word of WORDS, or dates)."""
    return _word(text) is not None or bool(_DATE.search(text))


def _word(text: str) -> str | None:
    text = text.strip()
    return text if text in WORDS else ALIASES.get(text)


def parse(text: str, now: datetime) -> Period:
    """The period the words name (empty: today so far); PeriodError if they name none."""
    word = _word(text) if text.strip() else "今天"
    if word is not None:
        return _named(word, now)
    return _dates(text, now)


def _named(word: str, now: datetime) -> Period:
    today = datetime.combine(now.date(), time(), now.tzinfo)
    monday = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    if word == "今天":
        return _span(f"今天（{today:%m-%d}）", today, now, today - timedelta(days=1))
    if word == "昨天":
        yesterday = today - timedelta(days=1)
        return _span(f"昨天（{yesterday:%m-%d}）", yesterday, today, yesterday - timedelta(days=1))
    if word == "本周":
        return _span(f"本周（{monday:%m-%d} 起）", monday, now, monday - timedelta(days=7))
    if word == "上周":
        start = monday - timedelta(days=7)
        return _span(f"上周（{start:%m-%d} 至 {monday - timedelta(days=1):%m-%d}）", start, monday,
                     start - timedelta(days=7))  # fmt: skip
    if word == "本月":
        return _span(f"本月（{month:%Y-%m}）", month, now, _month_before(month))
    if word == "上月":
        start = _month_before(month)
        return _span(f"上月（{start:%Y-%m}）", start, month, _month_before(start))
    days = 7 if word == "近7天" else 30
    start = today - timedelta(days=days - 1)
    return _span(f"近{days}天（{start:%m-%d} 至 {today:%m-%d}）", start, now,
                 start - timedelta(days=days))  # fmt: skip


def _month_before(first: datetime) -> datetime:
    return (first - timedelta(days=1)).replace(day=1)


def _span(name: str, start: datetime, end: datetime, previous_start: datetime) -> Period:
    """The period, and the one before it: as long, from previous_start (never past start)."""
    previous_end = min(previous_start + (end - start), start)
    return Period(name, start, end, previous_start, previous_end)


def _dates(text: str, now: datetime) -> Period:
    found = list(_DATE.finditer(text))
    rest = _DATE.sub(" ", text)
    if len(found) not in (1, 2) or not _BETWEEN.match(rest.replace(" ", "") or " "):
        raise PeriodError(f"没看懂时间「{text.strip()}」。{HINT}")
    first, last = _years(found * (3 - len(found)), now.date())  # one date: that day
    if first > last:
        first, last = last, first
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(f"时间最长一年（{MAX_DAYS}天）。{HINT}")
    if first > now.date():
        raise PeriodError(f"{first} 还没到。{HINT}")
    tz = now.tzinfo
    start = datetime.combine(first, time(), tz)
    whole_end = datetime.combine(last + timedelta(days=1), time(), tz)
    name = f"{first} 至 {last}" if first != last else f"{first}"
    return _span(name, start, min(whole_end, now), start - (whole_end - start))


def _years(found: list[re.Match], today: date) -> tuple[date, date]:
    """The two dates; one written without its year takes the other's, and with neither the
    range is the latest that does not start in the future (12-20 01-05 in November: last
    December to this January)."""
    (year1, month1, day1), (year2, month2, day2) = (match.groups() for match in found)
    given = year1 or year2
    first = _day(found[0], int(year1 or given or today.year), month1, day1)
    if not given and first > today:
        first = _day(found[0], today.year - 1, month1, day1)
    last = _day(found[1], int(year2 or given or first.year), month2, day2)
    if not given and last < first:
        last = _day(found[1], first.year + 1, month2, day2)
    return first, last


def _day(match: re.Match, year: int, month: str, day: str) -> date:
    try:
        return date(year, int(month), int(day))
    except ValueError as exc:
        raise PeriodError(f"「{match.group(0).strip()}」不是有效的日期。{HINT}") from exc

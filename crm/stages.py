"""Lifecycle stages (备孕期 … 幼儿期): which stage a mother is in on any day, from her due date or
her baby's birthday, and how far along she is (孕X周+Y天, X个月Y天). Pure rules, no I/O; the
boundaries come from [stages]."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from crm.config import StageSettings

PREPARING, EARLY, MID, LATE = "备孕期", "孕早期", "孕中期", "孕晚期"
NEWBORN, INFANT, TODDLER = "新生儿期", "婴儿期", "幼儿期"
STAGES = (PREPARING, EARLY, MID, LATE, NEWBORN, INFANT, TODDLER)
PREGNANT = (EARLY, MID, LATE)
TERM_DAYS = 280  # a pregnancy, from the first day of the last period to the due date
NEW_PREGNANCY_AFTER = timedelta(days=TERM_DAYS)  # a due date this long after a birth is 二宝


# What a mother can truly have: a due date at most 300 days ahead (a pregnancy lasts about
# 280) and at most 14 days past (the birth not told yet); a birthday not in the future and at
# most 6 years back (past 幼儿期, mombot has nothing to say).
MAX_DUE_AHEAD, MAX_DUE_PAST = timedelta(days=300), timedelta(days=14)
MAX_BABY_AGE_YEARS = 6


def implausible(kind: str, day: date, today: date) -> str:
    """Why a due date ("due_date") or a birthday ("birthday") cannot be true today; "" if it
    can. The parser and every other way a date comes in keep to this."""
    if kind == "due_date":
        if day > today + MAX_DUE_AHEAD:
            return f"is more than {MAX_DUE_AHEAD.days} days ahead (a pregnancy lasts about 280)"
        if day < today - MAX_DUE_PAST:
            return f"is more than {MAX_DUE_PAST.days} days past (record the birthday instead)"
        return ""
    if day > today:
        return "is in the future"
    if day < add_months(today, -12 * MAX_BABY_AGE_YEARS):
        return f"is more than {MAX_BABY_AGE_YEARS} years back"
    return ""


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later (or earlier), clipped to the month's end."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def stage_on(
    day: date,
    due_date: date | None,
    birthday: date | None,
    trying: bool,
    rules: StageSettings,
) -> str | None:
    """Her stage on `day`, or None when nothing is known (or her child is past 幼儿期)."""
    pregnant = due_date is not None and (
        birthday is None or due_date > birthday + NEW_PREGNANCY_AFTER
    )
    if pregnant:
        days_pregnant = TERM_DAYS - (due_date - day).days
        if days_pregnant < rules.mid_pregnancy_week * 7:
            return EARLY
        if days_pregnant < rules.late_pregnancy_week * 7:
            return MID
        return LATE  # until she tells us the baby came
    if birthday is not None and birthday <= day:
        if (day - birthday).days <= rules.newborn_days:
            return NEWBORN
        if birthday > add_months(day, -rules.infant_months):
            return INFANT
        if birthday > add_months(day, -12 * rules.toddler_years):
            return TODDLER
        return None
    return PREPARING if trying else None


def gestational_age(day: date, due_date: date) -> str:
    """孕X周+Y天."""
    days = TERM_DAYS - (due_date - day).days
    return f"孕{days // 7}周+{days % 7}天"


def baby_age(day: date, birthday: date) -> str:
    """X个月Y天 (or Y天 in the first month), X岁Y个月 from one year."""
    months = (day.year - birthday.year) * 12 + day.month - birthday.month
    months -= 1 if day.day < birthday.day else 0
    if months >= 12:
        years, rest = divmod(months, 12)
        return f"{years}岁{rest}个月" if rest else f"{years}岁"
    days = (day - add_months(birthday, months)).days
    return f"{months}个月{days}天" if months else f"{days}天"


def episode(stage: str, due_date: date | None, birthday: date | None) -> str:
    """Which pregnancy or baby a stage belongs to: "due=<due date>" for the pregnancy stages,
    "born=<birthday>" for the baby's, "trying" for 备孕期. A stage's SOP runs once per episode,
    so a second baby (a new due date) starts its sequences afresh."""
    if stage in PREGNANT:
        return f"due={due_date}"
    if stage == PREPARING:
        return "trying"
    return f"born={birthday}"


def how_far(day: date, stage: str | None, due_date: date | None, birthday: date | None) -> str:
    """孕周 while pregnant, the baby's age after; "" when neither applies."""
    if stage in PREGNANT and due_date is not None:
        return gestational_age(day, due_date)
    if stage and birthday is not None and birthday <= day:
        return baby_age(day, birthday)
    return ""

"""Lifecycle stages: which stage a mother is in on a day, and how far along she is."""

from datetime import date, timedelta

import pytest

from crm.config import StageSettings
from crm.stages import (
    EARLY,
    INFANT,
    LATE,
    MID,
    NEWBORN,
    PREPARING,
    TODDLER,
    baby_age,
    gestational_age,
    stage_on,
)  # fmt: skip

RULES = StageSettings()
DAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    ("due", "birthday", "trying", "stage"),
    [
        (DAY + timedelta(days=280 - 7 * 13 + 1), None, False, EARLY),  # 12w+6d
        (DAY + timedelta(days=280 - 7 * 13), None, False, MID),  # 13w+0d
        (DAY + timedelta(days=280 - 7 * 28 + 1), None, False, MID),
        (DAY + timedelta(days=280 - 7 * 28), None, False, LATE),
        (DAY - timedelta(days=20), None, False, LATE),  # overdue, no birthday yet
        (None, DAY, False, NEWBORN),
        (None, DAY - timedelta(days=28), False, NEWBORN),
        (None, DAY - timedelta(days=29), False, INFANT),
        (None, date(2025, 11, 23), False, INFANT),
        (None, date(2025, 11, 22), False, TODDLER),
        (None, date(2023, 11, 23), False, TODDLER),
        (None, date(2023, 11, 22), False, None),
        (None, None, True, PREPARING),
        (None, None, False, None),
        (DAY + timedelta(days=100), date(2025, 6, 1), False, MID),  # 二宝 on the way
        (date(2026, 11, 1), date(2026, 11, 3), False, NEWBORN),  # born: the birthday wins
        (DAY + timedelta(days=100), DAY, False, NEWBORN),  # born early: still this pregnancy
    ],
)
def test_stage_on(due, birthday, trying, stage):
    assert stage_on(DAY, due, birthday, trying, RULES) == stage


def test_boundaries_are_configurable():
    rules = StageSettings(mid_pregnancy_week=14)
    assert stage_on(DAY, DAY + timedelta(days=280 - 7 * 13), None, False, rules) == EARLY


def test_ages_as_mothers_say_them():
    assert gestational_age(DAY, date(2027, 3, 15)) == "孕23周+6天"
    assert baby_age(DAY, date(2026, 3, 10)) == "8个月12天"
    assert baby_age(DAY, DAY - timedelta(days=9)) == "9天"
    assert baby_age(DAY, date(2025, 5, 22)) == "1岁6个月"

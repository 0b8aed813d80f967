"""Periods as managers name them, in the configured time zone, and the stretch each is
compared with."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from crm import periods, report

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=TZ)  # a Tuesday


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    ("words", "start", "end", "previous_start", "previous_end"),
    [
        ("", at(11, 24), NOW, at(11, 23), at(11, 23, 10, 30)),
        ("今天", at(11, 24), NOW, at(11, 23), at(11, 23, 10, 30)),
        ("昨天", at(11, 23), at(11, 24), at(11, 22), at(11, 23)),
        ("本周", at(11, 23), NOW, at(11, 16), at(11, 17, 10, 30)),
        ("上周", at(11, 16), at(11, 23), at(11, 9), at(11, 16)),
        ("本月", at(11, 1), NOW, at(10, 1), at(10, 24, 10, 30)),
        ("上月", at(10, 1), at(11, 1), at(9, 1), at(10, 1)),
        ("上个月", at(10, 1), at(11, 1), at(9, 1), at(10, 1)),
        ("近7天", at(11, 18), NOW, at(11, 11), at(11, 17, 10, 30)),
        ("近30天", at(10, 26), NOW, at(9, 26), at(10, 25, 10, 30)),
        ("11-01 11-15", at(11, 1), at(11, 16), at(10, 17), at(11, 1)),
        ("2026年11月15日至11月1日", at(11, 1), at(11, 16), at(10, 17), at(11, 1)),
        ("12-20 01-05", at(12, 20, year=2025), at(1, 6), at(12, 3, year=2025),
         at(12, 20, year=2025)),
        ("11/20 - 11/30", at(11, 20), NOW, at(11, 9), at(11, 13, 10, 30)),
        ("2026-11-01..2026-11-15", at(11, 1), at(11, 16), at(10, 17), at(11, 1)),
        ("11-20", at(11, 20), at(11, 21), at(11, 19), at(11, 20)),
    ],
)  # fmt: skip
def test_periods_and_what_they_are_compared_with(words, start, end, previous_start, previous_end):
    period = periods.parse(words, NOW)
    assert (period.start, period.end) == (start, end)
    assert (period.previous_start, period.previous_end) == (previous_start, previous_end)


def test_a_day_boundary_is_midnight_in_shanghai_not_utc():
    period = periods.parse("近7天", NOW)
    assert period.days()[0] == date(2026, 11, 18) and period.days()[-1] == date(2026, 11, 24)
    assert period.bounds()[1] == at(11, 19) and period.bounds()[-1] == NOW
    assert period.bounds()[1].utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("下下周", "没看懂时间「下下周」"),
        ("11-01 11-02 11-03", "没看懂时间「11-01 11-02 11-03」"),
        ("11-01 和 11-05", "没看懂时间「11-01 和 11-05」"),
        ("2-30 3-01", "「2-30」不是有效的日期"),
        ("2024-01-01 2026-01-01", "时间最长一年"),
    ],
)
def test_words_that_name_no_period_are_refused_with_examples(words, says):
    with pytest.raises(periods.PeriodError) as refused:
        periods.parse(words, NOW)
    assert says in str(refused.value) and "近30天" in str(refused.value)


def test_a_report_request_takes_period_and_focus_in_any_order():
    assert report.parse("渠道 本周", NOW).focus == "渠道"
    assert report.parse("上周 sop", NOW).focus == "SOP"
    assert report.parse("", NOW).focus is None
    assert report.parse("顾问", NOW).period.name == "今天（11-24）"
    with pytest.raises(report.RequestError) as refused:
        report.parse("渠道 后天", NOW)
    assert "关注点：渠道、顾问、阶段、SOP" in str(refused.value)

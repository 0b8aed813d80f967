"""How numbers, rates, days and long names read on the charts."""

from datetime import date

import pytest

from charts.labels import day, number, percent, rate, shorten, value


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(120, "120"), (120.0, "120"), (12345, "12,345"), (3.5, "3.5"), (3.25, "3.25"), (-3, "−3"),
     (0, "0")],
)  # fmt: skip
def test_numbers_drop_needless_decimals(amount, shown):
    assert number(amount) == shown


def test_values_take_a_unit_or_read_as_percent():
    assert value(46, unit="人") == "46人"
    assert value(0.125, as_percent=True) == "12.5%"
    assert percent(1) == "100.0%"
    assert percent(0.00001) == "<0.1%"


def test_a_rate_is_later_over_earlier_and_a_dash_after_nothing():
    assert rate(80, 120) == "66.7%"
    assert rate(12, 120) == "10.0%"
    assert rate(5, 0) == "—"


def test_days_read_month_dash_day():
    assert day(date(2026, 11, 23)) == "11-23"
    assert day(date(2027, 1, 5)) == "01-05"


def test_long_names_are_cut_at_ten_chinese_characters():
    assert shorten("门店海报") == "门店海报"
    assert shorten("一二三四五六七八九十") == "一二三四五六七八九十"
    assert shorten("社区妈妈群线下活动推广渠道") == "社区妈妈群线下活动…"
    assert shorten("Xiaohongshu spring campaign") == "Xiaohongshu spring…"

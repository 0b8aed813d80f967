"""Dates as mothers write them: the shared corpus and the more forms corpus (traditional
characters, typos, holidays, baby words, lunar and English dates, full-width digits), 100% right."""

import csv
from datetime import date

import pytest

from crm.dates import Parsed, parse
from tests.support import DATA


def _corpus(name: str) -> list[dict]:
    with open(DATA / "corpus" / name, encoding="utf-8") as corpus:
        return list(csv.DictReader(corpus, delimiter="\t"))


CASES = _corpus("dates-dev.tsv") + _corpus("dates-more.tsv")


@pytest.mark.parametrize("case", CASES, ids=[c["text"] for c in CASES])
def test_corpus(case):
    today = date.fromisoformat(case["today"])
    found = parse(case["text"], today)
    assert found.kind == case["kind"]
    if case["kind"] == "none":
        assert found.date is None
        return
    expected = date.fromisoformat(case["date"])
    assert abs((found.date - expected).days) <= int(case["tolerance_days"]), found
    assert found.approximate == (int(case["tolerance_days"]) > 0), found


# More ways of saying it, checked by hand against a calendar (today 2026-11-22, a Sunday).
MORE = [
    ("预产期：3/15", "due_date", "2027-03-15", False),
    ("预产期是下个月10号", "due_date", "2026-12-10", False),
    ("预产期下月初", "due_date", "2026-12-05", True),
    ("预产期是20号", "due_date", "2026-12-20", False),
    ("预产期是明年的3月", "due_date", "2027-03-15", True),
    ("孕32+2", "due_date", "2027-01-15", False),
    ("孕38周+6天", "due_date", "2026-11-30", False),
    ("还有3个星期", "due_date", "2026-12-13", True),
    ("大宝3岁了，二宝预产期明年2月", "due_date", "2027-02-15", True),
    ("宝宝3个半月", "birthday", "2026-08-07", True),
    ("宝宝半岁", "birthday", "2026-05-22", True),
    ("宝宝1岁2个月", "birthday", "2025-09-22", True),
    ("宝宝上个月3号出生", "birthday", "2026-10-03", False),
    ("10月8号生的", "birthday", "2026-10-08", False),
    ("上周日生的", "birthday", "2026-11-15", False),
    ("宝宝出生在2025年12月", "birthday", "2025-12-15", True),
    ("我家在5号楼", "none", None, False),
    ("宝宝出生3.5公斤", "none", None, False),
    ("我的电话是13912345678", "none", None, False),
    ("预产期是2027年13月5号", "none", None, False),  # no such month
    ("预产期2020年1月1日", "none", None, False),  # long past: implausible
    ("宝宝2030年出生", "none", None, False),  # a birthday in the future
    ("宝宝出生在2019年3月1日", "none", None, False),  # more than six years back
    ("孕晚期了", "none", None, False),
    ("预产期在下周三", "due_date", "2026-11-25", False),
    ("预产期就是明天", "due_date", "2026-11-23", False),
    ("27年3月15日预产期", "due_date", "2027-03-15", False),
    ("宝宝九个多月", "birthday", "2026-02-07", True),
    ("八月份生的", "birthday", "2026-08-15", True),
]


@pytest.mark.parametrize(("text", "kind", "expected", "approximate"), MORE)
def test_more_forms(text, kind, expected, approximate):
    found = parse(text, date(2026, 11, 22))
    assert found.as_json() == {"kind": kind, "date": expected, "approximate": approximate}


def test_pregnancy_months_are_flagged_vague():
    assert parse("孕6个月", date(2026, 11, 22)).vague_months
    assert not parse("孕24周", date(2026, 11, 22)).vague_months


def test_what_she_was_asked_decides_bare_dates():
    today = date(2026, 11, 22)
    assert parse("是3月20号", today).kind == "none"
    assert parse("是3月20号", today, expect="due_date").as_json()["date"] == "2027-03-20"
    assert parse("3月20号", today, expect="birthday").as_json()["date"] == "2026-03-20"


# 2025 repeats its sixth lunar month (闰六月): 六月初十 is 2025-07-04, 闰六月初十 2025-08-03.
def test_a_lunar_day_in_a_repeated_month_asks_which():
    found = parse("农历六月初十生的", date(2025, 11, 22))
    assert found.ambiguous
    assert found.as_json() == {"kind": "none", "date": None, "approximate": False}
    assert parse("预产期农历六月十五", date(2025, 3, 1)).ambiguous
    assert parse("预产期是农历五月初五", date(2028, 1, 10)).ambiguous  # 2028: 闰五月


def test_saying_the_month_or_the_calendar_settles_a_repeated_month():
    today = date(2025, 11, 22)
    assert parse("农历闰六月初十生的", today) == Parsed("birthday", date(2025, 8, 3))
    assert parse("农历润六月初十生的", today) == Parsed("birthday", date(2025, 8, 3))  # typo
    assert parse("宝宝农历七月初十生的", today) == Parsed("birthday", date(2025, 9, 1))
    # the leap 六月二十 (2025-08-13) is still to come: only the regular one can be her birthday
    assert parse("农历六月二十生的", date(2025, 8, 10)) == Parsed("birthday", date(2025, 7, 14))
    # the regular 六月十五 (2025-07-09) is three weeks gone: only the leap one can be due
    assert parse("预产期农历六月十五", date(2025, 7, 30)) == Parsed("due_date", date(2025, 8, 8))


def test_no_ambiguity_without_a_repeated_month():
    today = date(2026, 11, 22)
    assert not parse("农历八月十五生的", today).ambiguous
    assert not parse("预产期农历闰六月", today).ambiguous  # no 闰六月 near: refused, not asked
    assert not parse("你好", today).ambiguous

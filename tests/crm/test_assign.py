"""[[assign]] rules on a real database: which rule matches, who is on duty, daily caps, and
the turns of round_robin and least_open."""

from datetime import datetime

import pytest

from crm import assign
from store.db import session
from store.models import Contact, ContactStatus
from tests.support import TZ, make_settings

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=TZ)


def settings(tmp_path, rules, off_duty=(), public_pool=False):
    return make_settings(tmp_path, assign=rules, leads={"off_duty": list(off_duty)},
                         followup={"public_pool": public_pool})  # fmt: skip


def lead(s, **fields) -> Contact:
    contact = Contact(created_at=NOON, updated_at=NOON, **fields)
    s.add(contact)
    s.flush()
    return contact


def owners(engine, rules_settings, leads_fields, now=NOON):
    with session(engine) as s:
        chosen = []
        for fields in leads_fields:
            choice = assign.assign(s, rules_settings, lead(s, **fields), now)
            chosen.append(choice.userid if choice else None)
        s.commit()
        return chosen


def test_the_first_matching_rule_with_someone_free_decides(engine, tmp_path):
    rules = settings(tmp_path, [
        {"name": "上海医院", "cities": ["上海"], "sources": ["协和医院"], "advisors": ["a"]},
        {"name": "孕晚期", "stages": ["孕晚期"], "advisors": ["b"]},
        {"advisors": ["c"]},
    ])  # fmt: skip
    assert owners(engine, rules, [
        {"city": "上海", "source": "协和医院"}, {"city": "上海市", "source": "官网"},
        {"stage": "孕晚期"}, {"city": "北京", "source": "协和医院"},
    ]) == ["a", "c", "b", "c"]  # fmt: skip


def test_round_robin_takes_turns_and_passes_over_who_is_away_or_capped(engine, tmp_path):
    rules = settings(tmp_path, [{"advisors": ["a", "b", "c"], "daily_cap": 2}], off_duty=["b"])
    assert owners(engine, rules, [{}] * 5) == ["a", "c", "a", "c", None]


def test_least_open_gives_to_whoever_has_fewest_open_leads(engine, tmp_path):
    with session(engine) as s:
        for status in (ContactStatus.NEW, ContactStatus.CONTACTED, ContactStatus.SIGNED):
            lead(s, owner_userid="a", status=status)
        lead(s, owner_userid="b", status=ContactStatus.INTERESTED)
        s.commit()
    rules = settings(tmp_path, [{"advisors": ["a", "b"], "method": "least_open"}])
    assert owners(engine, rules, [{}] * 3) == ["b", "a", "b"]


@pytest.mark.parametrize(("hours", "at", "expected"), [
    ("09:00-18:00", 12, "a"), ("09:00-18:00", 20, None),
    ("22:00-08:00", 23, "a"), ("22:00-08:00", 12, None),
])  # fmt: skip
def test_a_rule_works_its_hours_in_the_configured_time_zone(engine, tmp_path, hours, at, expected):
    rules = settings(tmp_path, [{"advisors": ["a"], "hours": hours}])
    assert owners(engine, rules, [{}], NOON.replace(hour=at)) == [expected]


def test_nobody_free_sends_her_to_the_public_pool(engine, tmp_path):
    rules = settings(tmp_path, [{"advisors": ["a"]}], off_duty=["a"], public_pool=True)
    with session(engine) as s:
        her = lead(s)
        assert assign.assign(s, rules, her, NOON) is None
        assert her.pooled_at == NOON and her.owner_userid == ""

"""The managers' KPIs against a fixture whose numbers are worked out by hand below, on real
SQLite and PostgreSQL, in the configured time zone (Asia/Shanghai, not the machine's)."""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from crm import kpis, periods
from store.models import (
    Advisor,
    Contact,
    ContactStatus,
    FollowUp,
    KfMessage,
    LeadEvent,
    PoolEvent,
    SopTask,
)
from tests.support import CHANNELS, make_settings

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
NEW, CONTACTED, INTERESTED, SIGNED, LOST = (ContactStatus.NEW, ContactStatus.CONTACTED,
                                            ContactStatus.INTERESTED, ContactStatus.SIGNED,
                                            ContactStatus.LOST)  # fmt: skip


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, channels=CHANNELS, report={"managers": ["boss"]},
                         roles={"team_leads": {"lead1": ["lisi"]}})  # fmt: skip


def contact(s: Session, name: str, owner: str, channel: str, status: str, *, added=None,
            stage=None, **fields) -> Contact:  # fmt: skip
    row = Contact(name=name, external_userid=f"wm-{name}", owner_userid=owner, channel_code=channel,
                  status=status, added_at=added, stage=stage, created_at=added or at(1, 9),
                  updated_at=NOW, **fields)  # fmt: skip
    s.add(row)
    s.flush()
    return row


def steps(s: Session, who: Contact, *moves) -> None:
    """Her funnel steps: (moment, from, to[, reason[, amount in fen]])."""
    for moment, old, new, *rest in moves:
        reason = rest[0] if rest else None
        amount = rest[1] if len(rest) > 1 else None
        s.add(LeadEvent(contact_id=who.id, at=moment, source="wecom", from_status=old,
                        to_status=new, reason=reason, amount_cents=amount))  # fmt: skip


def follow_up(s: Session, who: Contact, userid: str, moment: datetime) -> None:
    s.add(FollowUp(contact_id=who.id, userid=userid, note="电话沟通", created_at=moment))


def task(s: Session, sop: str, target: str, status: str, moment: datetime, detail="",
         **mass) -> None:  # fmt: skip
    s.add(SopTask(sop_id=sop, step_id="s1", target=target, trigger_key=f"k{moment}", due_at=moment,
                  status=status, detail=detail, created_at=moment, updated_at=moment,
                  **mass))  # fmt: skip


@pytest.fixture
def fixture(engine):
    """Nine contacts of 张顾问 (zhangsan) and 李顾问 (lisi), around 2026-11-23 (昨天)."""
    with Session(engine) as s:
        s.add_all([Advisor(userid="zhangsan", name="张顾问", updated_at=NOW),
                   Advisor(userid="lisi", name="李顾问", updated_at=NOW)])  # fmt: skip
        # c1: added yesterday through the poster, answered in 30 min, signed for 3980 元
        c1 = contact(s, "c1", "zhangsan", "store-poster", SIGNED, added=at(23, 9), stage="孕晚期")
        steps(
            s,
            c1,
            (at(23, 9), "", NEW),
            (at(23, 10), NEW, CONTACTED),
            (at(23, 15), CONTACTED, INTERESTED),
            (at(23, 20), INTERESTED, SIGNED, None, 398000),
        )
        follow_up(s, c1, "zhangsan", at(23, 9, 30))
        # c2: added yesterday through the poster; her first follow-up is this morning (21 h)
        c2 = contact(s, "c2", "zhangsan", "store-poster", CONTACTED, added=at(23, 11),
                     stage="孕中期")  # fmt: skip
        steps(s, c2, (at(23, 11), "", NEW), (at(24, 8), NEW, CONTACTED))
        follow_up(s, c2, "zhangsan", at(24, 8))
        # c3: added at 00:30 today, Shanghai time (still the 23rd in UTC): not yesterday's
        c3 = contact(s, "c3", "lisi", "xhs-diaper", NEW, added=at(24, 0, 30), stage="新生儿期")
        steps(s, c3, (at(24, 0, 30), "", NEW))
        # c4: added at 00:10 yesterday (the 22nd in UTC), deleted her advisor at noon
        c4 = contact(s, "c4", "lisi", "xhs-diaper", LOST, added=at(23, 0, 10), stage="孕早期",
                     lost_reason="客户删除")  # fmt: skip
        steps(s, c4, (at(23, 0, 10), "", NEW), (at(23, 12), NEW, LOST, "客户删除"))
        # c5: a hospital's lead, assigned at 14:00, followed up at 16:00, signed without amount
        c5 = contact(s, "c5", "zhangsan", "", SIGNED, source="协和医院", assigned_at=at(23, 14))
        c5.external_userid = None
        steps(s, c5, (at(23, 14), "", NEW), (at(23, 18), NEW, SIGNED))
        follow_up(s, c5, "zhangsan", at(23, 16))
        # c6: an older lead, still interested, followed up yesterday
        c6 = contact(s, "c6", "zhangsan", "store-poster", INTERESTED, added=at(10, 9),
                     stage="孕中期")  # fmt: skip
        steps(s, c6, (at(10, 9), "", NEW), (at(12, 9), NEW, INTERESTED))
        follow_up(s, c6, "zhangsan", at(23, 10))
        # c7: added and signed the day before yesterday (the period before), a 高价值 buyer
        c7 = contact(s, "c7", "lisi", "xhs-diaper", SIGNED, added=at(22, 10), stage="婴儿期",
                     tier="高价值", signed_amount_cents=100000)  # fmt: skip
        steps(s, c7, (at(22, 10), "", NEW), (at(22, 12), NEW, SIGNED, None, 100000))
        # c8: an older lead nobody followed up: to the public pool yesterday, and claimed
        c8 = contact(s, "c8", "lisi", "store-poster", NEW, added=at(1, 9), stage="备孕期")
        steps(s, c8, (at(1, 9), "", NEW))
        s.add(PoolEvent(contact_id=c8.id, at=at(23, 9), kind="pooled", userid="lisi",
                        reason="超时回收"))  # fmt: skip
        s.add(PoolEvent(contact_id=c8.id, at=at(23, 10), kind="claimed", userid="zhangsan"))
        # c9: an older lead lost yesterday over the price
        c9 = contact(s, "c9", "zhangsan", "store-poster", LOST, added=at(5, 9), stage="孕早期",
                     lost_reason="价格太高")  # fmt: skip
        steps(
            s,
            c9,
            (at(5, 9), "", NEW),
            (at(6, 9), NEW, CONTACTED),
            (at(23, 13), CONTACTED, LOST, "价格太高"),
        )
        c1.signed_amount_cents = 398000
        # SOP steps: two sent to mothers (c1 answered the bot 2 h later; c2's was a mass send
        # her advisor confirmed), one skipped, one failed, one sent to a group (a mass send not
        # confirmed yet); one sent the day before (not counted)
        task(s, "welcome-series", f"c:{c1.id}", "sent", at(23, 10), "sent to her")
        task(
            s,
            "welcome-series",
            f"c:{c2.id}",
            "sent",
            at(23, 11),
            "sent to her",
            msgid="msgA",
            mass_result="sent",
        )
        task(s, "welcome-series", f"c:{c6.id}", "skipped", at(23, 12), "opted out")
        task(s, "welcome-series", f"c:{c8.id}", "failed", at(23, 13), "errcode 40001")
        # c8 got another step at 14:00 and wrote to the bot 49 hours later: too late to count
        task(s, "welcome-series", f"c:{c8.id}", "sent", at(23, 14), "sent to her")
        s.add(KfMessage(msgid="m3", external_userid=c8.external_userid, origin=3, body="{}",
                        sent_at=at(25, 15)))  # fmt: skip
        # … while c2 wrote 47 hours after hers: in time
        s.add(KfMessage(msgid="m4", external_userid=c2.external_userid, origin=3, body="{}",
                        sent_at=at(25, 10)))  # fmt: skip
        task(s, "welcome-series", f"c:{c7.id}", "sent", at(22, 13), "sent to her")
        task(s, "group-morning", "g:wrOgroup1", "sent", at(23, 8), "sent to her", msgid="msgB")
        s.add(KfMessage(msgid="m1", external_userid=c1.external_userid, origin=3, body="{}",
                        sent_at=at(23, 12)))  # fmt: skip
        s.add(KfMessage(msgid="m2", external_userid=c2.external_userid, origin=5, body="{}",
                        sent_at=at(23, 12)))  # the bot's own message is no answer  # fmt: skip
        s.commit()


def yesterday(settings, engine, scope=kpis.EVERYONE):
    period = periods.parse("昨天", NOW)
    return kpis.compute(engine, settings, period, scope, {"welcome-series": "新客欢迎"})


def test_a_managers_numbers_for_yesterday_are_the_hand_counted_ones(settings, engine, fixture):
    k = yesterday(settings, engine)
    assert k.days == [date(2026, 11, 23)]
    assert (k.now.adds, k.now.departures, k.now.net) == (3, 1, 2)  # c1 c2 c4; c4 deleted
    assert (k.before.adds, k.before.leads, k.before.signed, k.before.amount_cents) == (
        1, 1, 1, 100000)  # fmt: skip
    assert k.adds_by_day == [3] and k.net_by_day == [2]
    assert k.funnel == [("新线索", 4), ("已沟通", 2), ("有意向", 2), ("已签约", 2)]
    assert k.conversion == 0.5
    assert (k.now.signed, k.now.amount_cents) == (2, 398000)
    channels = {c.name: (c.adds, c.leads, c.signed) for c in k.channels}
    assert channels == {"门店海报": (2, 2, 1), "小红书纸尿裤笔记": (1, 1, 0), "协和医院": (0, 1, 1)}
    assert k.responses == kpis.Responses(answered=3, waiting=1, median_minutes=120.0,
                                         p90_minutes=1260.0)  # fmt: skip
    assert (k.open_leads, k.covered, k.coverage) == (4, 1, 0.25)  # c2 c3 c6 c8; c6
    assert (k.sla_breaches, k.pooled, k.claimed) == (1, 1, 1)
    assert k.stages == [("备孕期", 1), ("孕早期", 0), ("孕中期", 2), ("孕晚期", 1),
                        ("新生儿期", 1), ("婴儿期", 1), ("幼儿期", 0)]  # fmt: skip
    assert k.lost_reasons == [("价格太高", 1), ("客户删除", 1)]
    assert k.sops == [kpis.SopLine("新客欢迎", 3, 1, 1, to_her=3, answered=2, mass=1, confirmed=1),
                      kpis.SopLine("group-morning", 1, 0, 0, to_her=0, answered=0, mass=1,
                                   confirmed=0)]  # fmt: skip
    assert k.advisors == [
        kpis.AdvisorLine("zhangsan", "张顾问", adds=2, follow_ups=3, signed=2,
                         amount_cents=398000, median_response_minutes=120.0),
        kpis.AdvisorLine("lisi", "李顾问", adds=1, follow_ups=0, signed=0, amount_cents=0,
                         median_response_minutes=None),
    ]  # fmt: skip
    assert k.tiers == [("高价值", 1)]


def test_an_advisor_sees_only_his_own_customers(settings, engine, fixture):
    with engine.connect() as connection:
        scope = kpis.scope_for(connection, settings, "lisi")
    assert scope == kpis.Scope("李顾问", ("lisi",), "own")
    k = yesterday(settings, engine, scope)
    assert (k.now.adds, k.now.departures, k.now.leads, k.now.signed) == (1, 1, 1, 0)
    assert k.funnel == [("新线索", 1), ("已沟通", 0), ("有意向", 0), ("已签约", 0)]
    assert k.responses == kpis.Responses(0, 1, None, None)
    assert (k.open_leads, k.covered) == (2, 0)  # c3 c8
    assert (k.pooled, k.claimed) == (1, 0)  # he released c8; 张顾问 claimed her
    assert dict(k.stages) == {"备孕期": 1, "孕早期": 0, "孕中期": 0, "孕晚期": 0,
                              "新生儿期": 1, "婴儿期": 1, "幼儿期": 0}  # fmt: skip
    assert k.sops == [kpis.SopLine("新客欢迎", 1, 0, 1, to_her=1, answered=0)]
    assert [a.userid for a in k.advisors] == ["lisi"]


def test_who_sees_what(settings, engine, fixture):
    with engine.connect() as connection:
        assert kpis.scope_for(connection, settings, "boss") == kpis.EVERYONE
        assert kpis.scope_for(connection, settings, "lead1") == kpis.Scope(
            "lead1的团队", ("lead1", "lisi"), "team")  # fmt: skip
        assert kpis.scope_for(connection, settings, "stranger") is None


def test_an_empty_period_counts_nothing_and_divides_by_nothing(settings, engine, fixture):
    period = periods.parse("2026-10-01 2026-10-02", NOW)
    k = kpis.compute(engine, settings, period, kpis.EVERYONE)
    assert k.now == kpis.Headline(0, 0, 0, 0, 0) and k.adds_by_day == [0, 0]
    assert k.conversion is None and k.responses == kpis.Responses(0, 0, None, None)


def test_the_readme_defines_each_kpi_as_the_code_does():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for name, definition in kpis.DEFINITIONS:
        assert f"| {name} | {definition} |" in readme

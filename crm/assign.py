"""Who gets a lead that arrives without an advisor (intake, a CSV import, a mother who talked
to the bot first): the first [[assign]] rule that matches her and has someone on duty below
the daily cap; in turn (round_robin) or to the advisor with the fewest open leads
(least_open). The advisor is told by a worker, which also starts her follow-up SLA: a notice
written with the assignment waits until the relay gathers his waiting notices into one event
of mombot's own in the inbox, at most one every NOTICE_GAP."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from xml.sax.saxutils import escape

from sqlalchemy import Connection
from sqlmodel import Session

from crm.config import AssignRule, Settings
from store import inbox, leads, notices, pool
from store.inbox import NewEvent
from store.models import Contact

ASSIGNED = "mombot_leads_assigned"  # the inbox event that tells an advisor of her new leads
# WeCom drops an app's messages to one member beyond 30 a minute: leads given to an advisor
# within this long of his last notice wait and are told together
NOTICE_GAP = timedelta(seconds=10)
NOBODY = "无人可分配"  # why a lead no rule could assign is in the public pool


class Candidate(Protocol):
    """What the rules match a lead on (a Contact, or a new one not written yet)."""

    channel_code: str
    city: str
    source: str
    stage: str | None


@dataclass(frozen=True)
class Choice:
    userid: str
    rule: str  # the rule's name, for her history


def rule_name(index: int, rule: AssignRule) -> str:
    return rule.name or f"分配规则{index + 1}"


def matches(settings: Settings, rule: AssignRule, contact: Candidate) -> bool:
    channel = settings.channel(contact.channel_code)
    channel_words = {contact.channel_code, channel.name if channel else ""}
    return (
        (not rule.channels or bool(channel_words & set(rule.channels)))
        and (not rule.cities or any(contact.city.startswith(c.removesuffix("市"))
                                    for c in rule.cities if contact.city))
        and (not rule.sources or contact.source in rule.sources)
        and (not rule.stages or contact.stage in rule.stages)
    )  # fmt: skip


def on_duty(rule: AssignRule, moment: time) -> bool:
    if not rule.hours:
        return True
    start, end = (time.fromisoformat(part) for part in rule.hours.split("-"))
    if start <= end:
        return start <= moment <= end
    return moment >= start or moment <= end  # over midnight


def choose(
    connection: Connection, settings: Settings, contact: Contact, now: datetime
) -> Choice | None:
    return choose_many(connection, settings, [contact], now)[0]


def choose_many(
    connection: Connection, settings: Settings, people: Sequence[Candidate], now: datetime
) -> list[Choice | None]:
    """The advisor for each of several leads in order, as if chosen one after the other: what
    each rule counts is read once and counted on in memory. The caller writes the counts
    (`record`) last, before it commits."""
    local = now.astimezone(settings.tz)
    state: dict[int, _RuleState] = {}
    chosen: list[Choice | None] = []
    for contact in people:
        choice = None
        for index, rule in enumerate(settings.assign):
            if not matches(settings, rule, contact) or not on_duty(rule, local.time()):
                continue
            if index not in state:
                state[index] = _RuleState.load(connection, settings, index, rule, local.date())
            userid = state[index].next()
            if userid is not None:
                choice = Choice(userid, state[index].name)
                break
        chosen.append(choice)
    return chosen


class _RuleState:
    """One rule's advisors as an assignment run counts them: the leads each was given today
    (by any rule, for the daily cap; by this rule, for the turns) and, for least_open, has
    open. Nothing is locked: two leads at the same moment may go to the same advisor, and the
    next ones even it out."""

    def __init__(self, rule: AssignRule, name: str, free: list[str], today: dict[str, int],
                 by_rule: dict[str, int], load: dict[str, int]) -> None:  # fmt: skip
        self.rule, self.name, self.free = rule, name, free
        self.today, self.by_rule, self.load = today, by_rule, load

    @classmethod
    def load(cls, connection: Connection, settings: Settings, index: int, rule: AssignRule,
             day: date) -> _RuleState:  # fmt: skip
        name = rule_name(index, rule)
        order = list(dict.fromkeys(rule.advisors))
        free = [userid for userid in order if userid not in settings.leads.off_duty]
        today = leads.assigned_on(connection, day, free) if rule.daily_cap else {}
        by_rule = (leads.assigned_on(connection, day, free, name)
                   if rule.method == "round_robin" else {})  # fmt: skip
        load = leads.open_leads(connection, free) if rule.method == "least_open" else {}
        return cls(rule, name, free, today, by_rule, load)

    def next(self) -> str | None:
        cap = self.rule.daily_cap
        free = [u for u in self.free if not cap or self.today.get(u, 0) < cap]
        if not free:
            return None
        # ties go to the first in the rule's list: a, b, a, b … through the day
        counts = self.load if self.rule.method == "least_open" else self.by_rule
        userid = min(free, key=lambda u: counts.get(u, 0))
        for counted in (self.today, self.by_rule, self.load):
            counted[userid] = counted.get(userid, 0) + 1
        return userid


def assign(session: Session, settings: Settings, contact: Contact, now: datetime) -> Choice | None:
    """Give her to the advisor the rules choose, have him told and count it (`give`, `tell`,
    `record`)."""
    choice = give(session, settings, contact, choose(session.connection(), settings, contact,
                                                     now), now)  # fmt: skip
    if choice is not None:
        tell(session.connection(), {choice.userid: [contact.id]}, now)
        record(session.connection(), settings, [choice], now)
    return choice


def give(
    session: Session, settings: Settings, contact: Contact, choice: Choice | None, now: datetime
) -> Choice | None:
    """Make the chosen advisor hers (a step in her history); with no choice (no rule could)
    and [followup] public_pool, she goes to the public pool (公海) instead."""
    if choice is None:
        if settings.followup.public_pool and contact.pooled_at is None:
            pool.put(session, contact, now, NOBODY)
        return None
    leads.assign(session, contact, choice.userid, now, f"分配给{choice.userid}（{choice.rule}）")
    return choice


def record(
    connection: Connection, settings: Settings, choices: Sequence[Choice | None], now: datetime
) -> None:
    """Count the day's assignments (what the next choices read). The counts' rows stay locked
    until the transaction ends: count last, just before committing (the intake API), or, for
    an import's thousands, in a transaction of their own once the leads are committed (a
    count lost in between only makes a turn a little less even)."""
    given: dict[tuple[str, str], int] = {}
    for choice in choices:
        if choice is not None:
            given[(choice.rule, choice.userid)] = given.get((choice.rule, choice.userid), 0) + 1
    leads.count_assigned(connection, now.astimezone(settings.tz).date(), given)


def tell(connection: Connection, given: Mapping[str, Sequence[int]], now: datetime) -> None:
    """Have each advisor told of the leads just given to him (userid → lead ids; their SLAs
    started), with the rest of what waits for him (`announce`)."""
    notices.add(connection, given, now)


def announce(
    connection: Connection, userid: str, waiting: list[tuple[int, int]], now: datetime
) -> None:
    """The advisor's waiting notices ((notice id, lead id), from `notices.waiting`) become one
    event for a worker, in the inbox, and stop waiting."""
    ids = ",".join(str(contact_id) for _, contact_id in waiting)
    payload = (
        f"<xml><MsgType>event</MsgType><Event>{ASSIGNED}</Event>"
        f"<UserID>{escape(userid)}</UserID><ContactIds>{ids}</ContactIds>"
        f"<CreateTime>{int(now.timestamp())}</CreateTime></xml>"
    )
    told = hashlib.sha1(ids.encode()).hexdigest()  # notice ids are used again once deleted
    key = f"mombot:{ASSIGNED}:{userid}:{now.isoformat()}:{told}"
    inbox.add(connection, NewEvent(key[:1024], "event", ASSIGNED, "", payload, "mombot"), now)
    notices.drop(connection, [notice for notice, _ in waiting])

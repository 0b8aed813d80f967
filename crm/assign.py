"""Who gets a lead that arrives without an advisor (intake, a CSV import, a mother who talked
to the bot first): the first [[assign]] rule that matches her and has someone on duty below
the daily cap; in turn (round_robin) or to the advisor with the fewest open leads
(least_open). The advisor is told by a worker (an event of mombot's own in the inbox, written
with the assignment), which also starts her follow-up SLA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from xml.sax.saxutils import escape

from sqlalchemy import Connection
from sqlmodel import Session

from crm.config import AssignRule, Settings
from store import inbox, leads
from store.inbox import NewEvent
from store.models import Contact

ASSIGNED = "mombot_leads_assigned"  # the inbox event that tells an advisor of her new leads


@dataclass(frozen=True)
class Choice:
    userid: str
    rule: str  # the rule's name, for her history


def rule_name(index: int, rule: AssignRule) -> str:
    return rule.name or f"分配规则{index + 1}"


def matches(settings: Settings, rule: AssignRule, contact: Contact) -> bool:
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
    connection: Connection, settings: Settings, people: list[Contact], now: datetime
) -> list[Choice | None]:
    """The advisor for each of several leads in order, as if chosen one after the other: turns,
    caps and loads are read once per rule and counted on in memory, then turns written back."""
    local = now.astimezone(settings.tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    state: dict[int, _RuleState] = {}
    chosen: list[Choice | None] = []
    for contact in people:
        choice = None
        for index, rule in enumerate(settings.assign):
            if not matches(settings, rule, contact) or not on_duty(rule, local.time()):
                continue
            if index not in state:
                state[index] = _RuleState.load(connection, settings, index, rule, day_start)
            userid = state[index].next()
            if userid is not None:
                choice = Choice(userid, rule_name(index, rule))
                break
        chosen.append(choice)
    for rule_state in state.values():
        rule_state.save(connection)
    return chosen


class _RuleState:
    """One rule's advisors as an assignment run counts them."""

    def __init__(self, rule: AssignRule, key: str, order: list[str], free: list[str],
                 taken: dict[str, int], load: dict[str, int], turn: int) -> None:  # fmt: skip
        self.rule, self.key, self.order, self.free = rule, key, order, free
        self.taken, self.load, self.turn, self.turned = taken, load, turn, False

    @classmethod
    def load(cls, connection: Connection, settings: Settings, index: int, rule: AssignRule,
             day_start: datetime) -> _RuleState:  # fmt: skip
        order = list(dict.fromkeys(rule.advisors))
        free = [userid for userid in order if userid not in settings.leads.off_duty]
        taken = leads.assigned_since(connection, free, day_start) if rule.daily_cap else {}
        load = leads.open_leads(connection, free) if rule.method == "least_open" else {}
        key = f"{index}:{rule.name}"[:64]
        turn = leads.turn(connection, key) if rule.method == "round_robin" else 0
        return cls(rule, key, order, free, taken, load, turn)

    def next(self) -> str | None:
        cap = self.rule.daily_cap
        free = [u for u in self.free if not cap or self.taken.get(u, 0) < cap]
        if not free:
            return None
        if self.rule.method == "least_open":
            userid = min(free, key=lambda u: self.load.get(u, 0))  # ties: the rule's order
        else:
            userid = next(self.order[(self.turn + step) % len(self.order)]
                          for step in range(len(self.order))
                          if self.order[(self.turn + step) % len(self.order)] in free)  # fmt: skip
            self.turn, self.turned = self.order.index(userid) + 1, True
        self.taken[userid] = self.taken.get(userid, 0) + 1
        self.load[userid] = self.load.get(userid, 0) + 1
        return userid

    def save(self, connection: Connection) -> None:
        if self.turned:
            leads.set_turn(connection, self.key, self.turn % len(self.order))


def assign(
    session: Session, settings: Settings, contact: Contact, now: datetime, announce: bool = True
) -> Choice | None:
    """Give her to the advisor the rules choose and (with `announce`) have him told; None if
    no rule can: with [followup] public_pool she goes to the public pool (公海) instead."""
    choice = choose(session.connection(), settings, contact, now)
    if choice is None:
        if settings.followup.public_pool and contact.pooled_at is None:
            contact.pooled_at = now
            session.add(contact)
        return None
    leads.assign(session, contact, choice.userid, now, f"分配给{choice.userid}（{choice.rule}）")
    if announce:
        tell(session.connection(), choice.userid, [contact.id], now)
    return choice


def tell(connection: Connection, userid: str, contact_ids: list[int], now: datetime) -> None:
    """Have a worker tell the advisor of leads just given to him (and start their SLA)."""
    ids = ",".join(map(str, contact_ids))
    payload = (
        f"<xml><MsgType>event</MsgType><Event>{ASSIGNED}</Event>"
        f"<UserID>{escape(userid)}</UserID><ContactIds>{ids}</ContactIds>"
        f"<CreateTime>{int(now.timestamp())}</CreateTime></xml>"
    )
    key = f"mombot:{ASSIGNED}:{userid}:{contact_ids[0]}:{len(contact_ids)}:{now.isoformat()}"
    inbox.add(connection, NewEvent(key[:1024], "event", ASSIGNED, "", payload, "mombot"), now)

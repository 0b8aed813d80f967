"""Lead scores: the [scoring] rules' points for the signs of her intent (store.signals), with
decay, as a breakdown anyone can read (进入孕晚期 +10, 7天没有互动 −5 …).

A lead's score is recounted when something happens to her and daily (decay and silence move
it without any event). A lead crossing the threshold, either way, is handed to a worker (an
event of mombot's own in the inbox, written with the new score): it gives or takes away the
高意向 tag in WeCom and, the first time she reaches it, tells her advisor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from crm.config import STATUS_WORDS, ScoreRule, Settings
from store import inbox, signals
from store.signals import History, Signal

CROSSED = "mombot_score_crossed"  # the inbox event for leads that crossed the threshold
REFRESH_BATCH = 5000  # leads recounted in one transaction of the daily refresh


@dataclass(frozen=True)
class Item:
    """One line of a breakdown: a rule, the points it gives now, and when its signal was."""

    rule: str
    points: float
    at: datetime
    signal: str = ""  # the rule's signal (ordered, followed_up …)

    def text(self) -> str:
        shown = round(self.points, 1)
        number = int(shown) if shown == int(shown) else shown
        return f"{self.rule} {'+' if self.points >= 0 else '−'}{abs(number)}"


def rule_name(rule: ScoreRule) -> str:
    """How a breakdown names the rule: its name, else its signal and values."""
    if rule.name:
        return rule.name
    return rule.signal + (f"（{'、'.join(rule.values)}）" if rule.values else "")


def breakdown(settings: Settings, history: History, now: datetime) -> list[Item]:
    """What each rule gives her now, newest signal first within a rule, rules in order."""
    found: list[Item] = []
    by_kind: dict[str, list[Signal]] = {}
    for signal in history.signals:
        by_kind.setdefault(signal.kind, []).append(signal)
    for rule in settings.scoring.rules:
        moments = _silent(rule, history, now) if rule.signal == "silent" else sorted(
            (s.at for s in by_kind.get(rule.signal, ()) if _matches(settings, rule, s, history)),
            reverse=True,
        )  # fmt: skip
        for at in moments[: rule.max_count]:
            found.append(Item(rule_name(rule), _decayed(rule, at, now), at, rule.signal))
    return found


def total(items: Sequence[Item]) -> int:
    return round(sum(item.points for item in items))


def _matches(settings: Settings, rule: ScoreRule, signal: Signal, history: History) -> bool:
    """The signal (of the rule's kind) is one the rule counts."""
    if rule.signal == "replied":
        return signal.at - history.arrived_at <= timedelta(days=rule.days)
    if not rule.values:
        return True
    if rule.signal == "status":
        return signal.value in {STATUS_WORDS.get(v, v) for v in rule.values}
    if rule.signal == "channel":
        channel = settings.channel(signal.value)
        return signal.value in rule.values or (channel is not None and channel.name in rule.values)
    return signal.value in rule.values


def _silent(rule: ScoreRule, history: History, now: datetime) -> list[datetime]:
    """One moment for each full `days` she has been silent since her last sign of life."""
    if history.last_seen is None:
        return []
    spells = (now - history.last_seen) // timedelta(days=rule.days)
    return [history.last_seen + timedelta(days=rule.days * n) for n in range(spells, 0, -1)]


def _decayed(rule: ScoreRule, at: datetime, now: datetime) -> float:
    if not rule.half_life_days:
        return float(rule.points)
    age = max(now - at, timedelta(0)) / timedelta(days=rule.half_life_days)
    return rule.points * 0.5**age


def update(connection: Connection, settings: Settings, contact_ids: Sequence[int],
           now: datetime) -> dict[int, int]:  # fmt: skip
    """Recount these leads' scores, in the caller's transaction; the scores that changed."""
    if not settings.scoring.enabled or not contact_ids:
        return {}
    return _keep(connection, settings, signals.of(connection, list(dict.fromkeys(contact_ids))),
                 now)  # fmt: skip


def recount(session: Session, settings: Settings, contact_ids: Sequence[int],
            now: datetime) -> dict[int, int]:  # fmt: skip
    """`update` for what the session has just done to these leads (flushed first)."""
    session.flush()
    return update(session.connection(), settings, contact_ids, now)


def refresh(engine: Engine, settings: Settings, now: datetime) -> int:
    """Recount every lead's score (decay and silence move it as days pass); how many changed.
    Then the leads whose 高意向 tag disagrees with their score (a changed threshold, a tag
    WeCom refused earlier) are handed to a worker too."""
    if not settings.scoring.enabled:
        return 0
    with engine.connect() as connection:
        low, high = signals.id_range(connection)
    changed = 0
    for first in range(low, high + 1, REFRESH_BATCH) if high else ():
        with engine.begin() as connection:
            histories = signals.between(connection, first, first + REFRESH_BATCH - 1)
            changed += len(_keep(connection, settings, histories, now))
    rules = settings.scoring
    with engine.begin() as connection:
        astray = signals.hot_tag_astray(connection, rules.threshold, rules.hot_tag)
        inbox.announce(connection, CROSSED, astray, ["astray"] * len(astray), now)
    return changed


def _keep(connection: Connection, settings: Settings, histories: dict[int, History],
          now: datetime) -> dict[int, int]:  # fmt: skip
    threshold = settings.scoring.threshold
    changed: dict[int, int] = {}
    crossed: list[int] = []
    for history in histories.values():
        score = total(breakdown(settings, history, now))
        if score != history.score:
            changed[history.contact_id] = score
            if (score >= threshold) != (history.score >= threshold):
                crossed.append(history.contact_id)
    signals.save_scores(connection, {i: (histories[i].score, new) for i, new in changed.items()})
    inbox.announce(connection, CROSSED, crossed, [str(changed[i]) for i in crossed], now)
    return changed

"""The leads query language shared by `mombot leads list` and the sidebar's search: words
separated by spaces, each narrowing the list, e.g. `孕晚期 未签约 上海 7天未跟进`.

- a status (新线索 已沟通 有意向 已签约 已流失), or 未签约 / 未流失 / 未沟通
- a stage (孕晚期, or its start: 晚期 is not one, 新生儿 is 新生儿期)
- a channel (its code or name), an advisor (userid or name), a city a lead has (上海, 上海市)
- N天未跟进: no follow-up (nor added) in the last N days; N天内预产: due within N days
- 高意向: scored at least [scoring] threshold; N分以上 (评分≥N): at least N
- a value tier (高价值 潜力 流失风险 待唤醒)
- anything else: part of her name
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from crm.config import STATUS_WORDS, TIERS, Settings
from crm.stages import STAGES
from store.lead_list import Filters

NEGATED = {"未签约": "signed", "未流失": "lost"}
IDLE = re.compile(r"^(\d{1,4})天(?:未|没|没有)跟进$")
SCORE = re.compile(r"^(?:(\d{1,4})分以上|(?:评分|分数)(?:>=|≥)(\d{1,4})分?)$")
DUE = re.compile(r"^(?:(\d{1,4})天内(?:预产|待产|临产|生产)|预产期?(\d{1,4})天内)$")


@dataclass(frozen=True)
class Vocabulary:
    """The words a query may name: channel names and codes → code; advisor names and
    userids → userid; the cities leads have."""

    channels: dict[str, str]
    advisors: dict[str, str]
    cities: frozenset[str]
    hot_score: int  # 高意向 from this score

    @classmethod
    def of(cls, settings: Settings, cities: set[str], advisor_names: dict[str, str]) -> Vocabulary:
        """`advisor_names`: userid → display name, as far as known."""
        channels = {c.code: c.code for c in settings.channels}
        channels |= {c.name: c.code for c in settings.channels if c.name}
        userids = {a for channel in settings.channels for a in channel.advisors} | set(
            advisor_names
        )
        advisors = {u: u for u in userids} | {n: u for u, n in advisor_names.items() if n}
        return cls(channels, advisors, frozenset(cities), settings.scoring.threshold)


def parse(text: str, vocabulary: Vocabulary, now: datetime) -> Filters:
    """Filters for the words of a query, as of `now` (aware, in the configured time zone)."""
    found = Filters()
    for word in text.split():
        found = _narrow(found, word, vocabulary, now)
    return found


def _narrow(found: Filters, word: str, vocabulary: Vocabulary, now: datetime) -> Filters:
    if word in STATUS_WORDS:
        return replace(found, statuses=found.statuses | {STATUS_WORDS[word]})
    if word == "高意向":
        return replace(found, min_score=vocabulary.hot_score)
    if score := SCORE.match(word):
        return replace(found, min_score=int(score[1] or score[2]))
    if word in TIERS:
        return replace(found, tiers=found.tiers | {word})
    if word in NEGATED:
        return replace(found, not_statuses=found.not_statuses | {NEGATED[word]})
    if word == "未沟通":
        return replace(found, statuses=found.statuses | {"new"})
    stage = next((s for s in STAGES if word == s or (len(word) >= 2 and s.startswith(word))),
                 None)  # fmt: skip
    if stage:
        return replace(found, stages=found.stages | {stage})
    if word in vocabulary.channels:
        return replace(found, channels=found.channels | {vocabulary.channels[word]})
    if word in vocabulary.advisors:
        return replace(found, owners=found.owners | {vocabulary.advisors[word]})
    if word.removesuffix("市") in vocabulary.cities:
        return replace(found, cities=found.cities | {word.removesuffix("市")})
    if idle := IDLE.match(word):
        return replace(found, idle_since=now - timedelta(days=int(idle[1])))
    if due := DUE.match(word):
        today = now.date()
        return replace(found, due_from=today, due_by=today + timedelta(days=int(due[1] or due[2])))
    return replace(found, words=(*found.words, word))

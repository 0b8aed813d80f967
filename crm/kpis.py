"""The numbers managers read (`/report`, the daily push, `mombot report`): each KPI defined once,
here (DEFINITIONS, which the README repeats), and counted for a period and a scope.

A scope is whose customers: everyone's (managers), a team's (a team lead's advisors and his
own), or one advisor's. Counts of what happened are the period's; counts of how things are
(stages, open leads, value tiers) are as of now.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy import Connection, exists, select
from sqlalchemy.engine import Engine

from crm.config import TIERS, Settings
from crm.leads import ADVISOR_DELETED, CUSTOMER_DELETED
from crm.periods import Period
from crm.stages import STAGES
from store import advisors, report
from store.models import Contact, ContactFollow

FUNNEL_NAMES = ("新线索", "已沟通", "有意向", "已签约")
NO_CHANNEL = "未分渠道"
DELETED = (CUSTOMER_DELETED, ADVISOR_DELETED)

DEFINITIONS = (
    ("新增客户", "期间内添加了顾问企业微信的客户数，按添加时间和渠道（渠道活码）计"),
    ("净增客户", "新增客户 − 期间内删除了顾问或被顾问删除的客户"),
    ("新线索", "期间内成为线索的人数（添加顾问、表单/接口留资或导入）"),
    ("线索漏斗", "期间内的新线索到期末走到了哪一步：新线索 → 已沟通 → 有意向 → 已签约；"
                 "跳过的步骤算作走过，后来流失的按流失前走到的一步计；每步转化率 = 本步 ÷ 上一步"),
    ("线索→签约转化率", "期间内的新线索中，到期末已签约的比例"),
    ("渠道质量", "每个渠道的新线索中到期末已签约的比例（签约 ÷ 线索）"),
    ("签约", "期间内进入已签约的客户数，金额为她们登记的签约金额"),
    ("首次响应时间", "线索分给顾问（分配规则分配，或客户添加顾问）到第一条跟进记录的时间，"
                     "取期间内分配的线索：中位数和 P90；还没跟进的单独计数"),
    ("跟进覆盖率", "当前未结束的线索（新线索、已沟通、有意向）中，期间内有跟进记录的比例"),
    ("超时未跟进", "期间内因超时未跟进被收回公海的线索数"),
    ("公海", "期间内进入公海的线索数（超时回收、主动放弃、离职等）和从公海认领的次数"),
    ("阶段分布", "当前未流失客户的孕育阶段（备孕期 … 幼儿期）"),
    ("流失原因", "期间内流失的线索，按原因"),
    ("SOP 执行", "期间内完成的 SOP 步骤：已发送、跳过、失败"),
    ("SOP 回复率", "期间内发给妈妈的 SOP 消息中，48 小时内她在微信客服里回复的比例"),
    ("群发确认率", "期间内交给顾问确认的群发（客户群发、客户群群发）中，"
                   "企业微信回读为已发出的比例"),
    ("顾问排行", "每位顾问期间内的新增客户、跟进次数、签约数和金额、首次响应中位数"),
    ("价值分层", "下过单的客户当前所在的分层（高价值、潜力、流失风险、待唤醒）"),
)  # fmt: skip


@dataclass(frozen=True)
class Scope:
    name: str  # 全部顾问, 张三的团队, 张三
    owners: tuple[str, ...] | None  # None: everyone's customers
    kind: str  # all, team, own


@dataclass(frozen=True)
class Responses:
    answered: int
    waiting: int  # given in the period, no follow-up yet
    median_minutes: float | None
    p90_minutes: float | None


@dataclass(frozen=True)
class Headline:
    """What a period's summary compares with the period before."""

    adds: int
    departures: int
    leads: int
    signed: int
    amount_cents: int

    @property
    def net(self) -> int:
        return self.adds - self.departures


@dataclass(frozen=True)
class ChannelLine:
    name: str
    adds: int
    leads: int
    signed: int

    @property
    def quality(self) -> float | None:
        return self.signed / self.leads if self.leads else None


@dataclass(frozen=True)
class SopLine:
    name: str
    sent: int
    skipped: int
    failed: int
    to_her: int  # sent to a mother (what the reply rate counts)
    answered: int  # she wrote to the bot within store.report.ANSWER_HOURS
    mass: int = 0  # of those sent: handed to advisors as mass sends (add_msg_template) …
    confirmed: int = 0  # … that WeCom says went out (the advisor confirmed; sop.readback)


@dataclass(frozen=True)
class AdvisorLine:
    userid: str
    name: str
    adds: int
    follow_ups: int
    signed: int
    amount_cents: int
    median_response_minutes: float | None


@dataclass
class Kpis:
    period: Period
    scope: Scope
    now: Headline
    before: Headline
    days: list = field(default_factory=list)  # the period's days (dates)
    adds_by_day: list[int] = field(default_factory=list)
    net_by_day: list[int] = field(default_factory=list)
    funnel: list[tuple[str, int]] = field(default_factory=list)  # reached, per FUNNEL_NAMES
    channels: list[ChannelLine] = field(default_factory=list)
    responses: Responses = Responses(0, 0, None, None)
    open_leads: int = 0
    covered: int = 0
    sla_breaches: int = 0
    pooled: int = 0
    claimed: int = 0
    stages: list[tuple[str, int]] = field(default_factory=list)
    lost_reasons: list[tuple[str, int]] = field(default_factory=list)
    sops: list[SopLine] = field(default_factory=list)
    advisors: list[AdvisorLine] = field(default_factory=list)
    tiers: list[tuple[str, int]] = field(default_factory=list)

    @property
    def conversion(self) -> float | None:
        leads, signed = self.funnel[0][1], self.funnel[-1][1]
        return signed / leads if leads else None

    @property
    def coverage(self) -> float | None:
        return self.covered / self.open_leads if self.open_leads else None


# Scopes -----------------------------------------------------------------------------------


def scope_for(connection: Connection, settings: Settings, userid: str) -> Scope | None:
    """Whose numbers this staff member may see: everyone's (a manager), his team's (a team
    lead), his own (an advisor: he owns or follows a customer); None for anyone else."""
    names = advisors.names(connection)
    if userid in settings.managers:
        return Scope("全部顾问", None, "all")
    team = set(settings.roles.team_leads.get(userid, []))
    team |= {a for a, lead in settings.followup.team_leads.items() if lead == userid}
    if team:
        who = names.get(userid) or userid
        return Scope(f"{who}的团队", tuple(sorted(team | {userid})), "team")
    owns = exists().where(Contact.owner_userid == userid)
    follows = exists().where(ContactFollow.userid == userid)
    if connection.execute(select(owns | follows)).scalar():
        return Scope(names.get(userid) or userid, (userid,), "own")
    return None


EVERYONE = Scope("全部顾问", None, "all")


# Counting ---------------------------------------------------------------------------------


def compute(
    engine: Engine,
    settings: Settings,
    period: Period,
    scope: Scope,
    sop_names: Mapping[str, str] = MappingProxyType({}),
) -> Kpis:
    """Every KPI for the period and scope, read in one transaction (one consistent view);
    `sop_names`: the playbook's SOP names by id."""
    window = report.Window(period.start, period.end, scope.owners)
    before = report.Window(period.previous_start, period.previous_end, scope.owners)
    with engine.connect() as connection, connection.begin():
        report.prepare(connection)
        names = advisors.names(connection)
        bounds = period.bounds()
        adds = report.adds(connection, window, bounds)
        gone = dict(report.departures(connection, window, bounds, DELETED))
        cohort = report.cohort(connection, window)
        signed = report.signed(connection, window)
        leads = sum(row[2] for row in cohort)
        kpis = Kpis(period, scope, _headline(adds, gone, leads, signed),
                    _previous(connection, before), days=period.days())  # fmt: skip
        _by_day(kpis, adds, gone)
        _funnel(kpis, settings, adds, cohort)
        kpis.responses, by_owner = _responses(report.first_responses(connection, window))
        kpis.open_leads, kpis.covered = report.coverage(connection, window)
        _pool(kpis, report.pool_moves(connection, window))
        stage_counts = dict(report.stages(connection, scope.owners))
        kpis.stages = [(stage, stage_counts.get(stage, 0)) for stage in STAGES]
        lost = [(reason or "未填写", n) for reason, n in report.lost_reasons(connection, window)]
        kpis.lost_reasons = sorted(lost, key=lambda r: (-r[1], r[0]))
        kpis.sops = _sops(sop_names, report.sop_outcomes(connection, window),
                          report.sop_answers(connection, window))  # fmt: skip
        kpis.advisors = _advisors(names, adds, report.follow_ups(connection, window), signed,
                                  by_owner, scope)  # fmt: skip
        tier_counts = dict(report.tiers(connection, scope.owners))
        kpis.tiers = [(tier, tier_counts[tier]) for tier in TIERS if tier in tier_counts]
    return kpis


def _headline(adds: list[tuple], gone: dict, leads: int, signed: list[tuple]) -> Headline:
    return Headline(
        adds=sum(row[3] for row in adds if row[2] >= 0),
        departures=sum(n for bucket, n in gone.items() if bucket >= 0),
        leads=leads,
        signed=sum(row[1] for row in signed),
        amount_cents=sum(row[2] or 0 for row in signed),
    )


def _previous(connection: Connection, window: report.Window) -> Headline:
    bounds = [window.start, window.end]
    if window.end <= window.start:
        return Headline(0, 0, 0, 0, 0)
    return _headline(
        report.adds(connection, window, bounds),
        dict(report.departures(connection, window, bounds, DELETED)),
        report.new_leads(connection, window),
        report.signed(connection, window),
    )


def _by_day(kpis: Kpis, adds: list[tuple], gone: dict) -> None:
    per_day = [0] * len(kpis.days)
    for _, _, bucket, n in adds:
        if 0 <= bucket < len(per_day):
            per_day[bucket] += n
    kpis.adds_by_day = per_day
    kpis.net_by_day = [n - gone.get(i, 0) for i, n in enumerate(per_day)]


def channel_name(settings: Settings, code: str) -> str:
    if not code:
        return NO_CHANNEL
    channel = settings.channel(code)
    return channel.name if channel else code


def _funnel(kpis: Kpis, settings: Settings, adds: list[tuple], cohort: list[tuple]) -> None:
    reached = [0] * len(FUNNEL_NAMES)
    lines: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # adds, leads, signed
    for code, _, bucket, n in adds:
        if bucket >= 0:
            lines[channel_name(settings, code)][0] += n
    for code, step, n in cohort:
        for i in range(step + 1):
            reached[i] += n
        line = lines[channel_name(settings, code or "")]
        line[1] += n
        line[2] += n if step == len(FUNNEL_NAMES) - 1 else 0
    kpis.funnel = list(zip(FUNNEL_NAMES, reached, strict=True))
    kpis.channels = sorted((ChannelLine(name, *counts) for name, counts in lines.items()),
                           key=lambda c: (-c.adds, -c.leads, c.name))  # fmt: skip


def _responses(rows: list[tuple]) -> tuple[Responses, dict[str, list[float]]]:
    """The period's first responses, and each owner's response times."""
    times: list[float] = []
    by_owner: dict[str, list[float]] = defaultdict(list)
    waiting = 0
    for owner, seconds in rows:
        if seconds is None:
            waiting += 1
            continue
        minutes = seconds / 60
        times.append(minutes)
        by_owner[owner].append(minutes)
    return Responses(len(times), waiting, _median(times), _p90(times)), by_owner


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _p90(values: list[float]) -> float | None:
    """The 90th percentile, the nearest-rank way: the smallest value with 90% at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-9 * len(ordered) // 10) - 1)]


def _pool(kpis: Kpis, rows: list[tuple]) -> None:
    for kind, reason, n in rows:
        if kind == "pooled":
            kpis.pooled += n
            kpis.sla_breaches += n if reason == "超时回收" else 0
        elif kind == "claimed":
            kpis.claimed += n


def _sops(names: Mapping[str, str], outcomes: list[tuple], answers: list[tuple]) -> list[SopLine]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sop_id, status, n, to_her, mass, confirmed in outcomes:
        counts[sop_id][status] += n
        counts[sop_id]["to_her"] += to_her or 0
        counts[sop_id]["mass"] += mass or 0
        counts[sop_id]["confirmed"] += confirmed or 0
    for sop_id, n in answers:
        counts[sop_id]["answered"] += n
    lines = [SopLine(names.get(sop_id, sop_id), c["sent"], c["skipped"], c["failed"],
                     c["to_her"], c["answered"], c["mass"], c["confirmed"])
             for sop_id, c in counts.items()]  # fmt: skip
    return sorted(lines, key=lambda s: (-(s.sent + s.skipped + s.failed), s.name))


def _advisors(
    names: dict[str, str],
    adds: list[tuple],
    follow_ups: list[tuple],
    signed: list[tuple],
    responses: dict[str, list[float]],
    scope: Scope,
) -> list[AdvisorLine]:
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for _, owner, bucket, n in adds:
        if owner and bucket >= 0:
            rows[owner][0] += n
    for userid, n in follow_ups:
        rows[userid][1] += n
    for owner, n, amount in signed:
        if owner:
            rows[owner][2] += n
            rows[owner][3] += amount or 0
    for owner in responses:  # an advisor who only responded is on the board too
        rows.setdefault(owner, [0, 0, 0, 0])
    if scope.owners is not None:
        rows = {userid: row for userid, row in rows.items() if userid in scope.owners}
    lines = [AdvisorLine(userid, names.get(userid) or userid, *row,
                         _median(responses.get(userid, [])))
             for userid, row in rows.items()]  # fmt: skip
    return sorted(lines, key=lambda a: (-a.signed, -a.amount_cents, -a.follow_ups, -a.adds,
                                        a.userid))  # fmt: skip

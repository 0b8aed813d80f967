"""A report as managers get it: what they asked for (/report 昨天 渠道), the short text summary
with the change against the period before, and the charts (PNG) of its focus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from charts.bars import bars, stacked_bars
from charts.canvas import Heading
from charts.dashboard import Dashboard, Tile, dashboard
from charts.funnel import funnel
from crm import kpis, periods
from crm.kpis import Kpis

FOCUSES = ("渠道", "顾问", "阶段", "SOP")
FOCUS_ALIASES = {"sop": "SOP", "渠道质量": "渠道", "排行": "顾问", "排行榜": "顾问", "漏斗": "阶段"}
NAMED_ROWS = 12  # bars a chart shows; the rest are summed as 其他
TITLE = "经营报表"


class RequestError(ValueError):
    """What was asked for is no report; the message says why, with examples."""


@dataclass(frozen=True)
class Request:
    period: periods.Period
    focus: str | None  # one of FOCUSES; None: the overview


def parse(words: str, now: datetime) -> Request:
    """/report's words after the command: an optional period, an optional focus, any order."""
    focus = None
    rest = []
    for word in words.split():
        named = FOCUS_ALIASES.get(word.lower(), FOCUS_ALIASES.get(word, word))
        if named in FOCUSES and focus is None:
            focus = named
        else:
            rest.append(word)
    try:
        return Request(periods.parse(" ".join(rest), now), focus)
    except periods.PeriodError as exc:
        raise RequestError(
            f"{exc}\n还可以加上关注点：{'、'.join(FOCUSES)}，例如：/report 本周 渠道"
        ) from exc


# Text -------------------------------------------------------------------------------------


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def money(cents: int) -> str:
    yuan = cents / 100
    return f"{yuan:,.0f}元" if yuan == int(yuan) else f"{yuan:,.2f}元"


def duration(minutes: float | None) -> str:
    if minutes is None:
        return "—"
    if minutes < 1:
        return "不到1分钟"
    if minutes < 60:
        return f"{minutes:.0f}分钟"
    hours, rest = divmod(round(minutes), 60)
    if hours < 48:
        return f"{hours}小时{rest}分" if rest else f"{hours}小时"
    return f"{hours / 24:.1f}天"


def change(now: int, before: int) -> str:
    if now == before:
        return "持平"
    return f"+{now - before}" if now > before else f"−{before - now}"


def title(k: Kpis) -> str:
    return f"{k.period.name} · {k.scope.name}"


def summary(k: Kpis, focus: str | None = None, name: str = TITLE) -> str:
    """The text managers read first: the headline numbers, then the focus's own."""
    now, before = k.now, k.before
    lines = [
        f"{name} · {title(k)}",
        f"新增客户 {now.adds}（较上期 {change(now.adds, before.adds)}），"
        f"净增 {now.net}（{change(now.net, before.net)}）",
        f"新线索 {now.leads}（{change(now.leads, before.leads)}），签约 {now.signed} 单"
        f"（{change(now.signed, before.signed)}），金额 {money(now.amount_cents)}",
        f"线索→签约 {percent(k.conversion)}；跟进覆盖率 {percent(k.coverage)}"
        f"（{k.open_leads} 条未结束线索中 {k.covered} 条有跟进）",
        f"首次响应 中位数 {duration(k.responses.median_minutes)}，"
        f"P90 {duration(k.responses.p90_minutes)}"
        + (f"；{k.responses.waiting} 条新线索还没跟进" if k.responses.waiting else ""),
        f"超时回收 {k.sla_breaches}，进入公海 {k.pooled}，认领 {k.claimed}",
    ]
    lines += _focus_lines(k, focus)
    return "\n".join(lines)


def _focus_lines(k: Kpis, focus: str | None) -> list[str]:
    if focus == "渠道":
        if not k.channels:
            return ["", "这段时间没有新增客户或线索"]
        return ["", "渠道：新增 / 线索 / 签约 / 签约率"] + [
            f"{c.name}：{c.adds} / {c.leads} / {c.signed} / {percent(c.quality)}"
            for c in k.channels[:NAMED_ROWS]
        ]
    if focus == "顾问":
        return ["", "顾问：新增 / 跟进 / 签约 / 金额 / 首次响应"] + [
            f"{a.name}：{a.adds} / {a.follow_ups} / {a.signed} / {money(a.amount_cents)} / "
            f"{duration(a.median_response_minutes)}"
            for a in k.advisors[:NAMED_ROWS]
        ]
    if focus == "阶段":
        steps = "→".join(f"{name} {n}" for name, n in k.funnel)
        stages = "、".join(f"{stage} {n}" for stage, n in k.stages)
        lost = "、".join(f"{reason} {n}" for reason, n in k.lost_reasons) or "无"
        return ["", f"漏斗：{steps}", f"当前阶段：{stages}", f"流失原因：{lost}"]
    if focus == "SOP":
        if not k.sops:
            return ["", "这段时间没有完成的 SOP 步骤"]
        return ["", "SOP：已发送 / 跳过 / 失败 / 48小时回复率 / 群发确认"] + [
            f"{s.name}：{s.sent} / {s.skipped} / {s.failed} / "
            f"{percent(s.answered / s.to_her if s.to_her else None)} / "
            f"{s.confirmed}/{s.mass}"
            for s in k.sops[:NAMED_ROWS]
        ]
    lost = "、".join(f"{reason} {n}" for reason, n in k.lost_reasons[:5])
    sent, mass = sum(s.sent for s in k.sops), sum(s.mass for s in k.sops)
    confirmed = sum(s.confirmed for s in k.sops)
    sops = f"SOP 已发送 {sent} 条"
    if mass:
        sops += f"（其中群发 {mass} 条，顾问已确认 {confirmed} 条）"
    return [f"流失：{lost}" if lost else "流失：无", sops] + (
        [f"价值分层：{'、'.join(f'{t} {n}' for t, n in k.tiers)}"] if k.tiers else []
    )


def footer(now: datetime) -> str:
    """The line under a report's dashboard: when it was made."""
    return f"mombot · 生成于 {now:%Y-%m-%d %H:%M}"


# Charts -----------------------------------------------------------------------------------


def _top(items: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The first NAMED_ROWS items, the rest summed as 其他."""
    if len(items) <= NAMED_ROWS:
        return items
    rest = sum(value for _, value in items[NAMED_ROWS - 1 :])
    return [*items[: NAMED_ROWS - 1], ("其他", rest)]


def images(
    k: Kpis, focus: str | None, footer: str = "", name: str = TITLE
) -> list[tuple[str, bytes]]:
    """(file name, PNG) of the report's charts: the one-image dashboard, or the focus's."""
    sub = title(k)
    if focus == "渠道":
        adds = _top([(c.name, c.adds) for c in k.channels if c.adds])
        quality = [(c.name, c.quality) for c in k.channels if c.quality is not None]
        return [
            ("channels.png", bars(Heading("渠道新增客户", sub), adds, unit="人")),
            ("channel-quality.png", bars(Heading("渠道质量（签约 ÷ 线索）", sub),
                                                _top(quality), percent=True)),
        ]  # fmt: skip
    if focus == "顾问":
        signed = _top([(a.name, a.signed) for a in k.advisors])
        follow = _top(sorted(((a.name, a.follow_ups) for a in k.advisors), key=lambda r: -r[1]))
        return [
            ("advisors-signed.png", bars(Heading("顾问签约排行", sub), signed,
                                                unit="单")),
            ("advisors-follow-ups.png", bars(Heading("顾问跟进次数", sub), follow,
                                                    unit="次")),
        ]  # fmt: skip
    if focus == "阶段":
        return [
            ("funnel.png", funnel(Heading("线索漏斗", sub), k.funnel)),
            ("stages.png", bars(Heading("客户阶段分布（当前）", sub),
                                       list(k.stages), unit="人")),
        ]  # fmt: skip
    if focus == "SOP":
        names = [s.name for s in k.sops[:NAMED_ROWS]]
        series = [("已发送", [s.sent for s in k.sops[:NAMED_ROWS]]),
                  ("跳过", [s.skipped for s in k.sops[:NAMED_ROWS]]),
                  ("失败", [s.failed for s in k.sops[:NAMED_ROWS]])]  # fmt: skip
        return [("sop.png", stacked_bars(Heading("SOP 执行", sub), names, series))]
    return [("dashboard.png", dashboard(dashboard_of(k, footer, name)))]


def dashboard_of(k: Kpis, footer: str = "", name: str = TITLE) -> Dashboard:
    now, before = k.now, k.before
    tiles = [
        Tile("新增客户", str(now.adds), change(now.adds, before.adds)),
        Tile("净增客户", str(now.net), change(now.net, before.net)),
        Tile("新线索", str(now.leads), change(now.leads, before.leads)),
        Tile("签约", f"{now.signed}单", change(now.signed, before.signed)),
        Tile("签约金额", money(now.amount_cents)),
        Tile("线索→签约", percent(k.conversion)),
        Tile("首次响应中位数", duration(k.responses.median_minutes)),
        Tile("跟进覆盖率", percent(k.coverage)),
    ]
    return Dashboard(
        heading=Heading(name, title(k)),
        tiles=tiles,
        funnel=list(k.funnel),
        channels=_top([(c.name, c.adds) for c in k.channels if c.adds]),
        trend_days=list(k.days),
        trend=[("新增", k.adds_by_day), ("净增", k.net_by_day)],
        stages=list(k.stages),
        footer=footer,
    )


def as_json(k: Kpis) -> dict:
    """Every number of the report, for scripts (`mombot report --json`)."""
    return {
        "period": {"name": k.period.name, "start": k.period.start.isoformat(),
                   "end": k.period.end.isoformat(),
                   "previous_start": k.period.previous_start.isoformat(),
                   "previous_end": k.period.previous_end.isoformat()},
        "scope": {"name": k.scope.name, "owners": k.scope.owners},
        "adds": k.now.adds, "departures": k.now.departures, "net_adds": k.now.net,
        "leads": k.now.leads, "signed": k.now.signed, "signed_amount": k.now.amount_cents / 100,
        "previous": {"adds": k.before.adds, "departures": k.before.departures,
                     "net_adds": k.before.net, "leads": k.before.leads,
                     "signed": k.before.signed, "signed_amount": k.before.amount_cents / 100},
        "by_day": [{"day": d.isoformat(), "adds": a, "net_adds": n}
                   for d, a, n in zip(k.days, k.adds_by_day, k.net_by_day, strict=True)],
        "funnel": [{"step": name, "reached": n} for name, n in k.funnel],
        "conversion": k.conversion,
        "channels": [{"channel": c.name, "adds": c.adds, "leads": c.leads, "signed": c.signed,
                      "quality": c.quality} for c in k.channels],
        "first_response": {"answered": k.responses.answered, "waiting": k.responses.waiting,
                           "median_minutes": k.responses.median_minutes,
                           "p90_minutes": k.responses.p90_minutes},
        "coverage": {"open_leads": k.open_leads, "followed_up": k.covered,
                     "rate": k.coverage},
        "sla_breaches": k.sla_breaches, "pooled": k.pooled, "claimed": k.claimed,
        "stages": dict(k.stages),
        "lost_reasons": dict(k.lost_reasons),
        "sops": [{"sop": s.name, "sent": s.sent, "skipped": s.skipped, "failed": s.failed,
                  "sent_to_mothers": s.to_her, "answered_within_48h": s.answered,
                  "mass_sends": s.mass, "mass_sends_confirmed": s.confirmed}
                 for s in k.sops],
        "advisors": [{"userid": a.userid, "name": a.name, "adds": a.adds,
                      "follow_ups": a.follow_ups, "signed": a.signed,
                      "signed_amount": a.amount_cents / 100,
                      "median_response_minutes": a.median_response_minutes}
                     for a in k.advisors],
        "tiers": dict(k.tiers),
        "definitions": dict(kpis.DEFINITIONS),
    }  # fmt: skip

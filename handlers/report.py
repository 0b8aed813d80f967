"""Managers' reports in WeCom: `/report` (报表, 日报) answered in the app chat with a text
summary and its charts, and the daily push of yesterday's report at [report] daily_at to each
manager (and, with [report] webhook_url, to a team group through its robot).

Every message goes through the outbox, once per key: a retried job sends nothing twice, and
two workers push the day's report once. WeCom drops a member's app messages beyond 30 a
minute, so a member gets at most ASKS_PER_MINUTE reports a minute.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time

import httpx

from charts.fonts import FontMissing
from crm import kpis, outbox, periods, report
from crm.context import Context
from sop import playbook, readback
from wecom import media, message, webhook
from wecom.client import WeComError

log = logging.getLogger(__name__)

WORDS = ("report", "报表", "日报")  # what a staff member writes, with or without a "/"
ASKS_PER_MINUTE = 5  # each report is a text and at most 2 images: 15 of WeCom's 30 a minute
REFUSED = "抱歉，报表只对店长、团队负责人和顾问开放。如需开通，请联系管理员在 mombot 配置里加上你。"
BUSY = "报表请求有点频繁，请一分钟后再试～"
WEBHOOK_TIMEOUT = 10.0
DAILY = "经营日报"  # the daily push's title


def compute(ctx: Context, request: report.Request, scope: kpis.Scope) -> kpis.Kpis:
    names = playbook.names(ctx.settings)
    return kpis.compute(ctx.engine, ctx.settings, request.period, scope, names)


def answer(ctx: Context, userid: str, words: str, key: str) -> None:
    """/report from a staff member: his scope's numbers for the period and focus he named."""
    now = ctx.clock.now()
    with ctx.engine.connect() as connection:
        scope = kpis.scope_for(connection, ctx.settings, userid)
    if scope is None:
        outbox.notify(ctx, key, userid, REFUSED)
        ctx.note(f"report refused to {userid}: no manager, team lead or advisor")
        return
    if not _within_limit(ctx, userid, now):
        outbox.notify(ctx, key, userid, BUSY)
        return
    try:
        request = report.parse(words, now)
    except report.RequestError as exc:
        outbox.notify(ctx, key, userid, str(exc))
        return
    k = compute(ctx, request, scope)
    sent = send(ctx, key, userid, report.summary(k, request.focus),
                pictures(ctx, k, request.focus, now))  # fmt: skip
    ctx.note(f"report of {request.period.name} ({scope.kind}) for {userid}: {sent} message(s)")


def pictures(
    ctx: Context, k: kpis.Kpis, focus: str | None, now: datetime, name: str = report.TITLE
) -> list[tuple[str, bytes]]:
    """The report's charts; none (and a warning) when no CJK font is installed: the numbers
    still go out as text rather than charts of boxes."""
    try:
        return report.images(k, focus, report.footer(now), name)
    except FontMissing as exc:
        ctx.warn(f"report charts not drawn: {exc}")
        return []


def _within_limit(ctx: Context, userid: str, now: datetime) -> bool:
    counter = f"mombot:report:asks:{userid}:{now:%Y%m%d%H%M}"
    asks = ctx.redis.incr(counter)
    ctx.redis.expire(counter, 120)
    return asks <= ASKS_PER_MINUTE


def send(ctx: Context, key: str, userid: str, text: str, pictures: list[tuple[str, bytes]]) -> int:
    """The summary, then each chart as an image message; how many went out now."""
    sent = int(outbox.notify(ctx, key, userid, text))
    for n, (name, png) in enumerate(pictures, start=1):
        sent += _image(ctx, f"{key}:image:{n}", userid, name, png)
    return sent


def _image(ctx: Context, key: str, userid: str, name: str, png: bytes) -> bool:
    def send_image() -> str:
        client = ctx.wecom("app")
        media_id = media.upload_image(client, name, png, "image/png")
        valid = message.send_image(client, ctx.settings.wecom.agent_id, userid, media_id)
        return "" if valid else "invalid user"

    outcome = outbox.send(ctx, key, "report", userid, send_image, retry_transient=True)
    if outcome.status == outbox.RETRY and outcome.error is not None:
        raise outcome.error  # the work is retried; what went out already is not sent again
    if not outcome.sent and outcome.status != outbox.DUPLICATE:
        ctx.warn(f"report chart {name} to {userid} not sent: {outcome.detail}")
    return outcome.sent


# The daily push ----------------------------------------------------------------------------


def due(now: datetime, daily_at: str) -> bool:
    return now.time() >= time.fromisoformat(daily_at)


def pushed_key(day: str) -> str:
    """Set in Redis once the day's push has been through every recipient."""
    return f"mombot:report:daily:{day}:pushed"


def daily_push(ctx: Context, day: str) -> dict[str, int]:
    """rq job (queued by the worker's ticker at [report] daily_at): the report of the day
    before `day` to every manager, and to the team group's robot; once each per day."""
    now = ctx.clock.now()
    readback.read_back(ctx)  # what advisors confirmed of yesterday's mass sends
    noon = datetime.combine(date.fromisoformat(day), time(12), ctx.settings.tz)
    request = report.Request(periods.parse("昨天", noon), None)  # however late the job runs
    k = compute(ctx, request, kpis.EVERYONE)
    text = report.summary(k, name=DAILY)
    charts = pictures(ctx, k, None, now, DAILY)
    sent = 0
    for userid in sorted(ctx.settings.managers):
        sent += send(ctx, f"report:daily:{day}:{userid}", userid, text, charts)
    robot = ctx.settings.report.webhook_url.get_secret_value()
    if robot:
        sent += _to_robot(ctx, f"report:daily:{day}:robot", robot, text, charts)
    ctx.redis.set(pushed_key(day), now.isoformat(), ex=3 * 24 * 3600)
    log.info("daily report of %s pushed: %d message(s)", request.period.name, sent)
    return {"messages": sent}


def _to_robot(
    ctx: Context, key: str, url: str, text: str, pictures: list[tuple[str, bytes]]
) -> int:
    sent = 0
    with httpx.Client(timeout=WEBHOOK_TIMEOUT) as http:
        parts = [(f"{key}:text", lambda: webhook.send_text(http, url, text))]
        parts += [(f"{key}:image:{n}", lambda png=png: webhook.send_image(http, url, png))
                  for n, (_, png) in enumerate(pictures, start=1)]  # fmt: skip
        for part, call in parts:
            outcome = outbox.send(ctx, part, "robot", "webhook", lambda call=call: call() or "",
                                  retry_transient=True)  # fmt: skip
            if outcome.status == outbox.RETRY and isinstance(outcome.error, WeComError):
                raise outcome.error
            sent += outcome.sent
    return sent

"""The `mombot` command.

Each command imports what it uses when it runs, so that a command that needs no Redis, no
WeCom client and no queue does not pay for importing them at every start."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot import logs, private
from bot.text import table
from crm import config

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.runtime import Runtime

Command = Callable[[argparse.Namespace], int]


def _runtime(args: argparse.Namespace) -> Runtime:
    from bot import runtime

    settings = config.load(args.config)
    logs.setup(settings)
    return runtime.build(settings)


@dataclass
class _Database:
    settings: config.Settings
    engine: Engine


def _database(args: argparse.Namespace) -> _Database:
    """What a listing needs: the settings and the database. No Redis: an embedded one is not
    started just to list something."""
    from store import db

    settings = config.load(args.config)
    logs.setup(settings)
    engine = db.make_engine(settings.database_url, settings.database.sqlite_synchronous)
    db.upgrade(engine)
    return _Database(settings, engine)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot import server

    settings = config.load(args.config)
    logs.setup(settings)
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    try:
        server.serve(settings, host, port)
    except server.ServeError as exc:  # e.g. PortBusy: another process listens there
        print(f"mombot: serve: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from bot import worker

    worker.run(_runtime(args), burst=args.burst)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot import demo

    return demo.run(keep=args.keep)


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    print(f"{config.resolve_path(args.config)}: ok")
    print(f"  corp_id {settings.wecom.corp_id}, agent {settings.wecom.agent_id}")
    print(f"  WeCom API {settings.wecom.api_base}")
    print(f"  data_dir {settings.data_path}")
    print(f"  database {settings.database_url.split('@')[-1]}")
    print(f"  redis {'embedded in ' + settings.data_dir if not settings.redis.url else 'external'}")
    print(f"  {len(settings.channels)} channel(s), time zone {settings.timezone}")
    found = config.warnings(settings)
    if found:
        print("warnings:")
        for warning in found:
            print(f"  {warning}")
    if not args.online:
        return 0
    from bot import checks, redis_conn

    results = checks.online(settings, redis_conn.connect(settings.redis.url, settings.data_path))
    print(f"online, against {settings.wecom.api_base}:")
    for line in table([(check.result, check.what, check.detail) for check in results]):
        print(f"  {line}")
    return 1 if any(check.result == checks.FAILED for check in results) else 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from store import db

    settings = config.load(args.config)
    db.upgrade(db.make_engine(settings.database_url))
    print("database schema is up to date")
    return 0


def cmd_events_list(args: argparse.Namespace) -> int:
    from store import inbox
    from store.db import session

    runtime = _database(args)
    with session(runtime.engine) as s:
        rows = inbox.listing(s, args.status, args.limit)
    tz = runtime.settings.tz
    for row in rows:
        route = "/".join(part for part in (row.msg_type, row.event, row.change_type) if part)
        received = row.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        error = f"  {row.last_error.splitlines()[0][:120]}" if row.last_error else ""
        warnings = inbox.warnings_of(row.warning)
        status = row.status
        if warnings:  # handled, but an optional part failed: not plainly done
            status += f" ({len(warnings)} warning{'s' if len(warnings) > 1 else ''})"
        print(f"{row.id:>8}  {received}  {status:<17} x{row.attempts}  {route}{error}")
        for warning in warnings:
            print(f"{'':>10}warning: {warning[:200]}")
    with runtime.engine.connect() as connection:
        counts = inbox.counts_by_status(connection)
    print(json.dumps(counts, sort_keys=True))
    return 0


def cmd_events_retry(args: argparse.Namespace) -> int:
    from bot import relay
    from store import inbox
    from store.db import session

    runtime = _runtime(args)
    with session(runtime.engine) as s:
        reopened = [row_id for row_id in args.ids if inbox.reopen(s, row_id)]
    missing = sorted(set(args.ids) - set(reopened))
    if reopened:
        relay.relay_once(runtime)
        print(f"queued again: {', '.join(map(str, reopened))}")
    if missing:
        print(f"not failed or unhandled (left alone): {', '.join(map(str, missing))}")
    return 0 if not missing else 1


def cmd_channels_sync(args: argparse.Namespace) -> int:
    from bot import checks
    from crm.channels import sync
    from wecom import externalcontact
    from wecom.client import WeComError

    runtime = _runtime(args)
    try:  # the secret works (a channel unchanged since the last sync makes no call at all)
        externalcontact.follow_users(runtime.wecom("contact"))
    except WeComError as exc:
        print(
            f"mombot: channels sync: nothing synced: WeCom {exc.path} with the contact secret "
            f"([wecom] contact_secret, else secret): {checks.explain(exc)}",
            file=sys.stderr,
        )
        return 1
    with runtime.context() as ctx:
        report = sync(ctx)
    group = runtime.settings.tags.channel_group
    print(f"tag group 「{group}」: {', '.join(report.tags) or '-'}")
    for label, codes in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        if codes:
            print(f"{label}: {', '.join(codes)}")
    for problem in report.problems:
        print(f"not synced: {problem}", file=sys.stderr)
    return 1 if report.problems else 0


def cmd_channels_list(args: argparse.Namespace) -> int:
    from store import channels, contacts
    from store.db import session

    runtime = _database(args)
    with session(runtime.engine) as s:
        ways = channels.all_ways(s)
        counts = contacts.count_by_channel(s)
    rows = [("code", "name", "contacts", "QR code")]
    for channel in runtime.settings.channels:
        way = ways.get(channel.code)
        qr = way.qr_code if way else "(not synced: mombot channels sync)"
        rows.append((channel.code, channel.name, str(counts.get(channel.code, 0)), qr))
    known = {channel.code for channel in runtime.settings.channels}
    others = sum(n for code, n in counts.items() if code not in known)
    if others:
        rows.append(("-", runtime.settings.tags.unknown_channel, str(others), ""))
    print("\n".join(table(rows)))
    return 0


def _day(value: str) -> date:
    """argparse type: a day."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _moment(value: str) -> datetime:
    """argparse type: a moment (without an offset: in the configured time zone)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a moment (ISO 8601, e.g. 2026-11-23T10:00:00+08:00)"
        ) from None


def _userids(value: str) -> list[str]:
    """argparse type: member userids, comma separated, at least two (WeCom's minimum)."""
    users = list(dict.fromkeys(user.strip() for user in value.split(",") if user.strip()))
    if len(users) < 2:
        raise argparse.ArgumentTypeError(
            f"{value!r}: give at least two member userids, comma separated (e.g. zhangsan,lisi)"
        )
    return users


def _lead_status(value: str) -> str:
    try:
        return config.lead_status(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def cmd_stages_refresh(args: argparse.Namespace) -> int:
    from sop import lifecycle

    runtime = _runtime(args)
    with runtime.context() as ctx:
        report = lifecycle.refresh(ctx, args.date)
    print(f"{report.day}: {report.contacts} contacts, {sum(report.changed.values())} changed")
    for stage, count in sorted(report.changed.items()):
        print(f"  → {stage}: {count}")
    print(f"  WeCom tag updates queued: {report.tag_jobs} job(s)")
    if report.overdue:
        print(f"  {len(report.overdue)} past their due date with no birthday told")
    return 0


def cmd_contacts_sync(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from crm import customers
    from wecom.client import WeComError

    runtime = _runtime(args)
    with runtime.context() as ctx, tqdm(desc="customers", unit=" customers", file=sys.stderr,
                                        disable=None) as bar:  # fmt: skip
        try:
            report = customers.sync(ctx, bar.update)
        except WeComError:
            print("mombot: stopped; run `mombot contacts sync` again to go on from here",
                  file=sys.stderr)  # fmt: skip
            raise
    resumed = " (went on from where the last run stopped)" if report.resumed else ""
    print(f"{report.advisors} advisors, {report.entries} customer entries{resumed}: "
          f"{report.new} new, {report.updated} updated, {report.unchanged} unchanged, "
          f"{report.failed} failed")  # fmt: skip
    for problem in report.problems or []:
        print(f"not read: {problem}", file=sys.stderr)
    return 1 if report.failed else 0


def _set_request(args: argparse.Namespace, today: date) -> tuple[dict, list[str]]:
    """What `contacts set` was asked to do, as set_dates arguments; or the reasons it cannot."""
    from crm import stages

    problems, request = [], {"clear": set()}
    for flag, name, kind in (("due_date", "due_date", "due_date"),
                             ("birthday", "birthday", "birthday")):  # fmt: skip
        value, clear = getattr(args, flag), getattr(args, f"clear_{flag}")
        option = "--" + flag.replace("_", "-")
        if value is not None and clear:
            problems.append(f"{option} and --clear-{option[2:]} contradict each other")
        elif clear:
            request["clear"].add("due_date" if flag == "due_date" else "baby_birthday")
        elif value is not None:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                problems.append(f"{option} {value!r} is not a date (YYYY-MM-DD)")
                continue
            why = stages.implausible(kind, day, today)
            if why:
                problems.append(f"{option} {day} {why} (today is {today})")
            request[name] = day
    if args.trying and args.due_date:
        problems.append("--trying (备孕) and --due-date (pregnant) contradict each other")
    if args.trying:
        request["trying"] = True
    if len(request) == 1 and not request["clear"]:
        problems.append("nothing to set: give --due-date, --birthday, --trying, "
                        "--clear-due-date or --clear-birthday")  # fmt: skip
    return request, problems


def cmd_contacts_set(args: argparse.Namespace) -> int:
    from crm import stages
    from sop import lifecycle
    from store import contacts

    runtime = _runtime(args)
    today = runtime.clock.now().date()
    request, problems = _set_request(args, today)
    if problems:
        for problem in problems:
            print(f"mombot: contacts set: {problem}", file=sys.stderr)
        return 1
    with runtime.context() as ctx:
        contact = contacts.get(ctx.session, args.external_userid)
        if contact is None:
            print(f"mombot: no contact {args.external_userid}", file=sys.stderr)
            return 1
        before = (contact.due_date, contact.baby_birthday, contact.trying_to_conceive,
                  contact.stage)  # fmt: skip
        lifecycle.set_dates(ctx, contact, **request)
        ctx.session.commit()
        after = (contact.due_date, contact.baby_birthday, contact.trying_to_conceive,
                 contact.stage)  # fmt: skip
    print(f"{contact.name or '未命名客户'} · {contact.external_userid}")
    for label, old, new in zip(("预产期", "宝宝生日", "备孕", "阶段"), before, after, strict=True):
        if old != new:
            print(f"  {label}：{_shown(old)} → {_shown(new)}")
    if before == after:
        print("  没有变化")
    detail = stages.how_far(today, contact.stage, contact.due_date, contact.baby_birthday)
    print(f"  现在：{contact.stage or '未知阶段'}{' ' + detail if detail else ''}")
    return 0


def _shown(value: object) -> str:
    if value is None:
        return "（无）"
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _playbooks(args: argparse.Namespace):
    from sop import playbook

    if args.playbooks:
        return playbook.load(Path(args.playbooks))
    return playbook.configured(config.load(args.config))


def cmd_sop_list(args: argparse.Namespace) -> int:
    for sop in _playbooks(args):
        trigger = sop.trigger
        detail = (
            trigger.stage
            or trigger.channel
            or trigger.tag
            or trigger.tier
            or trigger.anchor
            or trigger.every
        )
        if trigger.type == "anchor":
            detail = f"{trigger.anchor} {trigger.offset_days:+d} 天"
        state = "" if sop.enabled else "（停用）"
        print(f"{sop.id}  {sop.name}{state}  [{sop.target}] {trigger.type} {detail}".rstrip())
        if sop.groups.name_contains or sop.groups.owners:
            names = "、".join(sop.groups.name_contains) or "任意"
            print(f"    客户群：名称含 {names}；群主 {', '.join(sop.groups.owners) or '任意'}")
        for step in sop.steps:
            when = "立即" if step.immediate else f"第{step.day}天 {step.at}"
            if step.minutes is not None:
                when = f"{step.minutes}分钟后"
            rotating = f"（{len(step.texts)}条轮换）{step.texts[0]}" if step.texts else ""
            what = step.title or step.text or rotating or step.tag
            print(f"    {step.id}: {when} {step.action} {what[:30]}")
    return 0


def cmd_sop_check(args: argparse.Namespace) -> int:
    sops = _playbooks(args)
    print(f"ok: {len(sops)} SOPs, {sum(len(sop.steps) for sop in sops)} steps")
    return 0


SHOWN = 200  # tasks listed by `sop tick`


def _outcome_text(outcome) -> str:
    from sop import preview

    if outcome.outcome == preview.SEND:
        return f"would send: {outcome.reason}"
    if outcome.outcome == preview.DEFERRED:
        return f"deferred {outcome.reason}"
    if outcome.outcome == preview.HANDED_OVER:
        return f"already handed over: {outcome.reason}"
    return f"{outcome.outcome}: {outcome.reason}"


def cmd_sop_tick(args: argparse.Namespace) -> int:
    from sop import preview
    from sop.tick import tick
    from store.db import session

    runtime = _runtime(args)
    now = args.now
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=runtime.settings.tz)
    with runtime.context() as ctx:
        report = tick(ctx, now, dry_run=args.dry_run)
    at = report.at.isoformat(timespec="minutes")
    if args.dry_run:
        print(f"{at} dry run: {len(report.due)} task(s) due (nothing was changed)")
        rows = [(f"#{o.task_id}", f"{o.sop_id}/{o.step_id}", o.who, _outcome_text(o))
                for o in report.outcomes[:SHOWN]]  # fmt: skip
        tally: dict[str, int] = {}
        for outcome in report.outcomes:
            tally[outcome.outcome] = tally.get(outcome.outcome, 0) + 1
        summary = ", ".join(f"{name} {tally[name]}" for name in (
            preview.SEND, preview.DEFERRED, preview.CAPPED, preview.CANCELLED, preview.SKIPPED,
            preview.HANDED_OVER) if tally.get(name))  # fmt: skip
    else:
        print(f"{at}: {len(report.due)} task(s) due")
        with session(runtime.engine) as s:
            names = preview.labels(s, sorted({row[3] for row in report.due[:SHOWN]}))
        rows = [(f"#{task_id}", f"{sop_id}/{step_id}", names[target], "")
                for task_id, sop_id, step_id, target in report.due[:SHOWN]]  # fmt: skip
        summary = f"queued {report.queued}, deferred out of quiet hours {report.deferred}"
    for line in table(rows) if rows else []:
        print(f"  {line.rstrip()}")
    if len(report.due) > SHOWN:
        print(f"  … and {len(report.due) - SHOWN} more")
    if summary:
        print(summary)
    if report.requeued:
        print(f"queued again (their job never finished them): {report.requeued}")
    if report.edited:
        print(f"edited SOPs applied to running sequences: {', '.join(report.edited)}")
    return 0


def cmd_groups_sync(args: argparse.Namespace) -> int:
    from handlers.groups import sync

    runtime = _runtime(args)
    with runtime.context() as ctx:
        report = sync(ctx)
    print(f"groups: {report.groups} read, {report.dismissed} no longer listed (dismissed), "
          f"{report.unreadable} unreadable")  # fmt: skip
    return 1 if report.unreadable else 0


def cmd_groups_list(args: argparse.Namespace) -> int:
    from store import groups
    from store.db import session

    runtime = _database(args)
    with session(runtime.engine) as s:
        rows = [("chat id", "name", "owner", "customers", "members", "status")]
        rows += [(g.chat_id, g.name or "-", g.owner_userid, str(g.customers), str(g.members),
                  "dismissed" if g.dismissed else "active") for g in groups.listing(s)]  # fmt: skip
    print("\n".join(table(rows)))
    return 0


def cmd_appchat_create(args: argparse.Namespace) -> int:
    from wecom import message

    runtime = _runtime(args)
    users = args.users
    print(message.create_appchat(runtime.wecom("app"), args.name, args.owner or users[0], users))
    return 0


def cmd_sop_status(args: argparse.Namespace) -> int:
    from store import sop_tasks

    runtime = _database(args)
    with runtime.engine.connect() as connection:
        by_sop, targets = sop_tasks.status_counts(connection)
    statuses = ("pending", "queued", "sent", "skipped", "cancelled", "failed")
    print("sop".ljust(24) + "targets".rjust(8) + "".join(name.rjust(10) for name in statuses))
    for sop_id in sorted(by_sop):
        row = by_sop[sop_id]
        cells = "".join(str(row.get(name, 0)).rjust(10) for name in statuses)
        print(sop_id.ljust(24) + str(targets.get(sop_id, 0)).rjust(8) + cells)
    return 0


def cmd_parse_date(args: argparse.Namespace) -> int:
    from crm import dates

    if args.today:
        try:
            today = date.fromisoformat(args.today)
        except ValueError:
            print(f"mombot: --today {args.today!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
            return 2
    else:
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    dates.initialise()
    lines = [args.text] if args.text is not None else (line.rstrip("\n") for line in sys.stdin)
    for line in lines:
        found = dates.parse(line, today, args.expect)
        print(json.dumps(found.as_json(), ensure_ascii=False), flush=True)
    return 0


def cmd_leads_list(args: argparse.Namespace) -> int:
    from bot import leads as leads_view
    from crm.clock import SystemClock

    database = _database(args)
    found, total = leads_view.find(
        database.settings, database.engine, SystemClock(database.settings.tz).now(),
        " ".join(args.query), limit=args.limit, **_lead_filters(args),
    )  # fmt: skip
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        for line in leads_view.lines(found, total):
            print(line)
    return 0


def cmd_leads_show(args: argparse.Namespace) -> int:
    from bot import leads as leads_view
    from crm import profile
    from crm.clock import SystemClock
    from store import db

    database = _database(args)
    now = SystemClock(database.settings.tz).now()
    with db.session(database.engine) as s:
        masked = frozenset() if args.with_phone else frozenset({"phone"})
        found = profile.of(s, database.settings, args.id, now, masked)
    if found is None:
        print(f"mombot: no lead {args.id}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        for line in leads_view.profile_lines(found):
            print(line)
    return 0


def _lead_filters(args: argparse.Namespace) -> dict:
    return {"status": args.status, "owner": args.owner, "channel": args.channel,
            "idle_days": args.idle_days, "due_within": args.due_within,
            "min_score": args.min_score}  # fmt: skip


def _csv_file(path: str, orders: bool = False):
    """The lead (or order) file's rows; None (with the reason on stderr) if it has none."""
    from crm import lead_csv

    try:
        data = Path(path).read_bytes()
        return lead_csv.read(data, lead_csv.ORDER_ALIASES if orders else lead_csv.ALIASES)
    except OSError as exc:
        print(f"mombot: {path}: cannot read: {exc.strerror}", file=sys.stderr)
    except (lead_csv.FileProblem, csv.Error) as exc:
        print(f"mombot: {path}: {exc}", file=sys.stderr)
    return None


def cmd_leads_import(args: argparse.Namespace) -> int:
    from bot import lead_import
    from crm.clock import SystemClock
    from store import db

    lead_file = _csv_file(args.file)
    if lead_file is None:
        return 2
    database = _database(args)
    now = SystemClock(database.settings.tz).now()
    with db.session(database.engine) as s:
        report = lead_import.run(
            s, database.settings, lead_file, args.file, now, source=args.source,
            dry_run=args.dry_run, progress=sys.stderr.isatty(),
        )  # fmt: skip
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for line in lead_import.lines(report):
            print(line)
    return 0


def cmd_orders_import(args: argparse.Namespace) -> int:
    from bot import order_import
    from crm.clock import SystemClock
    from store import db

    order_file = _csv_file(args.file, orders=True)
    if order_file is None:
        return 2
    database = _database(args)
    now = SystemClock(database.settings.tz).now()
    with db.session(database.engine) as s:
        report = order_import.run(s, database.settings, order_file, args.file, now,
                                  dry_run=args.dry_run, progress=sys.stderr.isatty())  # fmt: skip
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for line in order_import.lines(report):
            print(line)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from charts.fonts import FontMissing
    from crm import kpis, report
    from crm.clock import SystemClock
    from sop import playbook

    database = _database(args)
    now = SystemClock(database.settings.tz).now()
    try:
        request = report.parse(f"{args.period} {args.focus}", now)
    except report.RequestError as exc:
        print(f"mombot: {exc}", file=sys.stderr)
        return 2
    scope = kpis.EVERYONE
    if args.as_userid:
        with database.engine.connect() as connection:
            scope = kpis.scope_for(connection, database.settings, args.as_userid)
        if scope is None:
            print(f"mombot: {args.as_userid} is no manager, team lead or advisor", file=sys.stderr)
            return 2
    k = kpis.compute(database.engine, database.settings, request.period, scope,
                     playbook.names(database.settings))  # fmt: skip
    written = []
    if args.out:
        try:
            pictures = report.images(k, request.focus, report.footer(now))
        except FontMissing as exc:
            print(f"mombot: {exc}", file=sys.stderr)
            return 1
        out = Path(args.out)
        for n, (_, png) in enumerate(pictures, start=1):
            path = out if n == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}")
            try:
                path.write_bytes(png)
            except OSError as exc:
                print(f"mombot: {path}: cannot write: {exc.strerror}", file=sys.stderr)
                return 1
            written.append(str(path))
    if args.json:
        print(json.dumps({**report.as_json(k), "images": written}, ensure_ascii=False, indent=2))
    else:
        print(report.summary(k, request.focus))
        for path in written:
            print(f"图表：{path}")
    return 0


def cmd_leads_export(args: argparse.Namespace) -> int:
    from bot import leads as leads_view
    from crm.clock import SystemClock
    from store import audit, db

    database = _database(args)
    now = SystemClock(database.settings.tz).now()
    query = " ".join(args.query)
    found, _ = leads_view.find(database.settings, database.engine, now, query, limit=None,
                               reveal_phones=args.with_phones, **_lead_filters(args))  # fmt: skip
    out = Path(args.out)
    try:
        with out.open("w", encoding="utf-8-sig", newline="") as file:
            leads_view.write_csv(found, file)
    except OSError as exc:
        print(f"mombot: {out}: cannot write: {exc.strerror}", file=sys.stderr)
        return 2
    actor = args.by or f"{getpass.getuser()}@{socket.gethostname()}"
    detail = {"file": str(out.resolve()), "query": query, "phones": "full" if args.with_phones
              else "masked", **{k: v for k, v in _lead_filters(args).items() if v}}  # fmt: skip
    with db.session(database.engine) as s:
        audit.record(s, actor, "leads.export", detail, len(found), now)
        s.commit()
    print(f"{len(found)} leads written to {out} (phones {detail['phones']}); "
          f"recorded in the audit log as {actor}")  # fmt: skip
    return 0


def cmd_leads_release(args: argparse.Namespace) -> int:
    from crm import pool
    from store import merges
    from store import pool as pool_store
    from store.models import Contact, LeadSource

    runtime = _runtime(args)
    if not runtime.settings.followup.public_pool:
        print("mombot: the public pool is off ([followup] public_pool)", file=sys.stderr)
        return 2
    missing = 0
    with runtime.context() as ctx:
        for number in args.ids:
            contact = ctx.session.get(Contact, merges.resolve(ctx.session, number))
            if contact is None:
                print(f"mombot: no lead {number}", file=sys.stderr)
                missing += 1
                continue
            who = f"{contact.name or '未命名客户'} (lead {contact.id})"
            if contact.pooled_at is not None:
                print(f"{who} is in the public pool already")
                continue
            now = ctx.clock.now()
            pool_store.put(ctx.session, contact, now, pool.ADMIN, source=LeadSource.ADMIN,
                           note=args.reason)  # fmt: skip
            ctx.session.commit()
            pool.offer(ctx, contact, f"released:{contact.id}:{now.isoformat()}", pool.ADMIN)
            print(f"{who} is in the public pool now; the pool's advisors were told")
    return 1 if missing else 0


def cmd_advisors_leave(args: argparse.Namespace) -> int:
    from crm import pool

    runtime = _runtime(args)
    if args.successor is None and not runtime.settings.followup.public_pool:
        print("mombot: name a --successor: the public pool is off ([followup] public_pool)",
              file=sys.stderr)  # fmt: skip
        return 2
    with runtime.context() as ctx:
        moved, pooled = pool.advisor_left(ctx, args.userid, args.successor)
    print(f"{args.userid}'s open leads: {moved} moved to {args.successor or '-'} "
          f"(WeCom hands them over within 24 h), {pooled} in the public pool")  # fmt: skip
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    from store import audit, db

    database = _database(args)
    tz = database.settings.tz
    since = args.since.replace(tzinfo=tz) if args.since and args.since.tzinfo is None \
        else args.since  # fmt: skip
    with db.session(database.engine) as s:
        entries = audit.listing(s, args.action, args.limit, who=args.who,
                                contact_id=args.contact, since=since)  # fmt: skip
    rows = [{"id": e.id, "at": e.at.astimezone(tz).isoformat(timespec="seconds"),
             "actor": e.actor, "action": e.action, "rows": e.rows,
             "detail": json.loads(e.detail)} for e in entries]  # fmt: skip
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        detail = ", ".join(f"{k}={v}" for k, v in row["detail"].items())
        print(f"{row['at'][:19]}  {row['actor']}  {row['action']}  {row['rows']} rows  {detail}")
    if not rows:
        print("the audit log is empty")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from bot import status
    from crm.clock import SystemClock

    settings = config.load(args.config)
    for line in status.report(settings, SystemClock(settings.tz).now()):
        print(line)
    return 0


def cmd_redis_stop(args: argparse.Namespace) -> int:
    from bot import redis_conn

    settings = config.load(args.config)
    if settings.redis.url:
        print("Redis is external ([redis] url); mombot does not stop it")
        return 1
    stopped = redis_conn.stop_embedded(settings.data_path)
    print("embedded Redis stopped" if stopped else "embedded Redis was not running")
    return 0


CONFIG_HELP = "TOML config file (default: $MOMBOT_CONFIG or ./config.toml)"


def _version() -> str:
    try:
        return metadata.version("mombot")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mombot", description=__doc__)
    root.add_argument("--config", help=CONFIG_HELP)
    root.add_argument("--version", action="version", version=f"mombot {_version()}")
    # --config after the command too (`mombot sop list --config x.toml`); when it is not
    # given there, the value given before the command (or None) stays
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(group, name: str, func: Command, text: str) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=text, parents=[common])
        sub.set_defaults(func=func)
        return sub

    def family(name: str, text: str):
        return commands.add_parser(name, help=text).add_subparsers(
            dest="subcommand", required=True, metavar="SUBCOMMAND"
        )

    serve = command(commands, "serve", cmd_serve, "run the HTTP server (WeCom callbacks, health)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    worker = command(commands, "worker", cmd_worker, "run a queue worker with the scheduler")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")

    demo = command(commands, "demo", cmd_demo, "play a scripted scenario, all local")
    demo.add_argument("--keep", action="store_true", help="keep the demo's data directory")

    command(
        commands,
        "status",
        cmd_status,
        "queues, workers, the oldest unfinished callback, failures, the next SOP task",
    )

    check = command(
        family("config", "configuration"),
        "check",
        cmd_config_check,
        "validate the config file; warn of placeholders and empty secrets",
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask WeCom whether it takes the secrets, agent_id and kf account",
    )

    command(family("db", "database"), "upgrade", cmd_db_upgrade, "apply migrations")

    leads = family("leads", "the lead funnel")
    lead_list = command(leads, "list", cmd_leads_list, "leads, newest first, found by a query")
    lead_list.add_argument(
        "query", nargs="*",
        help="words that narrow the list, e.g. 孕晚期 未签约 上海 7天未跟进 (see the README)",
    )  # fmt: skip
    export = command(leads, "export", cmd_leads_export,
                     "leads to a CSV file (phones masked); recorded in the audit log")  # fmt: skip
    export.add_argument("--out", required=True, help="the CSV file to write")
    export.add_argument("query", nargs="*", help="the same query words as leads list")
    export.add_argument("--with-phones", action="store_true", help="full phone numbers")
    export.add_argument("--by", help="who exports, for the audit log (default: user@host)")
    for sub in (lead_list, export):
        sub.add_argument("--status", action="append", default=[], type=_lead_status,
                         help="e.g. 有意向 (repeatable)")  # fmt: skip
        sub.add_argument("--owner", action="append", default=[], help="advisor userid or name")
        sub.add_argument("--channel", action="append", default=[], help="channel code or name")
        sub.add_argument("--idle-days", type=_positive, help="no follow-up for this many days")
        sub.add_argument("--due-within", type=_positive, help="due within this many days")
        sub.add_argument("--min-score", type=int, help="scored at least this")
    lead_list.add_argument("--limit", type=_positive, default=100)
    lead_list.add_argument("--json", action="store_true", help="a JSON array (phones masked)")
    show = command(leads, "show", cmd_leads_show,
                   "one lead: her steps, score breakdown, orders, follow-ups")  # fmt: skip
    show.add_argument("id", type=_positive, help="her lead number")
    show.add_argument("--with-phone", action="store_true", help="her full phone number")
    show.add_argument("--json", action="store_true")

    lead_import = command(
        leads,
        "import",
        cmd_leads_import,
        "leads from a CSV (UTF-8 or GBK), merged with known people",
    )
    lead_import.add_argument("file", help="CSV with a header row, e.g. name,phone,channel,due_date")
    lead_import.add_argument("--source", default="", help="where the rows came from, e.g. 协和医院")
    lead_import.add_argument("--dry-run", action="store_true",
                             help="report what would happen; keep nothing")  # fmt: skip
    lead_import.add_argument("--json", action="store_true", help="the report as JSON")

    orders = family("orders", "orders from the brand's shops, and value tiers")
    order_import = command(orders, "import", cmd_orders_import,
                           "orders from a CSV (UTF-8 or GBK), once per order id")  # fmt: skip
    order_import.add_argument("file", help="CSV with a header row, e.g. "
                              "order_id,phone,amount,ordered_at,items")  # fmt: skip
    order_import.add_argument("--dry-run", action="store_true",
                              help="report what would happen; keep nothing")  # fmt: skip
    order_import.add_argument("--json", action="store_true", help="the report as JSON")

    release = command(leads, "release", cmd_leads_release,
                      "put leads in the public pool (公海), as an administrator")  # fmt: skip
    release.add_argument("ids", type=_positive, nargs="+", help="lead numbers")
    release.add_argument("--reason", default="", help="a note kept in her history")

    reporting = command(commands, "report", cmd_report,
                        "the managers' report: numbers and charts of a period")  # fmt: skip
    reporting.add_argument("--out", help="write the chart to this PNG file (a focus's second "
                           "chart to FILE-2.png)")  # fmt: skip
    reporting.add_argument("--period", default="",
                           help="今天 (default), 昨天, 本周, 上周, 本月, 上月, 近7天, 近30天, "
                           "a day '11-20', or two dates: '2026-11-01 2026-11-15'")  # fmt: skip
    reporting.add_argument("--focus", default="", help="渠道, 顾问, 阶段 or SOP")
    reporting.add_argument(
        "--as",
        dest="as_userid",
        metavar="USERID",
        help="as this staff member sees it (default: everyone's numbers)",
    )
    reporting.add_argument("--json", action="store_true", help="every number as JSON")

    advisor_cmds = family("advisors", "advisors")
    leave = command(advisor_cmds, "leave", cmd_advisors_leave,
                    "an advisor left: his open leads to a successor, or to the pool")  # fmt: skip
    leave.add_argument("userid")
    leave.add_argument("--successor", help="the advisor who takes them over (离职继承)")

    audit_cmds = family("audit", "the audit log of exports")
    audit_list = command(audit_cmds, "list", cmd_audit_list, "audit log entries, newest first")
    audit_list.add_argument("--action", help="only this action, e.g. leads.export, sidebar.*")
    audit_list.add_argument("--who", help="only what this userid (or operator) did")
    audit_list.add_argument("--contact", type=_positive, help="only about this lead number")
    audit_list.add_argument("--since", type=_moment, help="from this date or time on")
    audit_list.add_argument("--limit", type=_positive, default=50)
    audit_list.add_argument("--json", action="store_true")

    events = family("events", "the inbox of callbacks")
    listing = command(events, "list", cmd_events_list, "recent callbacks and their state")
    listing.add_argument("--status", help="only this status (e.g. failed, unhandled)")
    listing.add_argument("--limit", type=_positive, default=50)
    retry = command(events, "retry", cmd_events_retry, "give failed callbacks another round")
    retry.add_argument("ids", type=int, nargs="+")

    channels = family("channels", "channel codes (渠道活码)")
    command(
        channels,
        "sync",
        cmd_channels_sync,
        "create or update the contact way (QR code) and tags of every channel",
    )
    command(channels, "list", cmd_channels_list, "channels with their QR code and contacts added")

    refresh = command(
        family("stages", "lifecycle stages"),
        "refresh",
        cmd_stages_refresh,
        "recompute every contact's stage (the worker does it daily)",
    )
    refresh.add_argument("--date", type=_day, help="as of this day (YYYY-MM-DD); default: today")

    contact_cmd = family("contacts", "contacts")
    command(
        contact_cmd,
        "sync",
        cmd_contacts_sync,
        "read every existing customer from WeCom as a baseline (nobody is welcomed)",
    )
    set_cmd = command(
        contact_cmd, "set", cmd_contacts_set, "record her due date, baby birthday or 备孕"
    )
    set_cmd.add_argument("external_userid")
    set_cmd.add_argument("--due-date", help="her due date (YYYY-MM-DD)")
    set_cmd.add_argument("--birthday", help="her baby's birthday (YYYY-MM-DD)")
    set_cmd.add_argument("--trying", action="store_true", help="she is trying to conceive (备孕)")
    set_cmd.add_argument("--clear-due-date", action="store_true", help="forget a wrong due date")
    set_cmd.add_argument("--clear-birthday", action="store_true", help="forget a wrong birthday")

    sop_cmd = family("sop", "SOP playbooks")
    for name, func, text in (
        ("list", cmd_sop_list, "the SOPs and their steps"),
        ("check", cmd_sop_check, "validate the playbook files"),
    ):
        sub = command(sop_cmd, name, func, text)
        sub.add_argument("--playbooks", help="a playbook folder (default: [sop] playbooks)")
    tick_cmd = command(
        sop_cmd, "tick", cmd_sop_tick, "queue the SOP steps due now (the worker does it)"
    )
    tick_cmd.add_argument("--now", type=_moment, help="as if it were this moment (ISO 8601)")
    tick_cmd.add_argument(
        "--dry-run", action="store_true", help="only tell what would happen to each due task"
    )
    command(sop_cmd, "status", cmd_sop_status, "per SOP: targets, sent, pending …")

    group_cmd = family("groups", "customer groups (客户群)")
    command(
        group_cmd,
        "sync",
        cmd_groups_sync,
        "read every customer group from WeCom (the callbacks keep them current)",
    )
    command(group_cmd, "list", cmd_groups_list, "customer groups with owner and members")

    create = command(
        family("appchat", "internal group chats for appchat_post steps"),
        "create",
        cmd_appchat_create,
        "make an internal group chat; prints its chatid",
    )
    create.add_argument("name")
    create.add_argument(
        "--users", type=_userids, required=True, help="member userids, comma separated (≥ 2)"
    )
    create.add_argument("--owner", help="default: the first member")

    parse_date = command(
        commands,
        "parse-date",
        cmd_parse_date,
        "what due date or birthday a mother's words give (JSON lines)",
    )
    parse_date.add_argument("--today", help="the day she said it (YYYY-MM-DD); default: today")
    parse_date.add_argument(
        "--expect", choices=("due_date", "birthday"),
        help="what she was asked for, which decides bare dates (as the bot does)",
    )  # fmt: skip
    parse_date.add_argument("text", nargs="?", help="one utterance; none: one per stdin line")

    command(family("redis", "embedded Redis"), "stop", cmd_redis_stop, "stop the embedded Redis")
    return root


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _known_failure(exc: Exception) -> tuple[str, int] | None:
    """A known failure as one line and an exit code; None for anything else (a bug, shown
    whole). What the failure could come from is imported here, once it happened."""
    import redis
    from sqlalchemy.exc import DBAPIError

    from bot import checks
    from bot.redis_conn import RedisStartError
    from sop.playbook import PlaybookError
    from wecom.client import WeComError

    if isinstance(exc, config.ConfigError | PlaybookError):
        return str(exc), 2
    if isinstance(exc, WeComError):
        return f"WeCom {exc.path}: {checks.explain(exc)}", 1
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return f"Redis is not reachable: {_first_line(exc)}", 1
    if isinstance(exc, RedisStartError):
        return _first_line(exc), 1
    if isinstance(exc, DBAPIError):  # the database is down, refuses us, or lacks a table
        return f"database: {_first_line(exc.orig or exc)}", 1
    return None


def main(argv: list[str] | None = None) -> int:
    """Run a command; its known failures are one line on stderr, never a traceback."""
    private.restrict()  # whatever mombot creates (database, Redis files) is the owner's only
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has told
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        known = _known_failure(exc)
        if known is None:
            raise
        message, code = known
        print(f"mombot: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())

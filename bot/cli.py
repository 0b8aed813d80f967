"""The `mombot` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot import logs
from bot import runtime as runtime_module
from bot.runtime import Runtime
from bot.text import table
from crm import config
from sop.playbook import PlaybookError
from wecom.client import WeComError

Command = Callable[[argparse.Namespace], int]


def _runtime(args: argparse.Namespace) -> Runtime:
    settings = config.load(args.config)
    logs.setup(settings)
    return runtime_module.build(settings)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot import server

    settings = config.load(args.config)
    logs.setup(settings)
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    server.serve(settings, host, port)
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
    print(f"  database {settings.database_url.split('@')[-1]}")
    print(f"  redis {'embedded in ' + settings.data_dir if not settings.redis.url else 'external'}")
    print(f"  {len(settings.channels)} channel(s), time zone {settings.timezone}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from store import db

    settings = config.load(args.config)
    db.upgrade(db.make_engine(settings.database_url))
    print("database schema is up to date")
    return 0


def cmd_events_list(args: argparse.Namespace) -> int:
    from store import inbox
    from store.db import session

    runtime = _runtime(args)
    with session(runtime.engine) as s:
        rows = inbox.listing(s, args.status, args.limit)
    tz = runtime.settings.tz
    for row in rows:
        route = "/".join(part for part in (row.msg_type, row.event, row.change_type) if part)
        received = row.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        problem = row.last_error or row.warning
        error = f"  {problem.splitlines()[0][:120]}" if problem else ""
        status = f"{row.status}, warning" if row.warning else row.status
        print(f"{row.id:>8}  {received}  {status:<13} x{row.attempts}  {route}{error}")
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
    from crm.channels import sync

    runtime = _runtime(args)
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

    runtime = _runtime(args)
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


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise config.ConfigError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_stages_refresh(args: argparse.Namespace) -> int:
    from sop import lifecycle

    runtime = _runtime(args)
    with runtime.context() as ctx:
        report = lifecycle.refresh(ctx, _day(args.date))
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
    from pathlib import Path

    from sop import playbook

    if args.playbooks:
        return playbook.load(Path(args.playbooks))
    return playbook.configured(config.load(args.config))


def cmd_sop_list(args: argparse.Namespace) -> int:
    for sop in _playbooks(args):
        trigger = sop.trigger
        detail = trigger.stage or trigger.channel or trigger.tag or trigger.anchor or trigger.every
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
            what = step.title or step.text or (f"（{len(step.texts)}条轮换）" + step.texts[0])
            print(f"    {step.id}: {when} {step.action} {what[:30]}")
    return 0


def cmd_sop_check(args: argparse.Namespace) -> int:
    sops = _playbooks(args)
    print(f"ok: {len(sops)} SOPs, {sum(len(sop.steps) for sop in sops)} steps")
    return 0


def cmd_sop_tick(args: argparse.Namespace) -> int:
    from sop.tick import tick

    runtime = _runtime(args)
    now = datetime.fromisoformat(args.now) if args.now else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=runtime.settings.tz)
    with runtime.context() as ctx:
        report = tick(ctx, now, dry_run=args.dry_run)
    verb = "would send" if args.dry_run else "due"
    print(f"{report.at:%Y-%m-%d %H:%M} {verb}: {len(report.due)} task(s)")
    for task_id, sop_id, step_id, target in report.due[:200]:
        print(f"  #{task_id} {sop_id}/{step_id} → {target}")
    if not args.dry_run:
        print(f"queued {report.queued}, deferred out of quiet hours {report.deferred}")
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

    runtime = _runtime(args)
    with session(runtime.engine) as s:
        rows = [("chat id", "name", "owner", "customers", "members", "status")]
        rows += [(g.chat_id, g.name or "-", g.owner_userid, str(g.customers), str(g.members),
                  "dismissed" if g.dismissed else "active") for g in groups.listing(s)]  # fmt: skip
    print("\n".join(table(rows)))
    return 0


def cmd_appchat_create(args: argparse.Namespace) -> int:
    from wecom import message

    runtime = _runtime(args)
    users = [u for u in args.users.split(",") if u]
    print(message.create_appchat(runtime.wecom("app"), args.name, args.owner or users[0], users))
    return 0


def cmd_sop_status(args: argparse.Namespace) -> int:
    from store import sop_tasks

    runtime = _runtime(args)
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


def cmd_redis_stop(args: argparse.Namespace) -> int:
    from bot import redis_conn

    settings = config.load(args.config)
    if settings.redis.url:
        print("Redis is external ([redis] url); mombot does not stop it")
        return 1
    stopped = redis_conn.stop_embedded(settings.data_path)
    print("embedded Redis stopped" if stopped else "embedded Redis was not running")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mombot", description=__doc__)
    root.add_argument(
        "--config", help="TOML config file (default: $MOMBOT_CONFIG or ./config.toml)"
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server (WeCom callbacks, health)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="run a queue worker with the scheduler")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(func=cmd_worker)

    demo = commands.add_parser("demo", help="play a scripted scenario, all local")
    demo.add_argument("--keep", action="store_true", help="keep the demo's data directory")
    demo.set_defaults(func=cmd_demo)

    conf = commands.add_parser("config", help="configuration").add_subparsers(required=True)
    conf.add_parser("check", help="validate the config file").set_defaults(func=cmd_config_check)

    database = commands.add_parser("db", help="database").add_subparsers(required=True)
    database.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    events = commands.add_parser("events", help="the inbox of callbacks").add_subparsers(
        required=True
    )
    listing = events.add_parser("list", help="recent callbacks and their state")
    listing.add_argument("--status", help="only this status (e.g. failed, unhandled)")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_events_list)
    retry = events.add_parser("retry", help="give failed callbacks another round")
    retry.add_argument("ids", type=int, nargs="+")
    retry.set_defaults(func=cmd_events_retry)

    channels = commands.add_parser("channels", help="channel codes (渠道活码)").add_subparsers(
        required=True
    )
    channels.add_parser(
        "sync", help="create or update the contact way (QR code) and tags of every channel"
    ).set_defaults(func=cmd_channels_sync)
    channels.add_parser("list", help="channels with their QR code and contacts added").set_defaults(
        func=cmd_channels_list
    )

    stage_cmd = commands.add_parser("stages", help="lifecycle stages").add_subparsers(required=True)
    refresh = stage_cmd.add_parser(
        "refresh", help="recompute every contact's stage (the worker does it daily)"
    )
    refresh.add_argument("--date", help="as of this day (YYYY-MM-DD); default: today")
    refresh.set_defaults(func=cmd_stages_refresh)

    contact_cmd = commands.add_parser("contacts", help="contacts").add_subparsers(required=True)
    contact_cmd.add_parser(
        "sync", help="read every existing customer from WeCom as a baseline (nobody is welcomed)"
    ).set_defaults(func=cmd_contacts_sync)
    set_cmd = contact_cmd.add_parser("set", help="record her due date, baby birthday or 备孕")
    set_cmd.add_argument("external_userid")
    set_cmd.add_argument("--due-date", help="her due date (YYYY-MM-DD)")
    set_cmd.add_argument("--birthday", help="her baby's birthday (YYYY-MM-DD)")
    set_cmd.add_argument("--trying", action="store_true", help="she is trying to conceive (备孕)")
    set_cmd.add_argument("--clear-due-date", action="store_true", help="forget a wrong due date")
    set_cmd.add_argument("--clear-birthday", action="store_true", help="forget a wrong birthday")
    set_cmd.set_defaults(func=cmd_contacts_set)

    sop_cmd = commands.add_parser("sop", help="SOP playbooks").add_subparsers(required=True)
    for name, func, text in (
        ("list", cmd_sop_list, "the SOPs and their steps"),
        ("check", cmd_sop_check, "validate the playbook files"),
    ):
        sub = sop_cmd.add_parser(name, help=text)
        sub.add_argument("--playbooks", help="a playbook folder (default: [sop] playbooks)")
        sub.set_defaults(func=func)
    tick_cmd = sop_cmd.add_parser("tick", help="queue the SOP steps due now (the worker does it)")
    tick_cmd.add_argument("--now", help="as if it were this moment (ISO 8601)")
    tick_cmd.add_argument("--dry-run", action="store_true", help="only show what would be sent")
    tick_cmd.set_defaults(func=cmd_sop_tick)
    sop_cmd.add_parser("status", help="per SOP: targets, sent, pending …").set_defaults(
        func=cmd_sop_status
    )

    group_cmd = commands.add_parser("groups", help="customer groups (客户群)").add_subparsers(
        required=True
    )
    group_cmd.add_parser(
        "sync", help="read every customer group from WeCom (the callbacks keep them current)"
    ).set_defaults(func=cmd_groups_sync)
    group_cmd.add_parser("list", help="customer groups with owner and members").set_defaults(
        func=cmd_groups_list
    )
    appchat = commands.add_parser("appchat", help="internal group chats for appchat_post steps")
    create = appchat.add_subparsers(required=True).add_parser(
        "create", help="make an internal group chat; prints its chatid"
    )
    create.add_argument("name")
    create.add_argument("--users", required=True, help="member userids, comma separated (≥ 2)")
    create.add_argument("--owner", help="default: the first member")
    create.set_defaults(func=cmd_appchat_create)

    parse_date = commands.add_parser(
        "parse-date", help="what due date or birthday a mother's words give (JSON lines)"
    )
    parse_date.add_argument("--today", help="the day she said it (YYYY-MM-DD); default: today")
    parse_date.add_argument(
        "--expect", choices=("due_date", "birthday"),
        help="what she was asked for, which decides bare dates (as the bot does)",
    )  # fmt: skip
    parse_date.add_argument("text", nargs="?", help="one utterance; none: one per stdin line")
    parse_date.set_defaults(func=cmd_parse_date)

    redis_cmd = commands.add_parser("redis", help="embedded Redis").add_subparsers(required=True)
    redis_cmd.add_parser("stop", help="stop the embedded Redis").set_defaults(func=cmd_redis_stop)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (config.ConfigError, PlaybookError) as exc:
        print(f"mombot: {exc}", file=sys.stderr)
        return 2
    except WeComError as exc:
        print(f"mombot: WeCom: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

"""The managers' report (`/report`) with 1,000,000 contacts, 3,000,000 follow-ups, 5,000,000 SOP
tasks and 2,000,000 status changes, on SQLite and on PostgreSQL.

Seeds both databases with the same rows (fixed seeds): the contacts of bench.leads_list (in
the order they added their advisor, so ids follow added_at as in a running system; 10% given
by an [[assign]] rule, 5% with a value tier, the signed with an amount), each one's
"became a lead" event plus 1,000,000 moves through the funnel (to 已沟通, 有意向, 已签约 with
an amount, 已流失 with a reason), follow-ups over the year (most leads get a first one within
hours), SOP tasks over the year (sent, pending, skipped, failed, cancelled), 微信客服 messages
(some of them mothers answering a SOP message), and public pool moves; every moment naive UTC,
the big tables loaded in time order (executemany on SQLite, COPY on PostgreSQL), then ANALYZEd.

Then, per database:
- the baseline: `store.report.bare_counts` (COUNT(*) of contacts, follow_ups, sop_tasks and
  lead_events), best of 3;
- the KPI queries alone, `crm.kpis.compute`: the manager's 昨天, 本月 and 近30天, and one
  advisor's (lisi) 昨天, best and worst of 5 after a warm-up; and each statement of
  `store.report` once, as compute runs them, with its plan (EXPLAIN QUERY PLAN on SQLite,
  EXPLAIN ANALYZE on PostgreSQL) when it takes over PLAN_ABOVE_MS;
- rendering: each chart of the dashboard and of the focuses 渠道, 顾问, 阶段, SOP, for 昨天
  and 近30天, best of 3;
- end to end in this process: `handlers.report.answer` for the manager wangwu, as the worker
  runs it (scope, KPIs, charts, media/upload and message/send through the outbox to the WeCom
  sandbox, which runs in this process too), with `昨天`, `本月` and `近30天 渠道`: best, median
  and worst of 5 after a warm-up, each with a fresh outbox key; every run must deliver the
  summary and its charts.

Run: .venv/bin/python -m bench.report (about 15 minutes; the JSON on stdout, progress on
stderr)
"""

from __future__ import annotations

import bisect
import inspect
import json
import random
import sqlite3
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine

from bench.common import TZ, Corp, emptied, postgres, sandboxed_corp, write_config
from bench.leads_list import LEADS, rows, seed_postgres, seed_sqlite
from bot.runtime import Runtime, build
from crm import config, periods
from crm import report as charts
from crm.clock import SystemClock
from crm.kpis import EVERYONE, Kpis, Scope, compute
from crm.leads import ADVISOR_DELETED, CUSTOMER_DELETED
from handlers import report as handler
from sop import playbook
from store import advisors, db, sop_tasks
from store import report as statements

FOLLOW_UPS, SOP_TASKS, MOVES = 3_000_000, 5_000_000, 1_000_000
POOL_EVENTS, KF_MESSAGES = 20_000, 100_000
BATCH = 100_000
DAY = 86_400.0
MANAGER = "wangwu"
STAFF = {"zhangsan": "张顾问", "lisi": "李顾问", MANAGER: "王五"}
ADVISOR = Scope("李顾问", ("lisi",), "own")
CASES = (("manager 昨天", "昨天", EVERYONE), ("manager 本月", "本月", EVERYONE),
         ("manager 近30天", "近30天", EVERYONE), ("lisi 昨天", "昨天", ADVISOR))  # fmt: skip
ASKS = (("昨天", 1), ("本月", 1), ("近30天 渠道", 2))  # /report's words, the charts they bring
FOCUSES = (None, *charts.FOCUSES)
RUNS = 5
PLAN_ABOVE_MS = 100.0

FUNNEL_STEPS = ("contacted", "interested", "signed")
LOST_REASONS = (CUSTOMER_DELETED, ADVISOR_DELETED, "价格太高", "已在别家签约", "联系不上")
SOPS = ("late-pregnancy", "mid-pregnancy", "newborn-care", "six-months-solids",
        "store-visit-intent", "tier-wake-up")  # fmt: skip
TASK_STATUSES = ["sent"] * 12 + ["pending"] * 3 + ["skipped"] * 2 + ["failed"] + ["cancelled"] * 2
ANSWERED = 60  # one sent SOP message in so many gets her answer in 微信客服
POOL_REASONS = ["超时回收"] * 5 + ["主动放弃"] * 4 + ["离职"]

# the same numbers on both databases (ids follow the order rows are loaded in)
CONTACT_UPDATES = (
    "UPDATE contacts SET signed_amount_cents = (id % 50 + 10) * 10000 WHERE status = 'signed'",
    "UPDATE contacts SET tier = CASE id % 80 WHEN 0 THEN '高价值' WHEN 20 THEN '潜力'"
    " WHEN 40 THEN '流失风险' ELSE '待唤醒' END WHERE id % 20 = 0",
    "UPDATE contacts SET assigned_at = added_at WHERE id % 10 = 0",
)


def note(what: str) -> None:
    """Progress, on stderr: the JSON alone goes to stdout."""
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


def amount_of(contact_id: int) -> int:
    """What she signed for, in fen (as CONTACT_UPDATES sets it)."""
    return (contact_id % 50 + 10) * 10000


def stamp(seconds: float) -> str:
    """A moment as stored: naive UTC, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


# The rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """The contacts (id i + 1 is row i), as the other tables' rows need them."""

    now: float
    added: list[float]  # ascending
    owners: list[str]
    statuses: list[str]
    external: list[str]

    @classmethod
    def of(cls, contacts: list[tuple], now: datetime) -> World:
        added = [datetime.fromisoformat(row[8]).replace(tzinfo=UTC).timestamp()
                 for row in contacts]  # fmt: skip
        return cls(now.timestamp(), added, [row[4] for row in contacts],
                   [row[6] for row in contacts], [row[0] for row in contacts])  # fmt: skip

    def known_by(self, moment: float, rng: random.Random) -> int:
        """One of the contacts who had added her advisor by then (0: none yet)."""
        known = bisect.bisect_right(self.added, moment)
        return rng.randint(1, known) if known else 0


def contacts(now: datetime) -> list[tuple]:
    """bench.leads_list's 1,000,000 contacts (moments in UTC), in the order they were added."""
    return sorted(rows(now.astimezone(UTC)), key=itemgetter(8))


def batched(items: list[tuple], shape: Callable[[tuple], tuple]) -> Iterator[list[tuple]]:
    for start in range(0, len(items), BATCH):
        yield [shape(item) for item in items[start : start + BATCH]]


def lead_events(world: World) -> Iterator[list[tuple]]:
    """Each contact's "became a lead" at her added_at, then MOVES moves up to her status
    (a lost one's path is as long as makes MOVES exact), in time order."""
    rng = random.Random(17)
    counts = Counter(world.statuses)
    rest = MOVES - counts["contacted"] - 2 * counts["interested"] - 3 * counts["signed"]
    base, longer = divmod(rest, counts["lost"])
    events: list[tuple] = []
    lost = 0
    for i, (added, owner, status) in enumerate(zip(world.added, world.owners, world.statuses,
                                                   strict=True)):  # fmt: skip
        contact = i + 1
        events.append((added, contact, "", "wecom", "", "new", None, None))
        if status == "new":
            continue
        if status == "lost":
            steps = min(len(FUNNEL_STEPS) + 1, max(1, base + (lost < longer)))
            path = [*FUNNEL_STEPS[: steps - 1], "lost"]
            lost += 1
        else:
            path = list(FUNNEL_STEPS[: FUNNEL_STEPS.index(status) + 1])
        moments = sorted(rng.uniform(added, world.now) for _ in path)
        before = "new"
        for at, to in zip(moments, path, strict=True):
            events.append((at, contact, owner, "app", before, to,
                           rng.choice(LOST_REASONS) if to == "lost" else None,
                           amount_of(contact) if to == "signed" else None))  # fmt: skip
            before = to
    events.sort(key=itemgetter(0))
    yield from batched(events, lambda e: (e[1], stamp(e[0]), e[2], e[3], e[4], e[5], e[6], "",
                                          e[7]))  # fmt: skip


def follow_ups(world: World) -> Iterator[list[tuple]]:
    """A first follow-up within hours for 70% of the leads, the rest over the year with
    contacts known by then; by her owner, in time order."""
    rng = random.Random(19)
    logged: list[tuple[float, int]] = []
    for i, added in enumerate(world.added):
        at = added + rng.expovariate(1 / 7200)
        if rng.random() < 0.7 and at < world.now:
            logged.append((at, i + 1))
    start = world.now - 365 * DAY
    while len(logged) < FOLLOW_UPS:
        at = rng.uniform(start, world.now)
        if contact := world.known_by(at, rng):
            logged.append((at, contact))
    logged.sort()
    yield from batched(logged, lambda f: (f[1], world.owners[f[1] - 1], "电话沟通", stamp(f[0])))


def sop_tasks_rows(world: World, answers: list[tuple[float, int]]) -> Iterator[list[tuple]]:
    """SOP steps planned over the year, in time order, for contacts known by then; a sent
    one goes out at its due moment and one in ANSWERED gets an answer (added to `answers`)."""
    rng = random.Random(23)
    start, span = world.now - 365 * DAY, 365 * DAY / (SOP_TASKS // BATCH)
    for b in range(SOP_TASKS // BATCH):
        made = sorted(rng.uniform(start + b * span, start + (b + 1) * span) for _ in range(BATCH))
        batch = []
        for j, created in enumerate(made):
            contact = world.known_by(created, rng) or 1
            status = rng.choice(TASK_STATUSES)
            if status == "pending":
                due, updated = created + rng.uniform(0, 30 * DAY), created
            else:
                due = updated = min(created + rng.uniform(0, 3 * DAY), world.now)
            if status == "sent" and rng.randrange(ANSWERED) == 0:
                answered = updated + rng.uniform(60, 60 * 3600)
                if answered < world.now:
                    answers.append((answered, contact))
            batch.append((
                rng.choice(SOPS), f"s{rng.randint(1, 5)}", f"c:{contact}", f"k{b * BATCH + j}",
                stamp(created), stamp(due), status, int(status != "pending"),
                sop_tasks.SENT_TO_HER if status == "sent" else "", stamp(created), stamp(updated),
            ))  # fmt: skip
        yield batch


def kf_messages(world: World, answers: list[tuple[float, int]]) -> Iterator[list[tuple]]:
    """The answers to SOP messages, and the rest of KF_MESSAGES from mothers and the bot over
    the year, in time order."""
    rng = random.Random(29)
    said = [(at, contact, 3) for at, contact in answers[:KF_MESSAGES]]
    start = world.now - 365 * DAY
    while len(said) < KF_MESSAGES:
        at = rng.uniform(start, world.now)
        if contact := world.known_by(at, rng):
            said.append((at, contact, rng.choice((3, 5))))
    said.sort()
    numbered = [(n, *message) for n, message in enumerate(said)]
    yield from batched(numbered, lambda m: (f"bench{m[0]:09d}", world.external[m[2] - 1], m[3],
                                            "好的，谢谢", stamp(m[1])))  # fmt: skip


def pool_events(world: World) -> Iterator[list[tuple]]:
    rng = random.Random(31)
    start = world.now - 365 * DAY
    moves = sorted(rng.uniform(start, world.now) for _ in range(POOL_EVENTS))
    picked = [(at, world.known_by(at, rng) or 1, rng.random() < 0.6) for at in moves]
    yield from batched(picked, lambda p: (p[1], stamp(p[0]), "pooled" if p[2] else "claimed",
                                          rng.choice(("zhangsan", "lisi")),
                                          rng.choice(POOL_REASONS) if p[2] else ""))  # fmt: skip


def tables(world: World) -> Iterator[tuple[str, str, Iterator[list[tuple]]]]:
    """(table, its columns, its rows in batches), each made when it is reached."""
    answers: list[tuple[float, int]] = []
    yield ("lead_events", "contact_id, at, actor, source, from_status, to_status, reason, note,"
           " amount_cents", lead_events(world))  # fmt: skip
    yield "follow_ups", "contact_id, userid, note, created_at", follow_ups(world)
    yield ("sop_tasks", "sop_id, step_id, target, trigger_key, trigger_at, due_at, status,"
           " attempts, detail, created_at, updated_at", sop_tasks_rows(world, answers))  # fmt: skip
    yield (
        "kf_messages",
        "msgid, external_userid, origin, body, sent_at",
        kf_messages(world, answers),
    )
    yield "pool_events", "contact_id, at, kind, userid, reason", pool_events(world)


# Seeding ----------------------------------------------------------------------------------


def seed_sqlite_all(database: Path, data: list[tuple], world: World) -> dict[str, int]:
    note("SQLite: contacts")
    seed_sqlite(database, data)
    loaded = {}
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("PRAGMA cache_size = -4000000")  # 4 GB: the indexes stay in memory
        connection.execute("PRAGMA synchronous = OFF")
        for table, columns, batches in tables(world):
            note(f"SQLite: {table}")
            marks = ", ".join("?" * len(columns.split(",")))
            loaded[table] = 0
            for batch in batches:
                connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch)
                connection.commit()
                loaded[table] += len(batch)
        for update in CONTACT_UPDATES:
            connection.execute(update)
        connection.commit()
        note("SQLite: ANALYZE")
        connection.execute("ANALYZE")
        connection.commit()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return loaded


def seed_postgres_all(url: str, data: list[tuple], world: World) -> dict[str, int]:
    note("PostgreSQL: contacts")
    seed_postgres(url, data)
    loaded = {}
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as connection:
        connection.execute("SET session_replication_role = replica")  # no FK checks: rows fit
        for table, columns, batches in tables(world):
            note(f"PostgreSQL: {table}")
            loaded[table] = 0
            with (connection.cursor() as cursor,
                  cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy):  # fmt: skip
                for batch in batches:
                    for row in batch:
                        copy.write_row(row)
                    loaded[table] += len(batch)
        for update in CONTACT_UPDATES:
            connection.execute(update)
    with psycopg.connect(plain, autocommit=True) as connection:
        note("PostgreSQL: VACUUM ANALYZE")
        connection.execute("VACUUM ANALYZE")
    return loaded


# Measuring --------------------------------------------------------------------------------


def best(seconds: list[float]) -> float:
    return round(min(seconds), 3)


def timed(call: Callable[[], Any], runs: int, warm_up: bool = True) -> list[float]:
    if warm_up:
        call()
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        took.append(time.perf_counter() - started)
    return took


@dataclass
class Call:
    """One statement of store.report (or advisors.names) as compute ran it."""

    name: str
    ms: float
    rows: Any
    sent: list[tuple[str, Any]]  # the SQL it sent, with its parameters


def _size(found: Any) -> Any:
    """A statement's rows; a count, or coverage's (open leads, covered), as it answered."""
    if isinstance(found, tuple):
        return list(found)
    return len(found) if isinstance(found, list) else found


@contextmanager
def statement_clock(engine: Engine, calls: list[Call]) -> Iterator[None]:
    """store.report's statements (and the advisors' names), timed while in the block, with
    the SQL each sent: whatever compute runs, in its order."""
    sent: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        sent.append((statement, parameters))

    wrapped = [(statements, name) for name, value in vars(statements).items()
               if inspect.isfunction(value) and value.__module__ == statements.__name__
               and not name.startswith("_")] + [(advisors, "names")]  # fmt: skip
    originals = {(module, name): getattr(module, name) for module, name in wrapped}

    def timing(label: str, run: Callable[..., Any]) -> Callable[..., Any]:
        def ran(*args: Any, **kwargs: Any) -> Any:
            first = len(sent)
            started = time.perf_counter()
            found = run(*args, **kwargs)
            ms = (time.perf_counter() - started) * 1000
            calls.append(Call(label, ms, _size(found), sent[first:]))
            return found

        return ran

    event.listen(engine, "before_cursor_execute", record)
    for (module, name), run in originals.items():
        label = name if module is statements else f"{module.__name__}.{name}"
        setattr(module, name, timing(label, run))
    try:
        yield
    finally:
        for (module, name), run in originals.items():
            setattr(module, name, run)
        event.remove(engine, "before_cursor_execute", record)


def plan(connection: Connection, statement: str, parameters: Any) -> list[str]:
    if connection.dialect.name == "sqlite":
        found = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        depth: dict[int, int] = {0: 0}
        lines = []
        for node, parent, _, detail in found:
            depth[node] = depth.get(parent, 0) + 1
            lines.append("  " * (depth[node] - 1) + detail)
        return lines
    explained = f"EXPLAIN (ANALYZE, BUFFERS) {statement}"
    return [row[0] for row in connection.exec_driver_sql(explained, parameters)]


def breakdown(engine: Engine, kpis: Callable[[], Kpis]) -> dict:
    """Each statement's time (ms) and rows as compute runs them (once, caches warm), the
    previous period's marked so; the plans of those over PLAN_ABOVE_MS."""
    calls: list[Call] = []
    with statement_clock(engine, calls):
        kpis()
    times: dict[str, float] = {}
    rows: dict[str, Any] = {}
    slow: dict[str, list[tuple[str, Any]]] = {}
    for call in calls:
        name = call.name if call.name not in times else f"{call.name} (previous)"
        times[name], rows[name] = round(call.ms, 1), call.rows
        if call.ms > PLAN_ABOVE_MS:
            slow[name] = call.sent
    plans = {}
    with engine.connect() as connection:
        for name, sent in slow.items():
            plans[name] = [{"sql": statement, "plan": plan(connection, statement, parameters)}
                           for statement, parameters in sent]  # fmt: skip
    return {"statements_sum_ms": round(sum(call.ms for call in calls), 1),
            "statements_ms": times, "statement_rows": rows, "plans": plans}  # fmt: skip


@contextmanager
def chart_clock(took: list[tuple[str, float]]) -> Iterator[None]:
    """crm.report's chart functions, timed (ms) while in the block."""
    names = ("bars", "stacked_bars", "funnel", "dashboard")
    originals = {name: getattr(charts, name) for name in names}

    def timing(name: str, draw: Callable[..., bytes]) -> Callable[..., bytes]:
        def drawn(*args: Any, **kwargs: Any) -> bytes:
            started = time.perf_counter()
            png = draw(*args, **kwargs)
            took.append((name, (time.perf_counter() - started) * 1000))
            return png

        return drawn

    for name, draw in originals.items():
        setattr(charts, name, timing(name, draw))
    try:
        yield
    finally:
        for name, draw in originals.items():
            setattr(charts, name, draw)


def rendering(k: Kpis, footer: str) -> dict[str, float]:
    """Each chart's best of 3 (ms), by its file name."""
    out: dict[str, float] = {}
    charts.images(k, None, footer)  # warm-up: fonts, matplotlib
    for focus in FOCUSES:
        for _ in range(3):
            took: list[tuple[str, float]] = []
            with chart_clock(took):
                pictures = charts.images(k, focus, footer)
            for (file, png), (_, ms) in zip(pictures, took, strict=True):
                out[file] = round(min(out.get(file, ms), ms), 1)
                out[f"{file} bytes"] = len(png)
    return out


def ready(runtime: Runtime, corp: Corp) -> None:
    """Between two asks: the manager's asks-a-minute counter and his app chat emptied (the
    sandbox drops a member's messages beyond 30 a minute, as WeCom does)."""
    for counter in runtime.redis.scan_iter(f"mombot:report:asks:{MANAGER}:*"):
        runtime.redis.delete(counter)
    with corp.state.lock:
        corp.state.messages.clear()
        corp.state.media.clear()


def end_to_end(runtime: Runtime, corp: Corp, words: str, pictures: int) -> dict:
    took = []
    for n in range(RUNS + 1):  # the first is the warm-up
        ready(runtime, corp)
        key = f"bench:report:{words}:{n}:{time.time_ns()}"
        started = time.perf_counter()
        with runtime.context() as ctx:
            handler.answer(ctx, MANAGER, words, key)
            ctx.session.commit()
        took.append(time.perf_counter() - started)
        texts, images = corp.state.delivered_to(MANAGER), corp.state.images_to(MANAGER)
        if len(texts) != 1 or len(images) != pictures:
            raise RuntimeError(f"/report {words}: {len(texts)} text(s), {len(images)} image(s)")
    took = took[1:]
    return {"best_s": best(took), "median_s": round(statistics.median(took), 3),
            "worst_s": round(max(took), 3), "images": pictures,
            "summary": texts[0].splitlines()}  # fmt: skip


def measure(path: Path, corp: Corp) -> dict:
    settings = config.load(path)
    runtime = build(settings, SystemClock(TZ))
    engine = runtime.engine
    out: dict = {}
    try:
        with engine.connect() as connection:
            out["counts"] = statements.bare_counts(connection)
            out["bare_count_s"] = best(
                timed(lambda: statements.bare_counts(connection), 3, warm_up=False)
            )
        now = datetime.now(TZ)
        names = playbook.names(settings)
        kpis, plans, computed = {}, {}, {}
        for label, words, scope in CASES:
            period = periods.parse(words, now)

            def kpis_of(p: periods.Period = period, s: Scope = scope) -> Kpis:
                return compute(engine, settings, p, s, names)

            note(f"KPIs {label}")
            took = timed(kpis_of, RUNS)
            statements_of = breakdown(engine, kpis_of)
            plans[label] = statements_of.pop("plans")
            kpis[label] = {"best_s": best(took), "worst_s": round(max(took), 3),
                           **statements_of}  # fmt: skip
            computed[label] = kpis_of()
        out["kpis"] = kpis
        out["kpis_vs_bare_count"] = {label: round(figures["best_s"] / out["bare_count_s"], 1)
                                     for label, figures in kpis.items()}  # fmt: skip
        footer = charts.footer(now)
        note("charts")
        out["charts_ms"] = {label: rendering(computed[label], footer)
                            for label in ("manager 昨天", "manager 近30天")}  # fmt: skip
        note("end to end")
        out["end_to_end"] = {f"/report {words}": end_to_end(runtime, corp, words, pictures)
                             for words, pictures in ASKS}  # fmt: skip
        out["plans"] = {label: found for label, found in plans.items() if found}
    finally:
        runtime.close()
    return out


def corp_config(folder: Path, corp: Corp, **sections: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = write_config(folder, corp.redis.url, corp.sandbox.url,
                        report={"managers": [MANAGER]}, **sections)  # fmt: skip
    engine = db.make_engine(config.load(path).database_url)
    db.upgrade(engine)
    engine.dispose()
    return path


def main() -> int:
    now = datetime.now(UTC)
    started = time.perf_counter()
    data = contacts(now)
    world = World.of(data, now)
    results: dict = {
        "measured_at": now.astimezone(TZ).isoformat(timespec="seconds"),
        "contacts": LEADS, "follow_ups": FOLLOW_UPS, "sop_tasks": SOP_TASKS,
        "status_changes": LEADS + MOVES, "pool_events": POOL_EVENTS,
        "kf_messages": KF_MESSAGES, "contacts_made_s": round(time.perf_counter() - started, 1),
        "targets": {"end_to_end_s": 3.0, "chart_ms": 300.0},
    }  # fmt: skip
    with sandboxed_corp() as corp:
        corp.state.users |= STAFF
        path = corp_config(corp.folder / "sqlite", corp)
        database = Path(config.load(path).database_url.removeprefix("sqlite:///"))
        started = time.perf_counter()
        loaded = seed_sqlite_all(database, data, world)
        results["sqlite"] = {"seed_s": round(time.perf_counter() - started, 1),
                             "loaded": loaded, **measure(path, corp)}  # fmt: skip
        note(json.dumps(results["sqlite"], ensure_ascii=False))
        with postgres() as url:
            path = corp_config(corp.folder / "pg", corp, database={"url": emptied(url)})
            started = time.perf_counter()
            loaded = seed_postgres_all(url, data, world)
            results["postgresql"] = {"seed_s": round(time.perf_counter() - started, 1),
                                     "loaded": loaded, **measure(path, corp)}  # fmt: skip
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

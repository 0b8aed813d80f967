"""The daily recount of lead scores and value tiers over 1,000,000 leads, on SQLite and
PostgreSQL.

Seeds the leads of bench.leads_list (1,000,000 contacts), then 1,000,000 follow-ups, 1,000,000
stage entries and 300,000 orders from 100,000 buyers, and times the worker's daily jobs as
they run: `scoring.refresh` (every lead's signals read and scored, changed scores written) and
`tiers.refresh` (every buyer's RFM tier). The baseline, in the same run: reading the same
signals without scoring them (`store.signals.between` over every id range), the floor any
recount pays. A second recount, with nothing changed, shows the steady daily cost.

Run: .venv/bin/python -m bench.scores
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bench.common import TZ, emptied, postgres
from bench.leads_list import LEADS, corp, rows, seed_postgres, seed_sqlite
from crm import config, scoring, tiers
from crm.stages import STAGES
from store import db, signals
from store.models import FollowUp, Order, StageEvent

FOLLOW_UPS = 1_000_000
STAGE_EVENTS = 1_000_000
ORDERS, BUYERS = 300_000, 100_000
BATCH = 50_000


def seed_history(engine, now: datetime) -> None:
    random.seed(12)

    def moment(days: int) -> datetime:
        return now - timedelta(days=random.randint(0, days), minutes=random.randint(0, 1440))

    tables = (
        (FollowUp, FOLLOW_UPS, lambda: {
            "contact_id": random.randint(1, LEADS), "userid": "zhangsan", "note": "",
            "created_at": moment(60)}),
        (StageEvent, STAGE_EVENTS, lambda: {
            "contact_id": random.randint(1, LEADS), "stage": random.choice(STAGES),
            "previous": None, "entered_on": moment(300).date(), "created_at": moment(300)}),
    )  # fmt: skip
    with engine.begin() as connection:
        for model, count, make in tables:
            for _ in range(0, count, BATCH):
                connection.execute(insert(model.__table__), [make() for _ in range(BATCH)])
        for start in range(0, ORDERS, BATCH):
            connection.execute(insert(Order.__table__), [
                {"order_id": f"o{start + i}", "contact_id": random.randint(1, BUYERS),
                 "amount_cents": random.randint(50, 2000) * 100, "ordered_at": moment(400),
                 "items": "", "source": "", "created_at": now} for i in range(BATCH)
            ])  # fmt: skip


def measure(path: Path, now: datetime) -> dict:
    settings = config.load(path)
    engine = db.make_engine(settings.database_url)
    started = time.perf_counter()
    with engine.connect() as connection:
        low, high = signals.id_range(connection)
        read = 0
        for first in range(low, high + 1, scoring.REFRESH_BATCH):
            read += len(signals.between(connection, first, first + scoring.REFRESH_BATCH - 1))
    baseline = time.perf_counter() - started
    timings = {}
    for name, job in (("scores", scoring.refresh), ("tiers", tiers.refresh)):
        started = time.perf_counter()
        changed = job(engine, settings, now)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = job(engine, settings, now)
        timings[name] = {"first_s": round(first, 1), "changed": changed,
                         "again_s": round(time.perf_counter() - started, 1),
                         "changed_again": again}  # fmt: skip
    engine.dispose()
    return {
        "leads_read": read,
        "baseline_read_signals_s": round(baseline, 1),
        **{f"{name}_{k}": v for name, values in timings.items() for k, v in values.items()},
        "scores_first_vs_baseline": round(timings["scores"]["first_s"] / baseline, 2),
    }


def main() -> int:
    now = datetime.now(TZ)
    folder = Path(tempfile.mkdtemp(prefix="mombot-bench-scores-"))
    data = rows(now)
    report: dict = {"measured_at": now.isoformat(timespec="seconds"), "leads": LEADS,
                    "follow_ups": FOLLOW_UPS, "stage_events": STAGE_EVENTS, "orders": ORDERS,
                    "buyers": BUYERS}  # fmt: skip
    for name, database in (("sqlite", None), ("postgresql", "pg")):
        if database is None:
            path = corp(folder / "sqlite", {})
            report[name] = _run(path, now, data, None)
        else:
            with postgres() as url:
                path = corp(folder / "pg", {"url": emptied(url)})
                report[name] = _run(path, now, data, url)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def _run(path: Path, now: datetime, data: list[tuple], url: str | None) -> dict:
    settings = config.load(path)
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    if url is None:
        seed_sqlite(Path(settings.database_url.removeprefix("sqlite:///")), data)
    else:
        seed_postgres(url, data)
    seed_history(engine, now)
    with engine.begin() as connection:
        db.analyze(connection, "contacts", "follow_ups", "stage_events", "orders")
    engine.dispose()
    return measure(path, now)


if __name__ == "__main__":
    sys.exit(main())

"""`mombot leads import` of a 100,000-row CSV with 10% duplicates, on SQLite and PostgreSQL.

The file: 90,000 distinct mothers (name, phone, channel, due date, city, a note) and 10,000
rows that repeat one of them (the same phone written another way, another city), shuffled.
Each row runs through the real command as a process (UTF-8, round-robin assignment to two
advisors); the baseline in the same run is `mombot leads import --dry-run` of a one-row
file (the command's start-up and schema check).

Run: .venv/bin/python -m bench.leads_import
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.common import ROOT, TZ, emptied, postgres, write_config
from store import db

ROWS, DUPLICATES = 100_000, 10_000
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "苏州", "西安"]


def write_file(path: Path, today: date) -> None:
    random.seed(7)
    people = [
        (
            f"妈妈{i}",
            f"13{i:09d}",
            random.choice(CITIES),
            today + timedelta(days=random.randint(1, 280)),
        )
        for i in range(ROWS - DUPLICATES)
    ]
    rows = list(people)
    for name, phone, _city, due in random.sample(people, DUPLICATES):
        rows.append((name, f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}", random.choice(CITIES), due))
    random.shuffle(rows)
    with path.open("w", encoding="utf-8") as file:
        file.write("name,phone,channel,due_date,city,note\n")
        for name, phone, city, due in rows:
            file.write(f"{name},{phone},hospital,{due},{city},产检时登记\n")


def timed_import(config: Path, csv_file: Path, *extra: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "leads", "import",
         str(csv_file), "--json", *extra],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    report = json.loads(done.stdout)
    return elapsed, {k: report[k] for k in ("created", "merged", "rejected")}


def run(folder: Path, database_url: str, csv_file: Path, one_row: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    config = write_config(folder, "", database={"url": database_url},
                          assign=[{"advisors": ["zhangsan", "lisi"]}])  # fmt: skip
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    engine.dispose()
    baseline, _ = timed_import(config, one_row, "--dry-run")
    elapsed, counts = timed_import(config, csv_file)
    return {"import_s": round(elapsed, 1), "rows_per_s": round(ROWS / elapsed),
            "baseline_one_row_dry_run_s": round(baseline, 2), **counts}  # fmt: skip


def main() -> int:
    now = datetime.now(TZ)
    folder = Path(tempfile.mkdtemp(prefix="mombot-bench-import-"))
    csv_file, one_row = folder / "hospital.csv", folder / "one.csv"
    write_file(csv_file, now.date())
    one_row.write_text("name,phone\n王芳,13900001111\n", encoding="utf-8")
    results = {"measured_at": now.isoformat(timespec="seconds"), "rows": ROWS,
               "duplicates": DUPLICATES}  # fmt: skip
    results["sqlite"] = run(folder / "sqlite", f"sqlite:///{folder / 'sqlite' / 'mombot.db'}",
                            csv_file, one_row)  # fmt: skip
    with postgres() as url:
        results["postgresql"] = run(folder / "pg", emptied(url), csv_file, one_row)
    print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""parse-date speed after start-up: every utterance of the dates corpus (plus the extra forms
in the tests), 200 rounds, timed one by one. Baseline in the same run: jieba.lcut alone on the
same utterances (the tokenising every parse does).

Run: .venv/bin/python -m bench.parse_date
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from datetime import date
from pathlib import Path

import jieba

from crm import dates

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus" / "dates-dev.tsv"
ROUNDS = 200


def timings(function, cases) -> list[float]:
    out = []
    for _ in range(ROUNDS):
        for text, today in cases:
            start = time.perf_counter()
            function(text, today)
            out.append((time.perf_counter() - start) * 1e6)
    out.sort()
    return out


def summary(values: list[float]) -> dict:
    return {
        "median_us": round(statistics.median(values), 1),
        "p99_us": round(values[int(len(values) * 0.99) - 1], 1),
        "max_us": round(values[-1], 1),
    }


def main() -> None:
    started = time.perf_counter()
    dates.initialise()
    startup = time.perf_counter() - started
    with open(CORPUS, encoding="utf-8") as f:
        cases = [(row["text"], date.fromisoformat(row["today"]))
                 for row in csv.DictReader(f, delimiter="\t")]  # fmt: skip
    parse = summary(timings(dates.parse, cases))
    baseline = summary(timings(lambda text, _today: jieba.lcut(text), cases))
    print(json.dumps({
        "utterances": len(cases) * ROUNDS,
        "startup_s": round(startup, 2),
        "parse": parse,
        "jieba_lcut_alone": baseline,
        "ratio_median": round(parse["median_us"] / baseline["median_us"], 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()

"""`mombot leads import FILE.csv`: every row becomes a lead, merged into the person mombot
knows when it is her (one person, one lead), with a report of each row's outcome."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from tqdm import tqdm

from crm import assign, intake, phones
from crm.config import Settings
from crm.lead_csv import LeadFile
from store import db

log = logging.getLogger(__name__)

CHUNK = 500  # rows per transaction: the writer is not held for the whole file
LOOKED_UP = ("contacts", "lead_identities")  # where each chunk looks for the people it has


@dataclass
class RowOutcome:
    row: int
    result: str  # created, merged, rejected
    id: int | None = None
    reason: str = ""


@dataclass
class Report:
    file: str
    encoding: str
    ignored_columns: list[str]
    rows: list[RowOutcome] = field(default_factory=list)
    assigned: dict[str, int] = field(default_factory=dict)  # advisor → new leads
    dry_run: bool = False

    def count(self, result: str) -> int:
        return sum(1 for row in self.rows if row.result == result)

    def as_json(self) -> dict:
        return {
            "file": self.file, "encoding": self.encoding, "dry_run": self.dry_run,
            "created": self.count("created"), "merged": self.count("merged"),
            "rejected": self.count("rejected"), "ignored_columns": self.ignored_columns,
            "assigned": self.assigned,
            "rows": [{k: v for k, v in vars(row).items() if v not in (None, "")}
                     for row in self.rows],
        }  # fmt: skip


def run(
    session: Session, settings: Settings, lead_file: LeadFile, name: str, now: datetime, *,
    source: str = "", dry_run: bool = False, progress: bool = False,
) -> Report:  # fmt: skip
    """Import the rows; with dry_run, everything is worked out and nothing kept (one
    transaction, rolled back)."""
    report = Report(name, lead_file.encoding, lead_file.ignored, dry_run=dry_run)
    today = now.astimezone(settings.tz).date()
    told: dict[str, list[int]] = {}
    bar = tqdm(total=len(lead_file.rows), unit="行", disable=not progress, file=sys.stderr)
    counted = CHUNK
    for start in range(0, len(lead_file.rows), CHUNK):
        chunk = lead_file.rows[start : start + CHUNK]
        outcomes = _chunk(session, settings, chunk, now, today, source, told, dry_run)
        report.rows += outcomes
        bar.update(len(chunk))
        if start + CHUNK >= counted:  # after 500, 1,000, 2,000, 4,000 … rows
            db.analyze(session.connection(), *LOOKED_UP)
            counted *= 2
    bar.close()
    if dry_run:
        session.rollback()
        return report
    assign.tell(session.connection(), told, now)
    report.assigned |= {userid: len(ids) for userid, ids in told.items()}
    session.commit()
    log.info("imported %s: %d created, %d merged, %d rejected", name, report.count("created"),
             report.count("merged"), report.count("rejected"))  # fmt: skip
    return report


def _chunk(
    session: Session, settings: Settings, rows: list[tuple[int, dict[str, str]]], now: datetime,
    today: date, source: str, told: dict[str, list[int]], dry_run: bool,
) -> list[RowOutcome]:  # fmt: skip
    """One transaction's rows, done again when a concurrent intake of one of them (through
    the API) got there first."""
    for attempt in range(intake.ATTEMPTS):
        mine: dict[str, list[int]] = {}
        try:
            outcomes, choices = _rows(session, settings, rows, now, today, source, mine)
            if not dry_run:
                session.commit()
                assign.record(session.connection(), settings, choices, now)
                session.commit()
        except (intake.Contended, IntegrityError, OperationalError):
            if dry_run or attempt == intake.ATTEMPTS - 1:
                raise
            session.rollback()
            continue
        for userid, ids in mine.items():
            told.setdefault(userid, []).extend(ids)
        return outcomes
    raise AssertionError("unreachable")


def _rows(
    session: Session, settings: Settings, rows: list[tuple[int, dict[str, str]]], now: datetime,
    today: date, source: str, told: dict[str, list[int]],
) -> tuple[list[RowOutcome], list[assign.Choice | None]]:  # fmt: skip
    outcomes: dict[int, RowOutcome] = {}
    good: list[tuple[int, intake.Lead]] = []
    for number, cells in rows:
        if source and not cells.get("source"):
            cells = {**cells, "source": source}
        try:
            good.append((number, intake.read(cells, settings, today)))
        except intake.Invalid as exc:
            reason = "; ".join(f"{lead_field}: {why}" for lead_field, why in exc.errors.items())
            outcomes[number] = RowOutcome(number, "rejected", reason=reason)
    taken = intake.take(session, settings, [lead for _, lead in good], now, "csv", tell=False)
    for (number, _), outcome in zip(good, taken, strict=True):
        if outcome.assigned_to:
            told.setdefault(outcome.assigned_to, []).append(outcome.contact_id)
        differs = "; ".join(f"{k}: {_shown(k, v[0])} ≠ {_shown(k, v[1])}"
                            for k, v in outcome.conflicts.items())  # fmt: skip
        result = "created" if outcome.created else "merged"
        outcomes[number] = RowOutcome(number, result, outcome.contact_id, differs)
    return [outcomes[number] for number, _ in rows], [outcome.assignment for outcome in taken]


def _shown(field: str, value: object) -> str:
    return phones.mask(str(value)) if field == "phone" else str(value)


def lines(report: Report) -> list[str]:
    """What the operator reads: each rejected row with why, each merge with what differed,
    then the totals."""
    out = []
    for row in report.rows:
        if row.result == "rejected":
            out.append(f"row {row.row}: rejected: {row.reason}")
        elif row.result == "merged":
            out.append(f"row {row.row}: merged into lead {row.id}" +
                       (f" (kept the known values; this row had {row.reason})" if row.reason
                        else ""))  # fmt: skip
    total = len(report.rows)
    out.append(
        f"{report.file} ({report.encoding}): {total} rows: {report.count('created')} created, "
        f"{report.count('merged')} merged, {report.count('rejected')} rejected"
        + (" — dry run, nothing was kept" if report.dry_run else "")
    )
    if report.ignored_columns:
        out.append(f"columns not imported: {', '.join(report.ignored_columns)}")
    for userid, count in sorted(report.assigned.items()):
        out.append(f"assigned to {userid}: {count} (told in the app)")
    return out

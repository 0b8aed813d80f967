"""`mombot orders import FILE.csv`: every row an order, kept once per order id, its buyer found
by her keys or made a lead; a report of each row that was not simply kept."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session
from tqdm import tqdm

from crm import assign, intake, orders
from crm.config import Settings
from crm.lead_csv import LeadFile

log = logging.getLogger(__name__)

CHUNK = 500  # rows per transaction


@dataclass
class RowOutcome:
    row: int
    result: str  # created, exists, conflict, rejected
    order_id: str = ""
    id: int | None = None  # her lead id
    new_lead: bool = False
    reason: str = ""
    assigned_to: str = ""  # the advisor a new lead was given to


@dataclass
class Report:
    file: str
    encoding: str
    ignored_columns: list[str]
    rows: list[RowOutcome] = field(default_factory=list)
    assigned: dict[str, int] = field(default_factory=dict)  # advisor → buyers made leads
    dry_run: bool = False

    def count(self, result: str) -> int:
        return sum(1 for row in self.rows if row.result == result)

    def as_json(self) -> dict:
        return {
            "file": self.file, "encoding": self.encoding, "dry_run": self.dry_run,
            **{result: self.count(result) for result in RESULTS},
            "new_leads": sum(1 for row in self.rows if row.new_lead),
            "ignored_columns": self.ignored_columns, "assigned": self.assigned,
            "rows": [{k: v for k, v in vars(row).items() if v not in (None, "", False)}
                     for row in self.rows],
        }  # fmt: skip


RESULTS = ("created", "exists", "conflict", "rejected")


def run(
    session: Session, settings: Settings, order_file: LeadFile, name: str, now: datetime, *,
    dry_run: bool = False, progress: bool = False,
) -> Report:  # fmt: skip
    """Import the rows; with dry_run, everything is worked out and nothing kept. Buyers who
    become leads are assigned by the rules; each advisor is told of his in one digest."""
    report = Report(name, order_file.encoding, order_file.ignored, dry_run=dry_run)
    bar = tqdm(total=len(order_file.rows), unit="行", disable=not progress, file=sys.stderr)
    for start in range(0, len(order_file.rows), CHUNK):
        chunk = order_file.rows[start : start + CHUNK]
        report.rows += _chunk(session, settings, chunk, now, dry_run)
        bar.update(len(chunk))
    bar.close()
    if dry_run:
        session.rollback()
        return report
    told: dict[str, list[int]] = {}
    for row in report.rows:
        if row.assigned_to:
            told.setdefault(row.assigned_to, []).append(row.id or 0)
    assign.tell(session.connection(), told, now)
    report.assigned |= {userid: len(ids) for userid, ids in told.items()}
    session.commit()
    log.info("imported orders from %s: %s", name,
             ", ".join(f"{report.count(r)} {r}" for r in RESULTS))  # fmt: skip
    return report


def _chunk(
    session: Session, settings: Settings, rows: list[tuple[int, dict[str, str]]], now: datetime,
    dry_run: bool,
) -> list[RowOutcome]:  # fmt: skip
    outcomes: dict[int, RowOutcome] = {}
    good: list[tuple[int, orders.OrderIn]] = []
    for number, cells in rows:
        try:
            good.append((number, orders.read(cells, settings, now)))
        except intake.Invalid as exc:
            reason = "; ".join(f"{name}: {why}" for name, why in exc.errors.items())
            outcomes[number] = RowOutcome(number, "rejected", cells.get("order_id", ""),
                                          reason=reason)  # fmt: skip
    for attempt in range(intake.ATTEMPTS):
        try:
            taken = orders.take(session, settings, [order for _, order in good], now, "csv",
                                tell=False)  # fmt: skip
            if not dry_run:
                session.commit()
                assign.record(session.connection(), settings,
                              [outcome.assignment for outcome in taken], now)  # fmt: skip
                session.commit()
            break
        except (intake.Contended, IntegrityError, OperationalError):
            if dry_run or attempt == intake.ATTEMPTS - 1:
                raise
            session.rollback()
    for (number, _), outcome in zip(good, taken, strict=True):
        reason = "kept already with another amount or time" if outcome.result == "conflict" else ""
        outcomes[number] = RowOutcome(
            number, outcome.result, outcome.order_id, outcome.contact_id, outcome.new_lead,
            reason, outcome.assignment.userid if outcome.assignment else "",
        )  # fmt: skip
    return [outcomes[number] for number, _ in rows]


def lines(report: Report) -> list[str]:
    """What the operator reads: each rejected or conflicting row with why, then the totals."""
    out = [f"row {row.row}: {row.result}: {row.order_id + ': ' if row.order_id else ''}"
           f"{row.reason}" for row in report.rows if row.reason]  # fmt: skip
    new = sum(1 for row in report.rows if row.new_lead)
    out.append(
        f"{report.file} ({report.encoding}): {len(report.rows)} rows: "
        + ", ".join(f"{report.count(r)} {'kept' if r == 'created' else r}" for r in RESULTS)
        + (f"; {new} buyer(s) new to mombot became leads" if new else "")
        + (" — dry run, nothing was kept" if report.dry_run else "")
    )
    if report.ignored_columns:
        out.append(f"columns not imported: {', '.join(report.ignored_columns)}")
    for userid, number in sorted(report.assigned.items()):
        out.append(f"new buyers assigned to {userid}: {number} (told in the app)")
    return out

"""The audit log: who did what with mothers' data, when, and how much of it."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session, select

from store.models import AuditEntry


def record(
    session: Session, actor: str, action: str, detail: dict, rows: int, now: datetime
) -> AuditEntry:
    entry = AuditEntry(at=now, actor=actor[:64], action=action, rows=rows,
                       detail=json.dumps(detail, ensure_ascii=False, sort_keys=True))  # fmt: skip
    session.add(entry)
    session.flush()
    return entry


def listing(session: Session, action: str | None = None, limit: int = 50) -> list[AuditEntry]:
    """The newest entries first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.exec(query))

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
                       contact_id=detail.get("contact_id"),
                       detail=json.dumps(detail, ensure_ascii=False, sort_keys=True))  # fmt: skip
    session.add(entry)
    session.flush()
    return entry


def listing(
    session: Session, action: str | None = None, limit: int = 50, *, who: str | None = None,
    contact_id: int | None = None, since: datetime | None = None,
) -> list[AuditEntry]:  # fmt: skip
    """The newest entries first; `action` may end in * (sidebar.*)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action.startswith(action[:-1]) if action.endswith("*")
                            else AuditEntry.action == action)  # fmt: skip
    if who:
        query = query.where(AuditEntry.actor == who)
    if contact_id is not None:
        query = query.where(AuditEntry.contact_id == contact_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(session.exec(query))

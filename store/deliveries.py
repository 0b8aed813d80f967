"""The at-most-once ledger for one-off sends (welcomes, notices to advisors).

`claim` inserts a pending row and commits the session before anything is sent (with what
the handler did so far: handlers are idempotent), so a handler that is retried, or runs twice,
never sends the same key again. `finish` records the outcome; the caller commits it (with
whatever else the send changed: on SQLite each commit waits for the one writer).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Executable, bindparam, delete, update
from sqlmodel import Session, select

from store.db import insert_for
from store.models import Delivery, DeliveryStatus

T = Delivery.__table__


def claim(
    session: Session, key: str, kind: str, target: str, now: datetime, commit: bool = True
) -> bool:
    """True if this key was never claimed before (and now is, as pending); without `commit`
    the claim holds once the caller commits (before sending anything)."""
    connection = session.connection()
    row = {"key": key, "kind": kind, "target": target, "now": now}
    # a returned id says it was inserted; rowcount did not, on PostgreSQL (tests on both)
    claimed = connection.execute(_claiming(connection.dialect.name), row).scalar() is not None
    if commit:
        session.commit()
    return claimed


@cache
def _claiming(dialect: str) -> Executable:
    """The claim's INSERT, built once per dialect (a worker claims for every message it sends)."""
    statement = insert_for(dialect, T)
    return (
        statement.values(key=bindparam("key"), kind=bindparam("kind"),
                         target=bindparam("target"), status=DeliveryStatus.PENDING, detail="",
                         created_at=bindparam("now", type_=T.c.created_at.type))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(T.c.id)
    )  # fmt: skip


_FINISH = (
    update(T)
    .where(T.c.key == bindparam("done_key"))
    .values(status=bindparam("status", type_=T.c.status.type), detail=bindparam("detail"),
            finished_at=bindparam("now", type_=T.c.finished_at.type))
)  # fmt: skip


def finish(session: Session, key: str, status: DeliveryStatus, detail: str, now: datetime) -> None:
    row = {"done_key": key, "status": status, "detail": detail[:512], "now": now}
    session.connection().execute(_FINISH, row)


def release(session: Session, key: str) -> None:
    """Forget a pending claim whose send got no answer at all, so it can be tried again."""
    session.connection().execute(
        delete(T).where(T.c.key == key, T.c.status == DeliveryStatus.PENDING)
    )
    session.commit()


def get(session: Session, key: str) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.key == key)).first()


def existing(session: Session, keys: list[str]) -> set[str]:
    """Which of these keys are claimed (pending or finished)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(session.exec(select(Delivery.key).where(Delivery.key.in_(chunk))))
    return found

"""微信客服: the sync cursor per account, messages already handled, and dialogs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from store.db import insert
from store.models import Dialog, KfCursor, KfMessage, KfOrigin


def cursor(session: Session, open_kfid: str) -> str:
    row = session.get(KfCursor, open_kfid)
    return row.cursor if row else ""


def save_cursor(session: Session, open_kfid: str, value: str, now: datetime) -> None:
    row = session.get(KfCursor, open_kfid) or KfCursor(open_kfid=open_kfid, updated_at=now)
    row.cursor, row.updated_at = value, now
    session.add(row)


def first_sight(session: Session, message: dict, now: datetime) -> bool:
    """Record a synced message; False if its msgid was handled before."""
    connection = session.connection()
    statement = (
        insert(connection, KfMessage.__table__)
        .values(
            msgid=message["msgid"],
            external_userid=message.get("external_userid", ""),
            origin=int(message.get("origin", 0)),
            body=json.dumps(message, ensure_ascii=False),
            sent_at=now,
        )
        .on_conflict_do_nothing(index_elements=["msgid"])
        .returning(KfMessage.__table__.c.id)
    )
    return connection.execute(statement).scalar() is not None


def find_dialog(session: Session, external_userid: str) -> Dialog | None:
    return session.exec(select(Dialog).where(Dialog.external_userid == external_userid)).first()


def talking(session: Session, external_userids: Iterable[str | None]) -> set[str]:
    """Which of these mothers (one job's, a hundred at most) have a dialog with the bot."""
    column = col(Dialog.external_userid)
    wanted = [userid for userid in external_userids if userid]
    return set(session.exec(select(column).where(column.in_(wanted)))) if wanted else set()


def dialog(session: Session, external_userid: str, open_kfid: str, now: datetime) -> Dialog:
    found = find_dialog(session, external_userid)
    if found is None:
        found = Dialog(external_userid=external_userid, open_kfid=open_kfid, updated_at=now)
        session.add(found)
        session.flush()
    return found


def record_sent(
    session: Session, msgid: str, external_userid: str, text: str, now: datetime
) -> None:
    """Keep a text the bot sent her (msgid: WeCom's, else the outbox key), as sync_msg would
    show it; once per msgid."""
    message = {"msgid": msgid, "external_userid": external_userid, "origin": KfOrigin.BOT,
               "msgtype": "text", "text": {"content": text}}  # fmt: skip
    body = json.dumps(message, ensure_ascii=False)
    connection = session.connection()
    row = {"msgid": msgid, "external_userid": external_userid, "origin": KfOrigin.BOT,
           "body": body, "sent_at": now}  # fmt: skip
    statement = insert(connection, KfMessage.__table__).values(**row)
    connection.execute(statement.on_conflict_do_nothing(index_elements=["msgid"]))


TALK = (KfOrigin.CUSTOMER, KfOrigin.SERVICER, KfOrigin.BOT)


def conversation(
    connection: Connection, external_userid: str, limit: int
) -> list[tuple[datetime, KfOrigin, str]]:
    """Her last texts with the welcome bot, both ways (and a servicer's), newest first: when,
    who wrote it, what. In the order mombot kept them (by id): a reply is kept after what it
    answers, while its moment (when it was sent) may be later than her next message's."""
    t = KfMessage.__table__
    rows = connection.execute(
        select(t.c.sent_at, t.c.origin, t.c.body)
        .where(t.c.external_userid == external_userid, t.c.origin.in_(TALK))
        .order_by(t.c.id.desc()).limit(limit)
    )  # fmt: skip
    found = []
    for at, origin, body in rows:
        message = json.loads(body)
        if message.get("msgtype") == "text":
            found.append((at, KfOrigin(origin), str(message.get("text", {}).get("content", ""))))
    return found

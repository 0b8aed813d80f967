"""Advisors' display names, cached from WeCom's user/get."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from store.models import Advisor

FRESH_FOR = timedelta(days=1)


def cached_name(session: Session, userid: str, now: datetime) -> str | None:
    advisor = session.exec(select(Advisor).where(Advisor.userid == userid)).first()
    if advisor is None or now - advisor.updated_at > FRESH_FOR:
        return None
    return advisor.name


def remember(session: Session, userid: str, name: str, now: datetime) -> None:
    advisor = session.exec(select(Advisor).where(Advisor.userid == userid)).first()
    advisor = advisor or Advisor(userid=userid, updated_at=now)
    advisor.name, advisor.updated_at = name, now
    session.add(advisor)
    session.flush()

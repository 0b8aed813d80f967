"""Contact ways (QR codes) made for channel codes, and how many contacts each brought."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from store.models import ChannelWay


def get(session: Session, code: str) -> ChannelWay | None:
    return session.exec(select(ChannelWay).where(ChannelWay.code == code)).first()


def all_ways(session: Session) -> dict[str, ChannelWay]:
    return {way.code: way for way in session.exec(select(ChannelWay))}


def save(
    session: Session, code: str, config_id: str, qr_code: str, fingerprint: str, now: datetime
) -> ChannelWay:
    way = get(session, code) or ChannelWay(
        code=code, config_id=config_id, fingerprint=fingerprint, created_at=now, updated_at=now
    )
    way.config_id, way.fingerprint, way.updated_at = config_id, fingerprint, now
    if qr_code:
        way.qr_code = qr_code
    session.add(way)
    session.flush()
    return way

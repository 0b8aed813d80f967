"""Who may see a customer (her advisors — whoever has her in WeCom —, their team leads, the
managers: [roles]) and who may change her (her owner, his team lead, the managers)."""

from __future__ import annotations

from sqlmodel import Session

from crm.config import Settings
from store import contacts
from store.models import Contact


def may_see(session: Session, settings: Settings, userid: str, contact: Contact) -> bool:
    if not userid:
        return False
    if userid in settings.managers:
        return True
    advisors = contacts.followers(session, contact.id) | {contact.owner_userid} - {""}
    if userid in advisors:
        return True
    return bool(advisors & set(settings.roles.team_leads.get(userid, [])))


def may_edit(settings: Settings, userid: str, contact: Contact) -> bool:
    """Move her, log follow-ups, correct her dates: her owner, his team lead, the managers
    (another advisor who also has her in WeCom may look, not change)."""
    if userid == contact.owner_userid or userid in settings.managers:
        return True
    return contact.owner_userid in settings.roles.team_leads.get(userid, [])


def masked_for(settings: Settings, userid: str, contact: Contact) -> frozenset[str]:
    """What of her profile `userid` sees masked ([roles] masked): nothing for her owner and
    the managers."""
    if userid == contact.owner_userid or userid in settings.managers:
        return frozenset()
    return frozenset(settings.roles.masked)

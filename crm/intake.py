"""Leads from outside WeCom (the intake API, a CSV import): read and check what a source sent,
then find her among the people mombot knows (one person, one lead) or make her a new lead.

A source's values never overwrite what is known: an empty field is filled, a different value
is kept beside it (lead_intakes.conflicts) with its source and time. Her phones, unionid and
the source's own id become keys that find her next time, whichever source sends her.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime

from sqlalchemy import insert
from sqlmodel import Session, select

from crm import assign, dates, phones, scoring, tiers
from crm.config import Settings
from crm.stages import implausible, stage_on
from store import contacts, identities, leads, merges, pool
from store.identities import Key
from store.models import (
    Contact,
    ContactStatus,
    IdentityKind,
    LeadEvent,
    LeadIntake,
    LeadSource,
    PoolEvent,
    StageEvent,
)

LIMITS = {"name": 128, "channel": 30, "city": 32, "source": 32, "note": 1000, "external_id": 96,
          "unionid": 64, "external_userid": 64}  # fmt: skip
LEAD_STATE = "lead:"  # the state of a contact way made for one lead: lead:<her id>
ATTEMPTS = 5  # a concurrent intake of the same person, or SQLite's writer busy: start over


class Invalid(ValueError):
    """What is wrong, field by field (field → reason)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Lead:
    name: str = ""
    phone: str = ""  # normalised: 13812341234
    channel: str = ""
    city: str = ""
    due_date: date | None = None
    baby_birthday: date | None = None
    source: str = ""
    note: str = ""
    external_id: str = ""
    unionid: str = ""
    external_userid: str = ""

    def fields(self) -> dict[str, str]:
        """What was sent, as plain strings (empty fields left out)."""
        values = ((k, getattr(self, k)) for k in FIELDS)
        return {k: v.isoformat() if isinstance(v, date) else v
                for k, v in values if v not in ("", None)}  # fmt: skip

    def identity_keys(self) -> list[Key]:
        found = identities.keys(self.external_userid, self.unionid, self.phone)
        if self.external_id:
            found.append(identities.source_id(self.source, self.external_id))
        return found


FIELDS = tuple(f.name for f in fields(Lead))


def read(values: Mapping[str, object], settings: Settings, today: date) -> Lead:
    """A Lead from what a source sent (JSON values or a CSV row's cells); Invalid naming each
    bad field. Dates are ISO (2027-03-15, 2027/3/15) or her own words (预产期3月15号)."""
    errors: dict[str, str] = {}
    unknown = [key for key in values if key not in FIELDS]
    for key in unknown:
        errors[str(key)] = f"unknown field (known: {', '.join(FIELDS)})"
    text: dict[str, str] = {}
    for key in FIELDS:
        value = values.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            errors[key] = "must be a string"
            continue
        try:
            cleaned = clean(str(value), LIMITS.get(key))
        except ValueError as exc:
            errors[key] = str(exc)
            continue
        if cleaned:
            text[key] = cleaned
    found: dict[str, object] = {k: v for k, v in text.items() if k in LIMITS}
    if "phone" in text:
        take_phone(text["phone"], found, errors)
    for key, kind in (("due_date", dates.DUE), ("baby_birthday", dates.BIRTHDAY)):
        if key in text:
            day, problem = date_of(text[key], kind, today)
            if problem:
                errors[key] = problem
            else:
                found[key] = day
    if "channel" in found:
        known = next((c for c in settings.channels if found["channel"] in (c.code, c.name)), None)
        found["channel"] = known.code if known else found["channel"]
    if "city" in found:
        found["city"] = _city(str(found["city"]))
    if not errors and not any(k in found for k in ("phone", "external_id", "unionid",
                                                   "external_userid")):  # fmt: skip
        errors["phone"] = "required (or external_id, unionid, external_userid): nothing else " \
                          "tells her apart from other people"  # fmt: skip
    if errors:
        raise Invalid(errors)
    return Lead(**found)  # type: ignore[arg-type]


def clean(value: str, limit: int | None) -> str:
    """A sent value as kept: NFKC-normalised (full-width digits too) and trimmed; ValueError
    saying why for control characters or more than `limit` characters."""
    cleaned = unicodedata.normalize("NFKC", value).strip()
    if any(unicodedata.category(char) == "Cc" for char in cleaned):
        raise ValueError("contains control characters")
    if limit is not None and len(cleaned) > limit:
        raise ValueError(f"longer than {limit} characters")
    return cleaned


def take_phone(text: str, found: dict[str, object], errors: dict[str, str]) -> None:
    """Her phone, normalised, into `found`; else why not into `errors`."""
    phone = phones.normalise(text)
    if phone is None:
        errors["phone"] = "not a mainland China mobile number (11 digits, 1[3-9]…)"
    else:
        found["phone"] = phone


_ISO = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")


def date_of(text: str, kind: str, today: date) -> tuple[date | None, str]:
    """A due date or birthday (kind: dates.DUE or dates.BIRTHDAY) written as a date or in her
    own words, and plausible: (the day, "") or (None, why not)."""
    match = _ISO.fullmatch(text)
    if match:
        try:
            day = date(*map(int, match.groups()))
        except ValueError:
            return None, f"{text} is no date"
    else:
        parsed = dates.parse(text, today, expect=kind)
        if parsed.kind != kind or parsed.date is None:
            wanted = "a due date" if kind == dates.DUE else "a birthday"
            return None, f"{text!r} is not {wanted} (write 2027-03-15, or words like 预产期3月15号)"
        day = parsed.date
    problem = implausible("due_date" if kind == dates.DUE else "birthday", day, today)
    return (None, f"{day} {problem}") if problem else (day, "")


def _city(name: str) -> str:
    """上海市 → 上海, as the leads list finds her."""
    return name.removesuffix("市") if len(name) > 2 else name


def request_hash(values: Mapping[str, object]) -> str:
    body = json.dumps(values, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    contact_id: int
    created: bool
    conflicts: dict[str, list]
    assignment: assign.Choice | None = None  # she was given an advisor by a rule

    @property
    def assigned_to(self) -> str:
        return self.assignment.userid if self.assignment else ""


@dataclass(frozen=True)
class Request:
    """The intake API request a lead came in: its Idempotency-Key and body hash, kept with
    her intake so that a retry finds the first answer."""

    key: str | None = None
    hash: str = ""


def _one_by_one(
    session: Session, settings: Settings, lead: Lead, now: datetime, via: str, request: Request
) -> Outcome:
    """A row of people known already who need more than filling in: several to merge into
    one, one to bring back from 已流失, or one without an advisor to assign."""
    keys = lead.identity_keys()
    found = identities.find(session.connection(), keys)
    people = [c for c in (session.get(Contact, i) for i in found) if c is not None]
    if not people:  # merged away by a concurrent intake since they were found
        raise Contended
    # WeCom's customer stays; two WeCom customers are two people whatever else they share
    people.sort(key=lambda c: (c.external_userid is None, c.id))
    contact = people[0]
    apart = {c.id for c in people[1:] if c.external_userid is not None}
    conflicts = _fill(contact, lead)
    for other in people[1:]:
        if other.id in apart:
            leads.remark(session, contact, now, LeadSource.INTAKE,
                         f"{lead.source or via}的线索也指向客户（编号 {other.id}）；两位都是"
                         "企业微信客户，没有合并")  # fmt: skip
            continue
        for field, pair in merges.merge(session, contact, other, now).items():
            conflicts.setdefault(field, pair)
        leads.remark(session, contact, now, LeadSource.INTAKE,
                     f"合并了重复线索（原编号 {other.id}）")  # fmt: skip
    if contact.status == ContactStatus.LOST:
        leads.change(session, contact, ContactStatus.NEW, now, source=LeadSource.INTAKE,
                     note=f"重新进线：{lead.source or via}")  # fmt: skip
    _stage(session, settings, contact, now)
    held = identities.claim(session.connection(), [(contact.id, key) for key in keys], now)
    if set().union(*held.values()) - apart:
        raise Contended
    session.add(LeadIntake(
        contact_id=contact.id, at=now, via=via, source=lead.source, outcome="merged",
        idempotency_key=request.key, request_hash=request.hash,
        fields=json.dumps(lead.fields(), ensure_ascii=False),
        conflicts=json.dumps(conflicts, ensure_ascii=False),
    ))  # fmt: skip
    session.add(contact)
    session.flush()
    if contact.owner_userid:
        return Outcome(contact.id, False, conflicts)
    choice = assign.choose(session.connection(), settings, contact, now)
    assign.give(session, settings, contact, choice, now)
    return Outcome(contact.id, False, conflicts, choice)


class Contended(Exception):
    """Another writer took one of her keys, or the database was busy: start over."""


def _fill(contact: Contact | _Draft, lead: Lead) -> dict[str, list]:
    """Her empty fields from the lead; the values that differ from hers, kept aside."""
    conflicts: dict[str, list] = {}
    columns = {"name": "name", "phone": "phone", "channel": "channel_code", "city": "city",
               "due_date": "due_date", "baby_birthday": "baby_birthday", "source": "source",
               "unionid": "unionid", "external_userid": "external_userid"}  # fmt: skip
    for field, column in columns.items():
        offered, mine = getattr(lead, field), getattr(contact, column)
        if offered in ("", None):
            continue
        if mine in ("", None):
            setattr(contact, column, offered)
        elif mine != offered and field != "source":  # she came from several: each intake says
            plain = [v.isoformat() if isinstance(v, date) else v for v in (mine, offered)]
            conflicts[field] = plain
    return conflicts


def _stage(session: Session, settings: Settings, contact: Contact, now: datetime) -> None:
    """Her stage from her dates, at once, for the list and the rules (her SOPs are planned
    when she becomes a WeCom customer)."""
    day = now.astimezone(settings.tz).date()
    stage = stage_on(day, contact.due_date, contact.baby_birthday, contact.trying_to_conceive,
                     settings.stages)  # fmt: skip
    if stage != contact.stage:
        previous, contact.stage, contact.stage_since = contact.stage, stage, day
        if stage:
            session.add(StageEvent(contact_id=contact.id, stage=stage, previous=previous,
                                   entered_on=day, created_at=now))  # fmt: skip


def lead_of_state(state: str) -> int | None:
    """The lead id in the state of a contact way made for one lead (lead:12), else None."""
    number = state.removeprefix(LEAD_STATE)
    return int(number) if state.startswith(LEAD_STATE) and number.isdigit() else None


def link(
    session: Session, external_userid: str, state: str, unionid: str, phone_numbers: list[str],
    now: datetime,
) -> Contact | None:  # fmt: skip
    """A WeCom customer was just added: the lead she is (found by the state of her lead's
    contact way, else by her unionid or a phone her advisor noted) becomes that customer,
    instead of a second person; merged into the customer if WeCom's one is known already.
    None when she is no lead from outside WeCom."""
    lead_id = lead_of_state(state)
    lead = session.get(Contact, merges.resolve(session, lead_id)) if lead_id else None
    if lead is None or lead.external_userid not in (None, external_userid):
        keys: list[Key] = [(IdentityKind.UNIONID, unionid)] if unionid else []
        keys += [(IdentityKind.PHONE, p) for p in map(phones.normalise, phone_numbers) if p]
        found = [session.get(Contact, i) for i in identities.find(session.connection(), keys)]
        lead = next((c for c in found if c is not None and c.external_userid is None), None)
    if lead is None or lead.external_userid == external_userid:
        return lead
    known = session.exec(select(Contact).where(Contact.external_userid == external_userid)).first()
    if known is None:
        lead.external_userid = external_userid
        leads.remark(session, lead, now, LeadSource.WECOM, "已添加为企业微信客户")
        return lead
    merges.merge(session, known, lead, now)
    leads.remark(session, known, now, LeadSource.WECOM, f"合并了线索（原编号 {lead.id}）")
    return known


def take(
    session: Session, settings: Settings, rows: list[Lead], now: datetime, via: str,
    requests: list[Request] | None = None, tell: bool = True,
) -> list[Outcome]:  # fmt: skip
    """Create or merge the people the rows are (one API request, or an import's chunk) and
    record each row as an intake, in the session's transaction (the caller commits), in a few
    statements whatever the number of rows: rows of people nobody knows become new people
    together (rows that share a key are one person: the first row's values, the others
    filling in); rows of one known person fill in her empty fields. Leads without an advisor
    are assigned ([[assign]]) and, with `tell`, their advisor is told of each (an import
    tells each advisor of all his at once instead); after committing, the caller counts them
    (`assign.record`). Raises Contended when another writer made one of these people
    meanwhile: roll back and call again."""
    requests = requests or [Request()] * len(rows)
    connection = session.connection()
    keys = [row.identity_keys() for row in rows]
    known = identities.holders(connection, [key for row_keys in keys for key in row_keys])
    groups = _groups(keys)
    holders = [set().union(*(known.get(key, set()) for i in g for key in keys[i])) for g in groups]
    people = contacts.by_ids(session, sorted({i for ids in holders for i in ids}))
    outcomes: dict[int, Outcome] = {}
    fresh, plain = [], []
    for group, ids in zip(groups, holders, strict=True):
        one = people.get(next(iter(ids))) if len(ids) == 1 else None
        if not ids:
            fresh.append([(i, rows[i]) for i in group])
        elif one is not None and one.owner_userid and one.status != ContactStatus.LOST:
            plain.append((one, [(i, rows[i]) for i in group]))
        else:  # several people to merge, or one to bring back or assign: one by one
            for i in group:
                outcomes[i] = _one_by_one(session, settings, rows[i], now, via, requests[i])
    outcomes |= _create(session, settings, fresh, now, via, requests)
    outcomes |= _add_to(session, settings, plain, now, via, requests)
    done = [outcomes[i] for i in range(len(rows))]
    people = [outcome.contact_id for outcome in done]
    known = [outcome.contact_id for outcome in done if not outcome.created]
    tiers.update(connection, settings, known, now)  # a merge may have brought her orders
    scoring.update(connection, settings, people, now)
    if tell:
        given: dict[str, list[int]] = {}
        for outcome in done:
            if outcome.assignment is not None:
                given.setdefault(outcome.assigned_to, []).append(outcome.contact_id)
        assign.tell(connection, given, now)
    return done


def _add_to(
    session: Session, settings: Settings, known: list[tuple[Contact, list[tuple[int, Lead]]]],
    now: datetime, via: str, requests: list[Request],
) -> dict[int, Outcome]:  # fmt: skip
    """Rows of people known already (each her one contact): her empty fields filled, her new
    keys added, each row kept as an intake."""
    if not known:
        return {}
    outcomes: dict[int, Outcome] = {}
    intakes, owned = [], []
    for contact, group in known:
        for i, lead in group:
            found = _fill(contact, lead)
            outcomes[i] = Outcome(contact.id, False, found)
            intakes.append(_intake_row(contact.id, lead, "merged", found, now, via, requests[i]))
            owned += [(contact.id, key) for key in lead.identity_keys()]
        contact.updated_at = now
        _stage(session, settings, contact, now)
        session.add(contact)
    session.flush()
    connection = session.connection()
    if identities.claim(connection, owned, now):
        raise Contended  # a concurrent intake gave one of her keys to someone else
    connection.execute(insert(LeadIntake.__table__), intakes)
    return outcomes


def _intake_row(
    contact_id: int, lead: Lead, outcome: str, conflicts: dict, now: datetime, via: str,
    request: Request,
) -> dict:  # fmt: skip
    return {"contact_id": contact_id, "at": now, "via": via, "source": lead.source,
            "outcome": outcome, "idempotency_key": request.key, "request_hash": request.hash,
            "fields": json.dumps(lead.fields(), ensure_ascii=False),
            "conflicts": json.dumps(conflicts, ensure_ascii=False)}  # fmt: skip


def _groups(keys: list[list[Key]]) -> list[list[int]]:
    """Row indexes that share a key, transitively, in order of their first row."""
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[Key, int] = {}
    for i, row_keys in enumerate(keys):
        for key in row_keys:
            if key in first:
                a, b = root(first[key]), root(i)
                parent[max(a, b)] = min(a, b)
            else:
                first[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(keys)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


@dataclass
class _Draft:
    """A new person's row before it is written (making a Contact costs too much for an
    import's 100,000): what `_fill` and the assignment rules read and write."""

    id: int = 0
    name: str = ""
    phone: str = ""
    channel_code: str = ""
    city: str = ""
    due_date: date | None = None
    baby_birthday: date | None = None
    source: str = ""
    unionid: str = ""
    external_userid: str | None = None
    stage: str | None = None
    stage_since: date | None = None
    owner_userid: str = ""
    assigned_at: datetime | None = None
    pooled_at: datetime | None = None

    def row(self, now: datetime) -> dict[str, object]:
        values = {k: getattr(self, k) for k in _DRAFTED}
        return {**_REQUIRED, **values, "created_at": now, "updated_at": now}


_DRAFTED = tuple(f.name for f in fields(_Draft) if f.name != "id")
# what every new contacts row needs besides a draft's fields: the columns without NULL
_REQUIRED = {name: field.default for name, field in Contact.model_fields.items()
             if name != "id" and not Contact.__table__.c[name].nullable}  # fmt: skip


def _create(
    session: Session, settings: Settings, people: list[list[tuple[int, Lead]]], now: datetime,
    via: str, requests: list[Request],
) -> dict[int, Outcome]:  # fmt: skip
    """New people, one per group of rows, with their first step, stage, keys and intakes."""
    if not people:
        return {}
    connection = session.connection()
    day = now.astimezone(settings.tz).date()
    made, conflicts = [], []
    for group in people:
        draft = _Draft()
        found: dict[int, dict[str, list]] = {i: _fill(draft, lead) for i, lead in group}
        draft.stage = stage_on(day, draft.due_date, draft.baby_birthday, False, settings.stages)
        draft.stage_since = day if draft.stage else None
        made.append(draft)
        conflicts.append(found)
    choices = assign.choose_many(connection, settings, made, now)
    for draft, choice in zip(made, choices, strict=True):
        if choice is not None:
            draft.owner_userid, draft.assigned_at = choice.userid, now
        elif settings.followup.public_pool:
            draft.pooled_at = now
    t = Contact.__table__
    ids = connection.execute(
        insert(t).returning(t.c.id, sort_by_parameter_order=True),
        [draft.row(now) for draft in made],
    ).scalars().all()  # fmt: skip
    for draft, contact_id in zip(made, ids, strict=True):
        draft.id = contact_id
    steps = [{"contact_id": c.id, "at": now, "actor": "", "source": LeadSource.INTAKE,
              "from_status": "", "to_status": ContactStatus.NEW, "reason": None, "note": "",
              "amount_cents": None} for c in made]  # fmt: skip
    steps += [{"contact_id": c.id, "at": now, "actor": "", "source": LeadSource.RULE,
               "from_status": ContactStatus.NEW, "to_status": ContactStatus.NEW, "reason": None,
               "note": f"分配给{choice.userid}（{choice.rule}）", "amount_cents": None}
              for c, choice in zip(made, choices, strict=True) if choice is not None]  # fmt: skip
    pooled = [c for c in made if c.pooled_at is not None]
    steps += [{"contact_id": c.id, "at": now, "actor": "", "source": LeadSource.RULE,
               "from_status": ContactStatus.NEW, "to_status": ContactStatus.NEW, "reason": None,
               "note": f"进入公海：{assign.NOBODY}", "amount_cents": None}
              for c in pooled]  # fmt: skip
    connection.execute(insert(LeadEvent.__table__), steps)
    if pooled:
        connection.execute(insert(PoolEvent.__table__), [
            {"contact_id": c.id, "at": now, "kind": pool.POOLED, "userid": "",
             "reason": assign.NOBODY} for c in pooled
        ])  # fmt: skip
    staged = [{"contact_id": c.id, "stage": c.stage, "previous": None, "entered_on": day,
               "created_at": now} for c in made if c.stage]  # fmt: skip
    if staged:
        connection.execute(insert(StageEvent.__table__), staged)
    owned = list(dict.fromkeys((c.id, key) for c, group in zip(made, people, strict=True)
                               for _, lead in group for key in lead.identity_keys()))  # fmt: skip
    if identities.claim(connection, owned, now):
        raise Contended
    outcomes: dict[int, Outcome] = {}
    intakes = []
    for draft, group, found, choice in zip(made, people, conflicts, choices, strict=True):
        for n, (i, lead) in enumerate(group):
            intakes.append(_intake_row(draft.id, lead, "merged" if n else "created", found[i],
                                       now, via, requests[i]))  # fmt: skip
            outcomes[i] = Outcome(draft.id, n == 0, found[i], choice if n == 0 else None)
    connection.execute(insert(LeadIntake.__table__), intakes)
    return outcomes

"""Orders from the brand's shops (POST /api/orders, `mombot orders import`): checked, kept once
per order id, and hers by any of her keys — external_userid, unionid or phone. A buyer nobody
knows becomes a lead (one person, one lead, as any intake). Her value tier and score are
recounted with the order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlmodel import Session

from crm import assign, intake, scoring, tiers
from crm.config import Settings
from crm.intake import Invalid, Lead
from store import identities, orders
from store.identities import Key

FIELDS = ("order_id", "amount", "ordered_at", "items", "source", "external_userid", "unionid",
          "phone", "name")  # fmt: skip
LIMITS = {"order_id": 64, "items": 1000, "source": 32, "external_userid": 64, "unionid": 64,
          "name": 128}  # fmt: skip
MAX_AMOUNT = Decimal("10000000")  # 1000万元 in one order: a typo
DEFAULT_SOURCE = "订单"  # the source of a lead first met through her order


@dataclass(frozen=True)
class OrderIn:
    order_id: str
    amount_cents: int
    ordered_at: datetime
    items: str = ""
    source: str = ""
    external_userid: str = ""
    unionid: str = ""
    phone: str = ""
    name: str = ""

    def identity_keys(self) -> list[Key]:
        return identities.keys(self.external_userid, self.unionid, self.phone)

    def same_as(self, kept) -> bool:
        return (kept.amount_cents, kept.ordered_at) == (self.amount_cents, self.ordered_at)


def read(values: Mapping[str, object], settings: Settings, now: datetime) -> OrderIn:
    """An order from what a shop sent (JSON values or a CSV row's cells); Invalid naming each
    bad field. `ordered_at` is ISO (2026-11-20T14:30:00+08:00, 2026-11-20 14:30, 2026/11/20;
    without an offset: in the configured time zone); `items` a string or a list of them."""
    errors: dict[str, str] = {}
    for key in values:
        if key not in FIELDS:
            errors[str(key)] = f"unknown field (known: {', '.join(FIELDS)})"
    text: dict[str, str] = {}
    for key in FIELDS:
        value = values.get(key)
        if value is None:
            continue
        if key == "items" and isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                errors[key] = "must be a string or a list of strings"
                continue
            value = "、".join(item.strip() for item in value if item.strip())
        if key == "amount" and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            errors[key] = "must be a string" + (" or a number" if key == "amount" else "")
            continue
        try:
            cleaned = intake.clean(value, LIMITS.get(key))
        except ValueError as exc:
            errors[key] = str(exc)
            continue
        if cleaned:
            text[key] = cleaned
    found: dict[str, object] = {k: v for k, v in text.items() if k in LIMITS}
    for key in ("order_id", "amount", "ordered_at"):
        if key not in text and key not in errors:
            errors[key] = "required"
    if "amount" in text:
        try:
            found["amount_cents"] = _cents(text["amount"])
        except ValueError as exc:
            errors["amount"] = str(exc)
    if "ordered_at" in text:
        try:
            found["ordered_at"] = _moment(text["ordered_at"], settings, now)
        except ValueError as exc:
            errors["ordered_at"] = str(exc)
    if "phone" in text:
        intake.take_phone(text["phone"], found, errors)
    if not any(k in text for k in ("external_userid", "unionid", "phone")) and not errors:
        errors["phone"] = "required (or external_userid, unionid): whose order it is"
    if errors:
        raise Invalid(errors)
    return OrderIn(**found)  # type: ignore[arg-type]


def _cents(text: str) -> int:
    cleaned = text.replace(",", "").replace("¥", "").replace("￥", "").removesuffix("元")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("not an amount in 元 (e.g. 398 or 398.50)") from None
    if not value.is_finite() or value < 0 or value >= MAX_AMOUNT:
        raise ValueError(f"must be from 0 to less than {MAX_AMOUNT} 元")
    return int((value * 100).quantize(Decimal(1)))


_MOMENT = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)


def _moment(text: str, settings: Settings, now: datetime) -> datetime:
    """2026-11-20T14:30:00+08:00, 2026/11/20 9:30, 2026年11月20日 (midnight); without an offset
    in the configured time zone."""
    found = _MOMENT.fullmatch(text)
    if found is None:
        raise ValueError("not a date and time (e.g. 2026-11-20 14:30)")
    year, month, day, hour, minute, second = (int(part or 0) for part in found.groups()[:6])
    offset = found[7]
    try:
        zone = settings.tz if offset is None else (
            UTC if offset == "Z" else datetime.strptime(offset.replace(":", ""), "%z").tzinfo
        )  # fmt: skip
        moment = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        raise ValueError("not a date and time (e.g. 2026-11-20 14:30)") from None
    if moment > now + timedelta(days=1):
        raise ValueError("is in the future")
    if moment.year < 2000:
        raise ValueError("is before 2000")
    return moment


@dataclass(frozen=True)
class Outcome:
    order_id: str
    contact_id: int
    result: str  # created; exists (kept already, the same); conflict (kept, with other values)
    new_lead: bool = False  # the buyer was nobody mombot knew
    assignment: assign.Choice | None = None  # she was given an advisor by a rule


def take(
    session: Session, settings: Settings, rows: list[OrderIn], now: datetime, via: str,
    tell: bool = True,
) -> list[Outcome]:  # fmt: skip
    """Keep the orders (in the session's transaction; the caller commits) and recount their
    buyers' tiers and scores. An order id kept already is left as it is: `exists` when it is
    the same order, `conflict` when amount or time differ. Buyers who become leads are
    assigned as any intake's (`tell` as in intake.take; the caller counts the assignments
    after committing). Raises intake.Contended when another writer made one of these buyers
    meanwhile: roll back and call again."""
    connection = session.connection()
    kept = orders.existing(connection, [row.order_id for row in rows])
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        first.setdefault(row.order_id, i)
    fresh = [i for i, row in enumerate(rows)
             if first[row.order_id] == i and row.order_id not in kept]  # fmt: skip
    buyers = _buyers(session, settings, [rows[i] for i in fresh], now, via, tell)
    written = orders.add(connection, [
        {"order_id": rows[i].order_id, "contact_id": buyer.contact_id,
         "amount_cents": rows[i].amount_cents, "ordered_at": rows[i].ordered_at,
         "items": rows[i].items, "source": rows[i].source, "created_at": now}
        for i, buyer in zip(fresh, buyers, strict=True)
    ])  # fmt: skip
    raced = orders.existing(connection, [rows[i].order_id for i in fresh
                                         if rows[i].order_id not in written])  # fmt: skip
    outcomes: dict[int, Outcome] = {}
    for i, buyer in zip(fresh, buyers, strict=True):
        outcomes[i] = Outcome(rows[i].order_id, buyer.contact_id, "created", buyer.created,
                              buyer.assignment)  # fmt: skip
        if rows[i].order_id in raced:  # kept by a concurrent request meanwhile
            other = raced[rows[i].order_id]
            outcomes[i] = Outcome(rows[i].order_id, other.contact_id,
                                  "exists" if rows[i].same_as(other) else "conflict")  # fmt: skip
    for i, row in enumerate(rows):  # kept before, or a repeat within these rows
        if i not in outcomes:
            if row.order_id in kept:
                buyer, same = kept[row.order_id].contact_id, row.same_as(kept[row.order_id])
            else:
                buyer, same = outcomes[first[row.order_id]].contact_id, row.same_as(
                    rows[first[row.order_id]])  # fmt: skip
            outcomes[i] = Outcome(row.order_id, buyer, "exists" if same else "conflict")
    buyers_now = sorted({outcome.contact_id for outcome in outcomes.values()})
    tiers.update(connection, settings, buyers_now, now)
    scoring.update(connection, settings, buyers_now, now)
    return [outcomes[i] for i in range(len(rows))]


def _buyers(
    session: Session, settings: Settings, rows: list[OrderIn], now: datetime, via: str,
    tell: bool,
) -> list[intake.Outcome]:  # fmt: skip
    """Each order's buyer: found by her keys when they name one person; otherwise (nobody,
    or several to merge into one) through the intake."""
    connection = session.connection()
    held = identities.holders(connection, [key for row in rows for key in row.identity_keys()])
    found: list[intake.Outcome | None] = []
    unclear: list[int] = []
    for i, row in enumerate(rows):
        people = set().union(*(held.get(key, set()) for key in row.identity_keys()))
        if len(people) == 1:
            found.append(intake.Outcome(next(iter(people)), False, {}))
        else:
            found.append(None)
            unclear.append(i)
    if unclear:
        leads = [Lead(name=rows[i].name, phone=rows[i].phone, unionid=rows[i].unionid,
                      external_userid=rows[i].external_userid,
                      source=rows[i].source or DEFAULT_SOURCE) for i in unclear]  # fmt: skip
        made = intake.take(session, settings, leads, now, via, tell=tell)
        for i, outcome in zip(unclear, made, strict=True):
            found[i] = outcome
    return [outcome for outcome in found if outcome is not None]

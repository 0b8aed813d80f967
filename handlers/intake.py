"""POST /api/leads as plain functions: what partners' systems send becomes leads (created, or
merged into the people mombot knows), once per Idempotency-Key.

A request is read first (`read`: its JSON, its key, her fields); then the leads of the
requests waiting are written together (`post_leads`), in one transaction: a partner sending
many at once costs a few statements per batch, not per lead."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError, OperationalError

from crm import assign, intake, phones
from crm.config import Settings
from crm.context import Context
from store import intakes, merges

log = logging.getLogger(__name__)

MAX_KEY = 255


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict


@dataclass(frozen=True)
class Sent:
    """A request read: its Idempotency-Key and body hash, and her lead or what is wrong with
    it (answered only after the key is looked up: a retry gets its first answer)."""

    request: intake.Request
    lead: intake.Lead | None = None
    invalid: dict[str, str] | None = None


def read(body: bytes, idempotency_key: str | None, settings: Settings, today: date) -> Sent | Reply:
    """The request's lead (dates in words read as of `today`), or a 400 Reply when the body
    is no JSON object, the key is too long, or a lead sent without a key is invalid. (With a
    key, an invalid lead is answered once the key is looked up: a retry gets its first answer.)"""
    values = read_json(body)
    if isinstance(values, Reply):
        return values
    if not isinstance(values, dict):
        return Reply(400, {"error": "body must be a JSON object of the lead's fields"})
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY:
        return Reply(400, {"error": f"Idempotency-Key must be 1 to {MAX_KEY} characters"})
    request = intake.Request(idempotency_key, intake.request_hash(values))
    try:
        return Sent(request, intake.read(values, settings, today))
    except intake.Invalid as exc:
        if idempotency_key is None:
            return _invalid(exc.errors)
        return Sent(request, invalid=exc.errors)


def post_leads(sent: list[Sent], ctx: Context) -> list[Reply]:
    """Each request's answer: 201 with her id when she is new, 200 when merged into someone
    known (another request of the batch for the same person included); 400 naming each bad
    field; 422 when an Idempotency-Key comes back with another body. A retry with the same key
    and body gets the first answer again and changes nothing. The requests' keys must differ
    (ValueError): a key's second request waits for the first's answer.

    The leads are written in one transaction, started over when a concurrent writer took one
    of their people or keys; raises when that keeps happening. Nothing is read or written
    after the commit, so when this raises, nothing of the batch was written."""
    keys = [key for one in sent if (key := one.request.key) is not None]
    if len(set(keys)) < len(keys):
        raise ValueError("an Idempotency-Key is sent twice in one batch")
    session = ctx.session
    for attempt in range(intake.ATTEMPTS):
        earlier = intakes.by_keys(session.connection(), keys)
        replies: dict[int, Reply] = {}
        batch: list[int] = []
        for i, one in enumerate(sent):
            found = earlier.get(one.request.key) if one.request.key is not None else None
            if found is not None:
                replies[i] = _replay(ctx, found, one.request.hash)
            elif one.lead is None:
                replies[i] = _invalid(one.invalid or {})
            else:
                batch.append(i)
        if batch:
            try:
                leads, requests = [sent[i].lead for i in batch], [sent[i].request for i in batch]
                outcomes = intake.take(session, ctx.settings, leads, ctx.clock.now(), "api",
                                       requests)  # fmt: skip
                count(ctx, [outcome.assignment for outcome in outcomes])
                session.commit()
            except (intake.Contended, IntegrityError, OperationalError):
                session.rollback()  # a concurrent request for one of them (or a key) went first
                if attempt == intake.ATTEMPTS - 1:
                    raise
                continue
            for i, outcome in zip(batch, outcomes, strict=True):
                replies[i] = _taken(outcome)
        return [replies[i] for i in range(len(sent))]
    raise AssertionError("unreachable")


def read_json(body: bytes) -> object:
    """The body's JSON value, or a 400 Reply saying why it is none."""
    try:
        return json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Reply(400, {"error": f"body is not JSON: {exc}"})
    except (ValueError, RecursionError):  # a number of thousands of digits; nesting too deep
        return Reply(400, {"error": "body is JSON that cannot be read (too deep or too long)"})


def count(ctx: Context, assignments: list[assign.Choice | None]) -> None:
    """Count the assignments of the leads about to be committed: the last statement before
    the commit, so their counts' rows stay locked for as short as can be (assign.record)."""
    if any(assignments):
        assign.record(ctx.session.connection(), ctx.settings, assignments, ctx.clock.now())


def _invalid(errors: dict[str, str]) -> Reply:
    return Reply(400, {"error": "invalid lead", "fields": errors})


def _replay(ctx: Context, earlier: Row, request_hash: str) -> Reply:
    """The first answer to a request sent again with its Idempotency-Key; 422 for another body."""
    if earlier.request_hash != request_hash:
        return Reply(422, {"error": "this Idempotency-Key was used with another body"})
    return _answer(merges.resolve(ctx.session, earlier.contact_id),
                   earlier.outcome == "created", replay=True)  # fmt: skip


def _taken(outcome: intake.Outcome) -> Reply:
    log.info("intake: lead %d %s via api%s", outcome.contact_id,
             "created" if outcome.created else "merged",
             f", assigned to {outcome.assigned_to}" if outcome.assigned_to else "")  # fmt: skip
    reply = _answer(outcome.contact_id, outcome.created)
    if outcome.conflicts:  # what mombot knew of her, never a phone the caller did not send
        reply.body["conflicts"] = {
            field: [phones.mask(kept), offered] if field == "phone" else [kept, offered]
            for field, (kept, offered) in outcome.conflicts.items()
        }
    if outcome.assigned_to:
        reply.body["assigned_to"] = outcome.assigned_to
    return reply


def _answer(contact_id: int, created: bool, replay: bool = False) -> Reply:
    body: dict = {"id": contact_id, "result": "created" if created else "merged"}
    if replay:
        body["replayed"] = True
    return Reply(201 if created else 200, body)

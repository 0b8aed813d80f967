"""POST /api/leads as a plain function: what a partner's system sends becomes a lead (created,
or merged into the person mombot knows), once per Idempotency-Key."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError, OperationalError

from crm import assign, intake, phones
from crm.context import Context
from store import intakes, merges

log = logging.getLogger(__name__)

MAX_KEY = 255


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict


def post_lead(body: bytes, idempotency_key: str | None, ctx: Context) -> Reply:
    """201 with her id when she is new, 200 when merged into someone known; 400 naming each
    bad field; 422 when an Idempotency-Key comes back with another body. A retry with the same
    key and body gets the first answer again, and changes nothing."""
    values = read_json(body)
    if isinstance(values, Reply):
        return values
    if not isinstance(values, dict):
        return Reply(400, {"error": "body must be a JSON object of the lead's fields"})
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY:
        return Reply(400, {"error": f"Idempotency-Key must be 1 to {MAX_KEY} characters"})
    digest = intake.request_hash(values)
    session, now = ctx.session, ctx.clock.now()
    for attempt in range(intake.ATTEMPTS):
        earlier = _earlier(ctx, idempotency_key)
        if earlier is not None:
            if earlier.request_hash != digest:
                return Reply(422, {"error": "this Idempotency-Key was used with another body"})
            return _answer(merges.resolve(session, earlier.contact_id),
                           earlier.outcome == "created", replay=True)  # fmt: skip
        try:
            lead = intake.read(values, ctx.settings, now.astimezone(ctx.settings.tz).date())
        except intake.Invalid as exc:
            return Reply(400, {"error": "invalid lead", "fields": exc.errors})
        try:
            outcome = intake.take(session, ctx.settings, [lead], now, "api",
                                  [intake.Request(idempotency_key, digest)])[0]  # fmt: skip
            count(ctx, [outcome.assignment])
            session.commit()
        except (intake.Contended, IntegrityError, OperationalError):
            session.rollback()  # a concurrent request for her (or with this key) went first
            if attempt == intake.ATTEMPTS - 1:
                raise
            continue
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


def _earlier(ctx: Context, key: str | None) -> Row | None:
    return None if key is None else intakes.by_key(ctx.session.connection(), key)


def _answer(contact_id: int, created: bool, replay: bool = False) -> Reply:
    body: dict = {"id": contact_id, "result": "created" if created else "merged"}
    if replay:
        body["replayed"] = True
    return Reply(201 if created else 200, body)

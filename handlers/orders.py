"""POST /api/orders as a plain function: a shop's order (or a JSON array of up to MAX_BATCH)
kept once per order id, and its buyer found or made a lead."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError, OperationalError

from crm import intake, orders
from crm.context import Context
from handlers.intake import Reply, count, read_json
from store.models import Contact

log = logging.getLogger(__name__)

MAX_BATCH = 500
STATUS = {"created": 201, "exists": 200, "conflict": 409}


def post_orders(body: bytes, ctx: Context) -> Reply:
    """One order: 201 kept now, 200 kept before (the same), 409 kept before with another
    amount or time; with her lead id and value tier. An array: 200 with one result each.
    400 names each bad field (of each bad order, by index); then nothing is kept."""
    values = read_json(body)
    if isinstance(values, Reply):
        return values
    many = isinstance(values, list)
    items = values if many else [values]
    if not all(isinstance(item, dict) for item in items) or not items:
        return Reply(400, {"error": "body must be an order (a JSON object) or an array of them"})
    if len(items) > MAX_BATCH:
        return Reply(400, {"error": f"at most {MAX_BATCH} orders in one request"})
    now = ctx.clock.now()
    rows, errors = [], {}
    for index, item in enumerate(items):
        try:
            rows.append(orders.read(item, ctx.settings, now))
        except intake.Invalid as exc:
            errors[str(index)] = exc.errors
    if errors:
        return Reply(400, {"error": "invalid order", "fields": errors[next(iter(errors))]}
                     if not many else {"error": "invalid orders", "orders": errors})  # fmt: skip
    session = ctx.session
    for attempt in range(intake.ATTEMPTS):
        try:
            outcomes = orders.take(session, ctx.settings, rows, now, "api")
            count(ctx, [outcome.assignment for outcome in outcomes])
            session.commit()
            break
        except (intake.Contended, IntegrityError, OperationalError):
            session.rollback()  # a concurrent request made one of these buyers first
            if attempt == intake.ATTEMPTS - 1:
                raise
    session.expire_all()  # her tier was written with the order, past the session's objects
    results = [_result(ctx, outcome) for outcome in outcomes]
    log.info("orders: %s via api", ", ".join(f"{o.order_id} {o.result}" for o in outcomes))
    if many:
        return Reply(200, {"results": results})
    return Reply(STATUS[outcomes[0].result], results[0])


def _result(ctx: Context, outcome: orders.Outcome) -> dict:
    buyer = ctx.session.get(Contact, outcome.contact_id)
    found = {"order_id": outcome.order_id, "result": outcome.result, "id": outcome.contact_id,
             "tier": buyer.tier if buyer else None}  # fmt: skip
    if outcome.new_lead:
        found["new_lead"] = True
    if outcome.result == "conflict":
        found["error"] = "this order_id is kept already with another amount or time"
    return found

"""The outbox: the one path for every message to a mother, an advisor or a group.

Claim the message's key in the delivery ledger (which commits what the caller did so far), call
WeCom, record the outcome. A key is claimed once ever, so a retried handler, a job that runs
twice or a worker that died right after sending never sends it again. What the send does is
the caller's: a function that calls WeCom and returns "" when sent, or why WeCom would not take
it (recorded as skipped; for a send to several targets, a reason per ledger key).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from crm import advisors
from crm.context import Context
from store import deliveries
from store import kf as kf_messages
from store.models import Contact, DeliveryStatus, Dialog
from wecom import kf, message
from wecom.client import WeComError, is_transient

log = logging.getLogger(__name__)

DUPLICATE = "duplicate"  # claimed before: nothing was done now
RETRY = "retry"  # a transient WeCom error: the claim was given back, to be tried again later

Refusal = str | Mapping[str, str]  # "" or a reason; or ledger key → reason


class Skip(Exception):
    """Raised by a send function: the message is not sent, on purpose (recorded as skipped)."""


@dataclass(frozen=True)
class Outcome:
    status: str  # DeliveryStatus SENT / SKIPPED / FAILED, or DUPLICATE / RETRY
    detail: str = ""
    refused: Mapping[str, str] = field(default_factory=dict)  # ledger key → reason
    error: WeComError | None = None

    @property
    def sent(self) -> bool:
        return self.status == DeliveryStatus.SENT


def claim(ctx: Context, key: str, kind: str, target: str, commit: bool = True) -> bool:
    """Take the key (committing the session, unless the caller commits before sending);
    False if it was ever taken before."""
    return deliveries.claim(ctx.session, key, kind, target, ctx.clock.now(), commit)


def release(ctx: Context, key: str) -> None:
    """Give back a claim whose message was not sent, so that it can be tried again."""
    deliveries.release(ctx.session, key)


def deliver(
    ctx: Context,
    keys: list[str],
    send: Callable[[], Refusal],
    *,
    retry_transient: bool = False,
    skip_errcodes: frozenset[int] = frozenset(),
    record: Callable[[Outcome], None] | None = None,
    commit: bool = True,
) -> Outcome:
    """Call `send` for claimed keys and record its outcome on each. A WeCom error rolls back
    what `send` left in the session; a transient one gives the claims back when
    retry_transient (the caller tries again later), otherwise the keys end failed (or skipped,
    for skip_errcodes). `record` adds the caller's own rows before the ledger commits them.

    Without `commit` the outcome is left for the caller's next commit (a batch's next claim):
    if the process dies before it, the key stays claimed, pending, and a rerun takes the
    message as handed over, which is what it was."""
    try:
        refusal = send()
    except Skip as exc:
        outcome = Outcome(DeliveryStatus.SKIPPED, str(exc))
    except WeComError as exc:
        ctx.session.rollback()
        if retry_transient and is_transient(exc):
            for key in keys:
                release(ctx, key)
            outcome = Outcome(RETRY, str(exc), error=exc)
        else:
            skipped = exc.errcode in skip_errcodes
            status = DeliveryStatus.SKIPPED if skipped else DeliveryStatus.FAILED
            outcome = Outcome(status, str(exc), error=exc)
    else:
        refused = dict(refusal) if isinstance(refusal, Mapping) else {k: refusal for k in keys}
        refused = {key: reason for key, reason in refused.items() if reason}
        if len(keys) == 1 and refused:
            outcome = Outcome(DeliveryStatus.SKIPPED, refused[keys[0]], refused)
        else:
            outcome = Outcome(DeliveryStatus.SENT, refused=refused)
    if record is not None:
        record(outcome)
    if outcome.status != RETRY:
        now = ctx.clock.now()
        for key in keys:
            reason = outcome.refused.get(key)
            status = DeliveryStatus.SKIPPED if reason else outcome.status
            deliveries.finish(ctx.session, key, status, reason or outcome.detail, now)
    if commit:
        ctx.session.commit()
    return outcome


def send(
    ctx: Context, key: str, kind: str, target: str, send: Callable[[], Refusal], **options
) -> Outcome:
    """Claim, call, record: one message at most once (options as for `deliver`)."""
    if not claim(ctx, key, kind, target):
        return Outcome(DUPLICATE)
    return deliver(ctx, [key], send, **options)


# Messages to staff ----------------------------------------------------------------------------


def notify(ctx: Context, key: str, userid: str, text: str, commit: bool = True) -> bool:
    """A text app message to a staff member, once per key; True if it went out now. Without
    `commit`, its outcome is left for the caller's commit (as `deliver`)."""
    if not userid:
        return False

    def send_text() -> str:
        client = ctx.wecom("app")
        valid = message.send_text(client, ctx.settings.wecom.agent_id, userid, text)
        return "" if valid else "invalid user"

    outcome = send(ctx, key, "notice", userid, send_text, commit=commit)
    if outcome.status not in (DeliveryStatus.SENT, DUPLICATE):
        log.warning("notice %s to %s not sent: %s", key, userid, outcome.detail)
    return outcome.sent


# Messages to a mother through the welcome bot (微信客服) --------------------------------------

WINDOW = timedelta(hours=48)  # kf/send_msg only within 48 h of her last message …
REPLIES_PER_MESSAGE = 5  # … and at most 5 replies to one message


def window_open(ctx: Context, talk: Dialog) -> bool:
    if talk.last_customer_at is None or talk.replies_in_window >= REPLIES_PER_MESSAGE:
        return False
    return ctx.clock.now() - talk.last_customer_at < WINDOW


def say(ctx: Context, contact: Contact, talk: Dialog, text: str, key: str) -> bool:
    """One bot message to her, at most once per key, kept with her messages (the sidebar shows
    the conversation); outside the window (or if WeCom refuses) her advisor is asked to follow
    up instead. True if she got it."""
    if not window_open(ctx, talk):
        _ask_advisor(ctx, contact, text, key)
        return False
    talk.replies_in_window += 1
    ctx.session.add(talk)
    external_userid = contact.external_userid or ""

    def call() -> str:
        return kf.send_text(ctx.wecom("kf"), talk.open_kfid, external_userid, text)

    outcome = _bot_says(ctx, key, "kf_reply", external_userid, text, call)
    if outcome.status == DeliveryStatus.FAILED:
        _ask_advisor(ctx, contact, text, key)
    return outcome.sent


def greet(ctx: Context, code: str, external_userid: str, text: str) -> Outcome:
    """Answer her opening the bot (enter_session) with its single-use welcome_code, once."""
    return _bot_says(ctx, f"kf-welcome:{code}", "kf_welcome", external_userid, text,
                     lambda: kf.send_text_on_event(ctx.wecom("kf"), code, text))  # fmt: skip


def _bot_says(
    ctx: Context, key: str, kind: str, external_userid: str, text: str, call: Callable[[], str]
) -> Outcome:
    """Send one bot text once per key (`call` sends it and returns WeCom's msgid) and keep it
    with her messages: sync_msg never returns what the API sent."""
    msgids: list[str] = []

    def send_text() -> str:
        msgids.append(call())
        return ""

    def keep(outcome: Outcome) -> None:
        if outcome.sent:
            kf_messages.record_sent(ctx.session, msgids[0] or key, external_userid, text,
                                    ctx.clock.now())  # fmt: skip

    return send(ctx, key, kind, external_userid, send_text, record=keep)


def _ask_advisor(ctx: Context, contact: Contact, text: str, key: str) -> None:
    name = contact.name or "未命名客户"
    note = (
        f"请跟进：机器人已无法在微信客服里回复客户「{name}」（超过48小时或次数已满）。\n"
        f"想对她说的是：{text}"
    )
    for userid in advisors.responsible(ctx, contact):
        notify(ctx, f"{key}:followup:{userid}", userid, note)

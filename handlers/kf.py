"""微信客服 (kf): pulling the mothers' messages and answering them within WeCom's rules.

kf_msg_or_event only says "there is something new": the messages come from kf/sync_msg, from
the cursor persisted per account, with the event's token, page after page while has_more.
One sync per account at a time (a Redis lock), and every msgid is recorded in the same
transaction as what handling it changed, so two racing events neither repeat nor skip a
message. Replies go out with kf/send_msg only inside the window (48 h after her last message,
at most 5 replies to one message); outside it her advisor is asked to follow up instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from crm import assign, customers, outbox, scene, scoring
from crm.context import Context
from handlers import dialog, on
from store import contacts, leads
from store import kf as kf_store
from store.models import Contact, DeliveryStatus, KfOrigin, LeadSource
from wecom import kf
from wecom.callbacks import KfEvent
from wecom.client import WeComError

log = logging.getLogger(__name__)

PAGE = 1000
SYNC_HORIZON = timedelta(days=3)


@on("event", "kf_msg_or_event")
def kf_event(event: KfEvent, ctx: Context) -> None:
    open_kfid = event.open_kfid or ctx.settings.wecom.kf_open_kfid
    lock = ctx.redis.lock(f"mombot:kf:sync:{open_kfid}", timeout=300, blocking_timeout=120)
    with lock:
        cursor, token = kf_store.cursor(ctx.session, open_kfid), event.token
        while True:
            try:
                page = kf.sync_msg(ctx.wecom("kf"), open_kfid, cursor, token, PAGE)
            except WeComError as exc:
                if exc.errcode != kf.STALE_TOKEN or not token:
                    raise
                token = ""  # handled after the token's 10 minutes: sync without it
                continue
            for message in page.get("msg_list", []):
                _handle(ctx, open_kfid, message)
            cursor = page.get("next_cursor", cursor)
            kf_store.save_cursor(ctx.session, open_kfid, cursor, ctx.clock.now())
            ctx.session.commit()
            if not page.get("has_more"):
                break


def _sent_at(ctx: Context, message: dict) -> datetime:
    """When she wrote it; a send_time older than sync_msg ever returns (3 days), or in the
    future, is a skewed clock or a replayed sample: then now."""
    now = ctx.clock.now()
    sent = datetime.fromtimestamp(int(message.get("send_time") or 0), UTC)
    return sent if now - SYNC_HORIZON <= sent <= now + timedelta(minutes=5) else now


def _handle(ctx: Context, open_kfid: str, message: dict) -> None:
    sent_at = _sent_at(ctx, message)
    if not kf_store.first_sight(ctx.session, message, sent_at):
        ctx.session.rollback()
        return
    external_userid = message.get("external_userid", "")
    origin, kind = int(message.get("origin", 0)), message.get("msgtype")
    if origin == KfOrigin.EVENT and kind == "event":
        detail = message.get("event", {})
        if detail.get("event_type") == "enter_session":
            _enter_session(ctx, open_kfid, external_userid, detail)
    elif origin == KfOrigin.CUSTOMER and external_userid:
        contact = _contact(ctx, external_userid, "", "")
        talk = kf_store.dialog(ctx.session, external_userid, open_kfid, ctx.clock.now())
        talk.last_customer_at, talk.replies_in_window = sent_at, 0
        text = message.get("text", {}).get("content", "") if kind == "text" else ""
        replies = dialog.on_message(ctx, contact, talk, text)
        for index, reply in enumerate(replies):
            outbox.say(ctx, contact, talk, reply, f"kf:{message['msgid']}:{index}")
        scoring.recount(ctx.session, ctx.settings, [contact.id], ctx.clock.now())
    ctx.session.commit()


def _contact(ctx: Context, external_userid: str, channel: str, owner: str) -> Contact:
    """Her contact row. First seen through the bot: an existing customer as WeCom knows her
    (with her advisor), else a new lead: of the advisor her link named, or of the one the
    [[assign]] rules choose (who is told, and her follow-up SLA starts)."""
    contact = contacts.get(ctx.session, external_userid) or customers.look_up(ctx, external_userid)
    if contact is None:
        now = ctx.clock.now()
        contact = Contact(external_userid=external_userid, owner_userid=owner,
                          channel_code=channel, created_at=now, updated_at=now)  # fmt: skip
        ctx.session.add(contact)
        ctx.session.flush()
        leads.became_lead(ctx.session, contact, now, source=LeadSource.WECOM, actor=owner)
        if not owner:
            assign.assign(ctx.session, ctx.settings, contact, now)
    return contact


def _scene(ctx: Context, external_userid: str, scene_param: str) -> tuple[str, str]:
    """(channel, advisor) from the link she opened the bot with, if we signed it; a scene_param
    that is not ours (unsigned, edited) binds nobody: as if she came with none."""
    if not scene_param:
        return "", ""
    found = scene.verify(ctx.settings, scene_param)
    if found is None:
        log.warning("enter_session of %s: scene_param is not signed by us; ignored",
                    external_userid)  # fmt: skip
        return "", ""
    return found


def _enter_session(ctx: Context, open_kfid: str, external_userid: str, detail: dict) -> None:
    """She opened the bot: greet her (send_msg_on_event); the signed scene_param of her
    welcome's link tells her channel and her advisor."""
    channel, owner = _scene(ctx, external_userid, str(detail.get("scene_param") or ""))
    contact = _contact(ctx, external_userid, channel, owner)
    if not contact.owner_userid and owner:
        contact.owner_userid = owner
    if not contact.channel_code and channel:
        contact.channel_code = channel
    talk = kf_store.dialog(ctx.session, external_userid, open_kfid, ctx.clock.now())
    greeting = dialog.greeting(ctx, contact, talk)
    code = detail.get("welcome_code")
    if not code or not greeting:
        return

    outcome = outbox.greet(ctx, code, external_userid, greeting)
    if outcome.status == DeliveryStatus.FAILED:
        log.warning("kf greeting not sent: %s", outcome.detail)

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
from urllib.parse import parse_qs

from bot.events import KfEvent
from bot.wecom import WeComError
from handlers import dialog, on, staff
from handlers.context import Context
from store import contacts, deliveries
from store import kf as kf_store
from store.models import Contact, DeliveryStatus, Dialog

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
REPLIES_PER_MESSAGE = 5
PAGE = 1000
SYNC_HORIZON = timedelta(days=3)
STALE_TOKEN = 95007


@on("event", "kf_msg_or_event")
def kf_event(event: KfEvent, ctx: Context) -> None:
    open_kfid = event.open_kfid or ctx.settings.wecom.kf_open_kfid
    lock = ctx.runtime.redis.lock(f"mombot:kf:sync:{open_kfid}", timeout=300, blocking_timeout=120)
    with lock:
        cursor, token = kf_store.cursor(ctx.session, open_kfid), event.token
        while True:
            body = {"open_kfid": open_kfid, "limit": PAGE}
            body.update({"token": token} if token else {})
            body.update({"cursor": cursor} if cursor else {})
            try:
                page = ctx.wecom("kf").post("kf/sync_msg", json=body)
            except WeComError as exc:
                if exc.errcode != STALE_TOKEN or not token:
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
    if origin == 4 and kind == "event":
        detail = message.get("event", {})
        if detail.get("event_type") == "enter_session":
            _enter_session(ctx, open_kfid, external_userid, detail)
    elif origin == 3 and external_userid:
        contact = _contact(ctx, external_userid, "", "")
        talk = kf_store.dialog(ctx.session, external_userid, open_kfid, ctx.clock.now())
        talk.last_customer_at, talk.replies_in_window = sent_at, 0
        text = message.get("text", {}).get("content", "") if kind == "text" else ""
        replies = dialog.on_message(ctx, contact, talk, text)
        for index, reply in enumerate(replies):
            say(ctx, contact, talk, reply, f"kf:{message['msgid']}:{index}")
    ctx.session.commit()


def _contact(ctx: Context, external_userid: str, channel: str, owner: str) -> Contact:
    """Her contact row; first seen through the bot, she is a lead without an owner."""
    contact = contacts.get(ctx.session, external_userid)
    if contact is None:
        now = ctx.clock.now()
        contact = Contact(
            external_userid=external_userid,
            owner_userid=owner,
            channel_code=channel,
            added_at=now,
            created_at=now,
            updated_at=now,
        )
        ctx.session.add(contact)
        ctx.session.flush()
    return contact


def _enter_session(ctx: Context, open_kfid: str, external_userid: str, detail: dict) -> None:
    """She opened the bot: greet her (send_msg_on_event); scene_param tells her channel."""
    scene = {k: v[0] for k, v in parse_qs(detail.get("scene_param", "")).items()}
    contact = _contact(ctx, external_userid, scene.get("c", ""), scene.get("u", ""))
    if not contact.owner_userid and scene.get("u"):
        contact.owner_userid = scene["u"]
    if not contact.channel_code and scene.get("c"):
        contact.channel_code = scene["c"]
    talk = kf_store.dialog(ctx.session, external_userid, open_kfid, ctx.clock.now())
    greeting = dialog.greeting(ctx, contact, talk)
    code = detail.get("welcome_code")
    if not code or not greeting:
        return
    key = f"kf-welcome:{code}"
    if not deliveries.claim(ctx.session, key, "kf_welcome", external_userid, ctx.clock.now()):
        return
    try:
        ctx.wecom("kf").post(
            "kf/send_msg_on_event",
            json={"code": code, "msgtype": "text", "text": {"content": greeting}},
        )
        deliveries.finish(ctx.session, key, DeliveryStatus.SENT, "", ctx.clock.now())
    except WeComError as exc:
        deliveries.finish(ctx.session, key, DeliveryStatus.FAILED, str(exc), ctx.clock.now())
        log.warning("kf greeting not sent: %s", exc)


def window_open(ctx: Context, talk: Dialog) -> bool:
    if talk.last_customer_at is None or talk.replies_in_window >= REPLIES_PER_MESSAGE:
        return False
    return ctx.clock.now() - talk.last_customer_at < WINDOW


def say(ctx: Context, contact: Contact, talk: Dialog, text: str, key: str) -> bool:
    """Send one bot message to her, at most once per key; outside the window (or if WeCom
    refuses) her advisor is asked to follow up. True if she got it."""
    if not window_open(ctx, talk):
        _ask_advisor(ctx, contact, text, key)
        return False
    talk.replies_in_window += 1
    ctx.session.add(talk)
    if not deliveries.claim(ctx.session, key, "kf_reply", contact.external_userid, ctx.clock.now()):
        return False
    body = {"touser": contact.external_userid, "open_kfid": talk.open_kfid, "msgtype": "text",
            "text": {"content": text}}  # fmt: skip
    try:
        ctx.wecom("kf").post("kf/send_msg", json=body)
    except WeComError as exc:
        deliveries.finish(ctx.session, key, DeliveryStatus.FAILED, str(exc), ctx.clock.now())
        _ask_advisor(ctx, contact, text, key)
        return False
    deliveries.finish(ctx.session, key, DeliveryStatus.SENT, "", ctx.clock.now())
    return True


def _ask_advisor(ctx: Context, contact: Contact, text: str, key: str) -> None:
    name = contact.name or "未命名客户"
    note = (
        f"请跟进：机器人已无法在微信客服里回复客户「{name}」（超过48小时或次数已满）。\n"
        f"想对她说的是：{text}"
    )
    for userid in dialog.responsible(ctx, contact):
        staff.notify(ctx, f"{key}:followup:{userid}", userid, note)


ASK_IF_BORN = (
    "预产期已经过去一段时间啦，宝宝出生了吗？如果已经出生，告诉我宝宝的生日，我给你换成育儿内容～"
)


def ask_if_born(*contact_ids: int) -> int:
    """rq job (queued by the stage refresh): her due date is long past and no birthday is
    known. Ask her in the bot if its window is open, else ask her advisor; once per due date."""
    from bot import runtime as runtime_module
    from store.db import session

    runtime = runtime_module.current()
    asked = 0
    with session(runtime.engine) as s:
        ctx = Context(s, runtime)
        for contact_id in contact_ids:
            contact = s.get(Contact, contact_id)
            if contact is None or contact.baby_birthday or not contact.due_date:
                continue
            key = f"ask-born:{contact.id}:{contact.due_date.isoformat()}"
            talk = kf_store.find_dialog(s, contact.external_userid)
            if talk is not None and window_open(ctx, talk):
                say(ctx, contact, talk, ASK_IF_BORN, key)
            else:
                name = contact.name or "未命名客户"
                due = contact.due_date
                note = f"客户「{name}」预产期（{due}）已过，还没登记宝宝出生，请联系确认。"
                for userid in dialog.responsible(ctx, contact):
                    staff.notify(ctx, f"{key}:{userid}", userid, note)
            s.commit()
            asked += 1
    return asked

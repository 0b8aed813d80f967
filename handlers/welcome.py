"""The welcome a mother gets within seconds of adding an advisor (send_welcome_msg).

Rules (WeCom's): the WelcomeCode is valid 20 s from the event and single use; 41051 means it
was already delivered (never retried); no code means WeCom will not take a welcome from us.
Each code is claimed in the delivery ledger (the outbox) before sending, so it is used at most
once.

The welcome is never hostage to an optional part: the advisor's name, an attachment's upload
and the link to the welcome bot each may fail (a WeCom error, a malformed answer, a timeout);
the welcome then goes out with what there is (the advisor as 你的专属顾问), inside the window,
and the failure is a warning on the callback (`mombot events list`). The optional parts share
the time left before the window closes, less what the send itself needs.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import quote

from crm import advisors, outbox, scene
from crm.config import Attachment, ChannelSettings
from crm.context import Context
from crm.placeholders import render
from store import deliveries
from store.models import DeliveryStatus
from wecom import externalcontact, kf, media
from wecom.callbacks import ContactEvent
from wecom.client import WeComError, deadline

log = logging.getLogger(__name__)

WINDOW = timedelta(seconds=20)
CREATE_TIME_TRUSTED = timedelta(minutes=5)
MEDIA_TTL = int(timedelta(days=2, hours=12).total_seconds())  # WeCom keeps media 3 days
SEND_RESERVE = 5.0  # seconds of the window kept for send_welcome_msg itself
# what an optional part may fail with: WeCom's refusal or silence, a malformed answer, a
# missing image file
OPTIONAL_FAILURES = (WeComError, KeyError, TypeError, ValueError, OSError)


def seconds_left(ctx: Context, event: ContactEvent) -> float:
    """How long her WelcomeCode still lives."""
    return (_issued_at(ctx, event) + WINDOW - ctx.clock.now()).total_seconds()


def due(ctx: Context, event: ContactEvent) -> bool:
    """Whether her welcome can still go and nobody has taken it on: she has a WelcomeCode, its
    window is open and its ledger key is free."""
    return (
        bool(event.welcome_code)
        and seconds_left(ctx, event) > 0
        and deliveries.get(ctx.session, _key(event)) is None
    )


def needs_name(ctx: Context, channel: ChannelSettings | None) -> bool:
    """Whether her welcome says her name (which only externalcontact/get tells)."""
    return "{name}" in _template(ctx, channel)


def _key(event: ContactEvent) -> str:
    return f"welcome:{event.welcome_code}"


def _template(ctx: Context, channel: ChannelSettings | None) -> str:
    return (channel.welcome if channel else "") or ctx.settings.welcome.default


def send(ctx: Context, event: ContactEvent, name: str, channel: ChannelSettings | None) -> str:
    """Send her welcome (`name`: her WeChat name, if known) if it can and should go, once;
    returns what happened, as recorded."""
    if not event.welcome_code:
        return "no welcome code (a console welcome is set, or the chat already started)"
    key = _key(event)

    def send_welcome() -> str:
        left = seconds_left(ctx, event)
        if left <= 0:
            raise outbox.Skip("too late: 20 s passed")
        with deadline(left - SEND_RESERVE):
            advisor = advisors.advisor_name(ctx, event.user_id, advisors.NEUTRAL)
            attachments = _attachments(ctx, channel, event)
        text = render(_template(ctx, channel), {"name": name, "advisor": advisor})
        with deadline(left):
            externalcontact.send_welcome_msg(ctx.wecom("contact"), event.welcome_code, text,
                                             attachments)  # fmt: skip
        return ""

    outcome = outbox.send(ctx, key, "welcome", event.external_user_id, send_welcome,
                          skip_errcodes=frozenset({externalcontact.ALREADY_WELCOMED}))  # fmt: skip
    if outcome.status == outbox.DUPLICATE:  # sent (or not) before: say what happened then
        delivery = deliveries.get(ctx.session, key)
        status, detail = (delivery.status, delivery.detail) if delivery else ("", "")
    else:
        status, detail = outcome.status, outcome.detail
    if outcome.error is not None and outcome.error.errcode == externalcontact.ALREADY_WELCOMED:
        return "already sent"
    if status == DeliveryStatus.FAILED:
        ctx.warn(f"welcome not sent: {detail}")
    elif status == DeliveryStatus.SKIPPED:
        log.info("welcome for contact %s not sent: %s", event.external_user_id, detail)
    return _OUTCOMES.get(status, "pending")


_OUTCOMES = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.SKIPPED: "too late",
    DeliveryStatus.FAILED: "failed",
}


def _issued_at(ctx: Context, event: ContactEvent) -> datetime:
    """When the 20 s began: when we received the event ("收到相关事件后20秒内"), or its
    CreateTime if that is earlier yet believable (a late delivery); a CreateTime far off
    (clock skew, replayed samples) is not."""
    received = ctx.received_at or ctx.clock.now()
    if timedelta(0) < received - event.created_at <= CREATE_TIME_TRUSTED:
        return event.created_at
    return received


def _attachments(ctx: Context, channel: ChannelSettings | None, event: ContactEvent) -> list[dict]:
    """The channel's attachments and the bot link, each left out (with a warning) if it fails."""
    parts: list[tuple[str, Callable[[], dict | None]]] = [
        (f"{item.type} attachment", partial(_attachment, ctx, item))
        for item in (channel.attachments if channel else [])
    ]
    parts.append(("link to the welcome bot", partial(_kf_attachment, ctx, channel, event)))
    out: list[dict] = []
    for what, build in parts:
        try:
            attachment = build()
        except OPTIONAL_FAILURES as exc:
            ctx.warn(f"welcome sent without its {what}: {type(exc).__name__}: {exc}")
            continue
        if attachment:
            out.append(attachment)
    return out


def _attachment(ctx: Context, item: Attachment) -> dict:
    if item.type == "link":
        link = {"title": item.title, "url": item.url, "desc": item.desc, "picurl": item.picurl}
        return {"msgtype": "link", "link": {k: v for k, v in link.items() if v}}
    if item.type == "miniprogram":
        return {"msgtype": "miniprogram", "miniprogram": {
            "title": item.title, "appid": item.appid, "page": item.page,
            "pic_media_id": _media_id(ctx, item.pic_path),
        }}  # fmt: skip
    image = {"pic_url": item.pic_url} if item.pic_url else {"media_id": _media_id(ctx, item.path)}
    return {"msgtype": "image", "image": image}


def _kf_attachment(
    ctx: Context, channel: ChannelSettings | None, event: ContactEvent
) -> dict | None:
    url = _kf_link(ctx, channel.code if channel else "", event.user_id)
    if not url:
        return None
    return {"msgtype": "link", "link": {"title": ctx.settings.welcome.kf_invite, "url": url}}


def _media_id(ctx: Context, path: str) -> str:
    """Upload a local image as temporary media once per content and 2.5 days."""
    data = Path(path).read_bytes()
    cache_key = f"mombot:media:{hashlib.sha256(data).hexdigest()}"
    cached = ctx.redis.get(cache_key)
    if cached:
        return cached.decode()
    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
    media_id = media.upload_image(ctx.wecom("app"), Path(path).name, data, mime)
    ctx.redis.set(cache_key, media_id, ex=MEDIA_TTL)
    return media_id


def _kf_link(ctx: Context, channel_code: str, userid: str) -> str:
    """The welcome bot's link, with a scene_param that tells it her channel and advisor,
    signed (crm.scene) so that she cannot make someone else her advisor by editing it."""
    open_kfid = ctx.settings.wecom.kf_open_kfid
    if not open_kfid:
        return ""
    cache_key = f"mombot:kf:url:{open_kfid}"
    cached = ctx.redis.get(cache_key)
    base = cached.decode() if cached else kf.contact_way_url(ctx.wecom("kf"), open_kfid, "welcome")
    if not cached:
        ctx.redis.set(cache_key, base)
    value = scene.sign(ctx.settings, channel_code, userid)
    if not scene.fits(value):
        ctx.warn(f"welcome bot link without its scene_param: over {scene.MAX_BYTES} bytes")
        return base
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}scene_param={quote(value, safe='')}"

"""The welcome a mother gets within seconds of adding an advisor (send_welcome_msg).

Rules (WeCom's): the WelcomeCode is valid 20 s from the event and single use; 41051 means it
was already delivered (never retried); no code means WeCom will not take a welcome from us.
Each code is claimed in the delivery ledger before sending, so it is used at most once.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from crm import outbox
from crm.advisors import advisor_name
from crm.config import ChannelSettings
from crm.context import Context
from crm.placeholders import render
from store.models import Contact, DeliveryStatus
from wecom import externalcontact, kf, media
from wecom.callbacks import ContactEvent

log = logging.getLogger(__name__)

WINDOW = timedelta(seconds=20)
CREATE_TIME_TRUSTED = timedelta(minutes=5)
MEDIA_TTL = int(timedelta(days=2, hours=12).total_seconds())  # WeCom keeps media 3 days


def send(
    ctx: Context, event: ContactEvent, contact: Contact, channel: ChannelSettings | None
) -> str:
    """Send her welcome if it can and should go; returns what happened, as recorded."""
    if not event.welcome_code:
        return "no welcome code (a console welcome is set, or the chat already started)"

    def send_welcome() -> str:
        if ctx.clock.now() - _issued_at(ctx, event) > WINDOW:
            raise outbox.Skip("too late: 20 s passed")
        template = (channel.welcome if channel else "") or ctx.settings.welcome.default
        values = {"name": contact.name, "advisor": advisor_name(ctx, event.user_id)}
        externalcontact.send_welcome_msg(ctx.wecom("contact"), event.welcome_code,
                                         render(template, values),
                                         _attachments(ctx, channel, event))  # fmt: skip
        return ""

    outcome = outbox.send(ctx, f"welcome:{event.welcome_code}", "welcome",
                          event.external_user_id, send_welcome,
                          skip_errcodes=frozenset({externalcontact.ALREADY_WELCOMED}))  # fmt: skip
    if outcome.status == outbox.DUPLICATE:
        return "already handled"
    if outcome.status != DeliveryStatus.SENT:
        log.warning("welcome for contact %d not sent: %s", contact.id, outcome.detail)
    if outcome.error is not None and outcome.error.errcode == externalcontact.ALREADY_WELCOMED:
        return "already sent"
    return {DeliveryStatus.SKIPPED: "too late", DeliveryStatus.FAILED: "failed"}.get(
        outcome.status, "sent"
    )


def _issued_at(ctx: Context, event: ContactEvent) -> datetime:
    """When the 20 s began: when we received the event ("收到相关事件后20秒内"), or its
    CreateTime if that is earlier yet believable (a late delivery); a CreateTime far off
    (clock skew, replayed samples) is not."""
    received = ctx.received_at or ctx.clock.now()
    if timedelta(0) < received - event.created_at <= CREATE_TIME_TRUSTED:
        return event.created_at
    return received


def _attachments(ctx: Context, channel: ChannelSettings | None, event: ContactEvent) -> list[dict]:
    out: list[dict] = []
    for item in channel.attachments if channel else []:
        if item.type == "link":
            link = {"title": item.title, "url": item.url, "desc": item.desc, "picurl": item.picurl}
            out.append({"msgtype": "link", "link": {k: v for k, v in link.items() if v}})
        elif item.type == "miniprogram":
            out.append({"msgtype": "miniprogram", "miniprogram": {
                "title": item.title, "appid": item.appid, "page": item.page,
                "pic_media_id": _media_id(ctx, item.pic_path),
            }})  # fmt: skip
        else:
            image = (
                {"pic_url": item.pic_url}
                if item.pic_url
                else {"media_id": _media_id(ctx, item.path)}
            )
            out.append({"msgtype": "image", "image": image})
    kf_url = _kf_link(ctx, channel.code if channel else "", event.user_id)
    if kf_url:
        out.append(
            {"msgtype": "link", "link": {"title": ctx.settings.welcome.kf_invite, "url": kf_url}}
        )
    return out


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
    """The welcome bot's link, with a scene_param that tells it her channel and advisor."""
    open_kfid = ctx.settings.wecom.kf_open_kfid
    if not open_kfid:
        return ""
    cache_key = f"mombot:kf:url:{open_kfid}"
    cached = ctx.redis.get(cache_key)
    base = cached.decode() if cached else kf.contact_way_url(ctx.wecom("kf"), open_kfid, "welcome")
    if not cached:
        ctx.redis.set(cache_key, base)
    scene_param = quote(f"c={channel_code}&u={userid}", safe="")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}scene_param={scene_param}"

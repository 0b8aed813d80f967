"""`mombot channels sync`: one WeCom contact way (QR code) per channel code, and the tags.

Idempotent: the config_id and a fingerprint of what WeCom holds are stored per channel, so a
re-run creates nothing new and updates only what changed in the config. Channels are always
multi-person contact ways (type 2), so advisors can be added later without a new QR code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from crm import tags
from crm.config import ChannelSettings
from crm.context import Context
from store import channels as channel_store
from wecom import externalcontact


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def _way(channel: ChannelSettings) -> dict:
    return {
        "state": channel.code,
        "user": channel.advisors,
        "skip_verify": channel.skip_verify,
        "remark": channel.name[:30],
    }


def _fingerprint(way: dict) -> str:
    return hashlib.sha256(json.dumps(way, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def sync(ctx: Context) -> SyncReport:
    settings, client = ctx.settings, ctx.wecom("contact")
    report = SyncReport()
    names = [tag for channel in settings.channels for tag in channel.tags]
    names.append(settings.tags.unknown_channel)
    report.tags = tags.ensure(ctx.session, client, settings.tags.channel_group, names)
    ctx.session.commit()
    for channel in settings.channels:
        if not channel.advisors:
            report.problems.append(f"{channel.code}: needs at least one advisor (advisors = [...])")
            continue
        way = _way(channel)
        fingerprint = _fingerprint(way)
        stored = channel_store.get(ctx.session, channel.code)
        now = ctx.clock.now()
        if stored is None:
            config_id, qr_code = externalcontact.add_contact_way(client, way)
            channel_store.save(ctx.session, channel.code, config_id, qr_code, fingerprint, now)
            report.created.append(channel.code)
        elif stored.fingerprint != fingerprint:
            externalcontact.update_contact_way(client, stored.config_id, way)
            channel_store.save(ctx.session, channel.code, stored.config_id, "", fingerprint, now)
            report.updated.append(channel.code)
        else:
            report.unchanged.append(channel.code)
        ctx.session.commit()  # what is done stays done if a later channel fails
    return report

"""A mother whose stage moved when she (or her advisor) told a date: her stage tag in WeCom
follows, read from the committed stage."""

from __future__ import annotations

from crm.context import Context
from handlers import on
from sop import lifecycle
from store import inbox, merges
from wecom.callbacks import Event


@on("event", lifecycle.STAGED)
def stage_changed(event: Event, ctx: Context) -> None:
    ids = sorted(set(merges.resolve_all(ctx.session, inbox.announced(event.fields))))
    calls = lifecycle.sync_stage_tags(ctx, *ids)
    ctx.note(f"stage tags of {len(ids)} contact(s): {calls} WeCom call(s)")

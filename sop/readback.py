"""Reading back the mass sends that SOP steps handed to advisors (add_msg_template): whether the
advisor confirmed each and it reached her (get_groupmsg_task, get_groupmsg_send_result).

A mass send is read back for WINDOW after it was handed over, until WeCom says where it got to
(sent, not a friend any more, or she got another mass send that day); the reports count what
it found. Run daily by the stage refresh and before the daily report.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from crm.context import Context
from store import sop_tasks
from wecom import externalcontact
from wecom.client import WeComError, is_transient

log = logging.getLogger(__name__)

WINDOW = timedelta(days=3)


def read_back(ctx: Context) -> int:
    """Ask WeCom where the recent unconfirmed mass sends got to; how many tasks it told of."""
    since = ctx.clock.now() - WINDOW
    with ctx.engine.connect() as connection:
        rows = sop_tasks.mass_sends_to_read(connection, since)
    by_msgid: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for task_id, msgid, target in rows:
        by_msgid[msgid].append((task_id, target))
    client, told = ctx.wecom("contact"), 0
    for msgid, tasks in by_msgid.items():
        try:
            results = externalcontact.mass_send_results(client, msgid)
        except WeComError as exc:  # what is not read now is read next time
            ctx.warn(f"mass send {msgid} not read back: {exc}")
            if is_transient(exc):
                break
            continue
        found = {task_id: results[target] for task_id, target in tasks if target in results}
        with ctx.engine.begin() as connection:
            sop_tasks.set_mass_results(connection, found)
        told += len(found)
    log.info("mass sends read back: %d of %d task(s) told of", told, len(rows))
    return told

"""Corp tags: make sure they exist in WeCom (get_corp_tag_list / add_corp_tag) and mark them."""

from __future__ import annotations

import threading

from sqlmodel import Session

from store import tags
from wecom import externalcontact
from wecom.client import WeComClient, WeComError


def ensure(
    session: Session, client: WeComClient, group_name: str, names: list[str]
) -> dict[str, str]:
    """name → tag_id for every name in the group, creating the group and tags WeCom lacks."""
    wanted = list(dict.fromkeys(names))
    known = tags.ids(session, group_name, wanted)
    if len(known) == len(wanted):
        return known
    with _making:  # the worker's slots: one asks WeCom to make a new tag, not each of them
        return _make(session, client, group_name, wanted)


_making = threading.Lock()


def _make(
    session: Session, client: WeComClient, group_name: str, wanted: list[str]
) -> dict[str, str]:
    group = next((g for g in externalcontact.corp_tag_groups(client)
                  if g.get("group_name") == group_name and not g.get("deleted")), None)  # fmt: skip
    group_id = group["group_id"] if group else ""
    present = {t["name"]: t["id"] for t in (group or {}).get("tag", []) if not t.get("deleted")}
    missing = [name for name in wanted if name not in present]
    if missing:
        created = externalcontact.add_corp_tags(
            client, missing, group_id=group_id, group_name=group_name
        )
        group_id = created["group_id"]
        present.update({t["name"]: t["id"] for t in created.get("tag", [])})
    tags.remember(session, group_name, group_id, present)
    return {name: present[name] for name in wanted}


def mark(
    session: Session,
    client: WeComClient,
    userid: str,
    external_userid: str,
    group_name: str,
    names: list[str],
    remove: bool = False,
) -> dict[str, str]:
    """Give her these tags (or take them away) as seen by this advisor; returns name → tag id.
    A tag deleted in the console meanwhile is made again, once."""
    for attempt in (1, 2):
        ids = ensure(session, client, group_name, names)
        if not ids:
            return {}
        try:
            changed = list(ids.values())
            externalcontact.mark_tag(client, userid, external_userid,
                                     add=[] if remove else changed,
                                     remove=changed if remove else [])  # fmt: skip
            return ids
        except WeComError as exc:
            if exc.errcode != externalcontact.INVALID_TAG or attempt == 2:
                raise
            tags.forget_group(session, group_name)
    return {}

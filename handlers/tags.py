"""Corp tags: make sure they exist in WeCom (get_corp_tag_list / add_corp_tag) and mark them."""

from __future__ import annotations

from sqlmodel import Session

from bot.wecom import WeComClient, WeComError
from store import tags

INVALID_TAG = 40068  # the tag (or group) was deleted in the WeCom console


def ensure(
    session: Session, client: WeComClient, group_name: str, names: list[str]
) -> dict[str, str]:
    """name → tag_id for every name in the group, creating the group and tags WeCom lacks."""
    wanted = list(dict.fromkeys(names))
    known = tags.ids(session, group_name, wanted)
    if len(known) == len(wanted):
        return known
    group = next(
        (g for g in client.post("externalcontact/get_corp_tag_list", json={}).get("tag_group", [])
         if g.get("group_name") == group_name and not g.get("deleted")),
        None,
    )  # fmt: skip
    group_id = group["group_id"] if group else ""
    present = {t["name"]: t["id"] for t in (group or {}).get("tag", []) if not t.get("deleted")}
    missing = [name for name in wanted if name not in present]
    if missing:
        body: dict = {"tag": [{"name": name} for name in missing]}
        body.update({"group_id": group_id} if group_id else {"group_name": group_name})
        created = client.post("externalcontact/add_corp_tag", json=body)["tag_group"]
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
) -> list[str]:
    """Give her these tags (as seen by this advisor); returns the tag ids. A tag deleted in the
    console meanwhile is made again, once."""
    for attempt in (1, 2):
        ids = list(ensure(session, client, group_name, names).values())
        if not ids:
            return []
        try:
            client.post(
                "externalcontact/mark_tag",
                json={"userid": userid, "external_userid": external_userid, "add_tag": ids},
            )
            return ids
        except WeComError as exc:
            if exc.errcode != INVALID_TAG or attempt == 2:
                raise
            tags.forget_group(session, group_name)
    return []

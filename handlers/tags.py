"""Corp tags: make sure they exist in WeCom (get_corp_tag_list / add_corp_tag) and mark them."""

from __future__ import annotations

from sqlmodel import Session

from bot.wecom import WeComClient, WeComError
from handlers.context import Context
from sop import planner, playbook
from store import contact_tags, contacts, tags
from store.models import Contact

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
    remove: bool = False,
) -> dict[str, str]:
    """Give her these tags (or take them away) as seen by this advisor; returns name → tag id.
    A tag deleted in the console meanwhile is made again, once."""
    field = "remove_tag" if remove else "add_tag"
    for attempt in (1, 2):
        ids = ensure(session, client, group_name, names)
        if not ids:
            return {}
        try:
            client.post(
                "externalcontact/mark_tag",
                json={"userid": userid, "external_userid": external_userid,
                      field: list(ids.values())},
            )  # fmt: skip
            return ids
        except WeComError as exc:
            if exc.errcode != INVALID_TAG or attempt == 2:
                raise
            tags.forget_group(session, group_name)
    return {}


def remember(
    ctx: Context,
    contact: Contact,
    added: dict[str, tuple[str, str]],
    removed: set[str] = frozenset(),
    replace: bool = False,
) -> list[str]:
    """Record her tags (tag id → (name, group)) and start the tag_added SOPs of the new ones;
    returns the new names."""
    now = ctx.clock.now()
    new = contact_tags.update(ctx.session, contact.id, added, set(removed), now, replace)
    if new:
        planner.plan_tag_added(ctx.session.connection(), playbook.configured(ctx.settings),
                               contact.id, new, ctx.settings.tz, now)  # fmt: skip
    return new


def from_profile(
    ctx: Context, contact: Contact, follow_users: list[dict], just_added: bool
) -> list[str]:
    """Her tags as her advisor sees them in externalcontact/get's follow_user (corp tags only);
    returns the names that are new to mombot. The first read of a contact mombot knew before
    (an edit) is a baseline: tags she has had for months start nothing."""
    userid = contacts.wecom_userid(contact)
    mine = next((f for f in follow_users if f.get("userid") == userid), None)
    if mine is None:
        return []
    corp = {t["tag_id"]: (t.get("tag_name", ""), t.get("group_name", ""))
            for t in mine.get("tags", []) if t.get("type", 1) == 1 and t.get("tag_id")}  # fmt: skip
    baseline = contact.tags_read_at is None and not just_added
    contact.tags_read_at = contact.tags_read_at or ctx.clock.now()
    ctx.session.add(contact)
    if baseline:
        contact_tags.update(ctx.session, contact.id, corp, set(), ctx.clock.now(), replace=True)
        return []
    return remember(ctx, contact, corp, replace=True)

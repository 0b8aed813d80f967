"""The advisors' sidebar as plain functions: logging in with an OAuth2 code, the JS-SDK's
signatures for a page, and a customer's profile for an advisor who may see her."""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import date, timedelta
from urllib.parse import urlsplit

from crm import (
    access,
    advisors,
    customers,
    dates,
    intake,
    lead_query,
    leads,
    phones,
    profile,
    scoring,
    scripts,
)
from crm.config import lead_status
from crm.context import Context
from crm.stages import how_far
from handlers import groups as group_events
from handlers.intake import Reply
from sop import lifecycle, planner, playbook, tagging
from store import advisors as stored_advisors
from store import audit, contact_tags, contacts, followups, groups, lead_list, sop_tasks
from store import kf as kf_store
from store import leads as steps
from store import tags as stored_tags
from store.models import Contact, ContactStatus, KfOrigin, LeadSource, ScriptUse
from wecom import externalcontact, jsapi
from wecom.client import WeComError, is_transient
from wecom.redact import mask_phones

EXTERNAL_USERID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CHAT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SEARCHED = 50  # leads a search shows
SHOWN = 10  # SOP steps (done, planned) and her messages with the bot in her profile
SPEAKERS = {KfOrigin.CUSTOMER: "customer", KfOrigin.BOT: "bot", KfOrigin.SERVICER: "servicer"}
MAX_URL = 2048
# actions that change nothing of hers, so anyone who may see her may take them: a script
# he put into his own chat with her is counted
IN_HIS_OWN_CHAT = frozenset({"script"})


class LoginRefused(Exception):
    """The OAuth2 code gives no member: the message says why, for the page."""


def login(ctx: Context, code: str) -> str:
    """The member an OAuth2 code stands for (each code works once, for 5 minutes)."""
    if not code or len(code) > 512:
        raise LoginRefused("登录链接无效，请从企业微信里重新打开侧边栏。")
    try:
        userid = jsapi.user_of_code(ctx.wecom("app"), code)
    except WeComError as exc:
        if is_transient(exc):
            raise
        raise LoginRefused("登录链接已失效或已被使用，请从企业微信里重新打开侧边栏。") from None
    if not userid:
        raise LoginRefused("侧边栏只对企业成员开放。")
    return userid


def jssdk(ctx: Context, url: str) -> Reply:
    """Signatures for the page at `url` (without its # part): the corp ticket's for wx.config,
    the app ticket's for ww.register / wx.agentConfig."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ in the host
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL:
        return Reply(400, {"error": "url must be the page's http(s) address"})
    client = ctx.wecom("app")
    timestamp = int(ctx.clock.now().timestamp())
    signed = {}
    for kind in ("corp", "agent"):
        nonce = secrets.token_hex(8)
        signed[kind] = {
            "timestamp": timestamp,
            "nonceStr": nonce,
            "signature": jsapi.signature(client.ticket(kind), nonce, timestamp, url),
        }
    return Reply(200, {"corpId": ctx.settings.wecom.corp_id,
                       "agentId": ctx.settings.wecom.agent_id, **signed})  # fmt: skip


def contact(ctx: Context, userid: str, external_userid: str) -> Reply:
    """Her profile for `userid`: 403 unless he may see her (every look, allowed or refused,
    is in the audit log); 404 when she is no customer of the corp."""
    found = _her(ctx, userid, external_userid, "view")
    if isinstance(found, Reply):
        return found
    return _shown(ctx, userid, found)


def search(ctx: Context, userid: str, query: str) -> Reply:
    """Leads found with the query language (孕晚期 未签约 7天未跟进): an advisor's own, a team
    lead's team's, anyone's for a manager; at most SEARCHED, newest first."""
    if len(query) > 200:
        return Reply(400, {"error": "q is longer than 200 characters"})
    connection, settings, now = ctx.session.connection(), ctx.settings, ctx.clock.now()
    names = stored_advisors.names(connection)
    vocabulary = lead_query.Vocabulary.of(settings, lead_list.cities(connection), names)
    filters = lead_query.parse(query, vocabulary, now)
    if userid not in settings.managers:
        mine = {userid, *settings.roles.team_leads.get(userid, [])}
        owners = filters.owners & mine if filters.owners else mine
        if not owners:  # he named only advisors whose leads are not his to see
            return Reply(200, {"total": 0, "leads": []})
        filters = replace(filters, owners=frozenset(owners))
    rows = lead_list.listing(connection, filters, SEARCHED)
    found = [{"id": row.id, "name": row.name, "phone": phones.mask(row.phone),
              "status": leads.label(row.status), "stage": row.stage, "score": row.score,
              "owner": row.owner_userid, "owner_name": row.owner_name or "",
              "external_userid": row.external_userid} for row in rows]  # fmt: skip
    total = lead_list.count(connection, filters)
    audit.record(ctx.session, userid, "sidebar.search", {"q": query}, len(found), now)
    ctx.session.commit()
    return Reply(200, {"total": total, "leads": found})


def group(ctx: Context, userid: str, chat_id: str) -> Reply:
    """A customer group for the sidebar opened in it: its customers with the stages mombot
    knows, who joined this week, and the group SOP posts planned. For its owner, his team
    lead and the managers (403 otherwise, audited); 404 when WeCom does not describe it."""
    if not CHAT_ID.fullmatch(chat_id):
        return Reply(400, {"error": "chat_id is missing or malformed"})
    found = groups.get(ctx.session, chat_id)
    if found is None:
        info = group_events.fetch(ctx, chat_id)
        if info is None:
            return Reply(404, {"error": "no customer group of the corp has that chat_id"})
        found, _ = groups.record(ctx.session, info, ctx.clock.now(), joins_since=None)
        ctx.session.commit()
    now, settings = ctx.clock.now(), ctx.settings
    allowed = (userid == found.owner_userid or userid in settings.managers
               or found.owner_userid in settings.roles.team_leads.get(userid, []))  # fmt: skip
    audit.record(ctx.session, userid, "sidebar.group" if allowed else "sidebar.denied",
                 {"chat_id": chat_id}, int(allowed), now)  # fmt: skip
    ctx.session.commit()
    if not allowed:
        return Reply(403, {"error": "this group is not yours"})
    tz, today = settings.tz, now.astimezone(settings.tz).date()
    week_ago = now - timedelta(days=7)
    members = []
    for row in groups.present_customers(ctx.session.connection(), chat_id):
        members.append({
            "name": row.contact_name or row.name, "external_userid": row.member_id,
            "known": row.id is not None, "stage": row.stage,
            "how_far": how_far(today, row.stage, row.due_date, row.baby_birthday),
            "joined_at": row.joined_at.astimezone(tz).isoformat(timespec="seconds")
            if row.joined_at else None,
            "new": row.joined_at is not None and row.joined_at >= week_ago,
        })  # fmt: skip
    names = {sop.id: sop.name for sop in playbook.configured(settings)}
    _, coming = sop_tasks.of_target(ctx.session.connection(), planner.group_target(chat_id),
                                    SHOWN)  # fmt: skip
    stages: dict[str, int] = {}
    for member in members:
        stages[member["stage"] or "未知"] = stages.get(member["stage"] or "未知", 0) + 1
    return Reply(200, {
        "chat_id": chat_id, "name": found.name, "owner": found.owner_userid,
        "customers": len(members), "stages": stages,
        "newcomers": [m for m in members if m["new"]], "members": members,
        "planned": [{"sop": names.get(t.sop_id, t.sop_id), "step": t.step_id,
                     "due_at": t.due_at.astimezone(tz).isoformat(timespec="seconds")}
                    for t in coming],
    })  # fmt: skip


def corp_tags(ctx: Context, _userid: str) -> Reply:
    """The corp's tags an advisor may give or take away from the sidebar, by group, as WeCom
    lists them now; the groups mombot keeps itself (stages, score, tiers) are left out."""
    return Reply(200, {"groups": [{"group": name, "tags": [{"id": i, "name": n} for n, i in tags]}
                                  for name, tags in _editable(ctx).items()]})  # fmt: skip


def _editable(ctx: Context) -> dict[str, list[tuple[str, str]]]:
    """group name → [(tag name, tag id)] of the corp's tags, less mombot's own groups."""
    settings = ctx.settings
    own = {settings.stages.tag_group, settings.scoring.tag_group, settings.tiers.tag_group}
    found: dict[str, list[tuple[str, str]]] = {}
    for group in externalcontact.corp_tag_groups(ctx.wecom("contact")):
        name = str(group.get("group_name", ""))
        if group.get("deleted") or name in own:
            continue
        live = {t["name"]: t["id"] for t in group.get("tag", []) if not t.get("deleted")}
        stored_tags.remember(ctx.session, name, str(group.get("group_id", "")), live)
        found[name] = list(live.items())
    ctx.session.commit()
    return found


def act(ctx: Context, userid: str, action: str, body: object) -> Reply:
    """One of ACTIONS on the customer `body` names (external_userid), for an advisor who may
    see her: 400 naming what is wrong, else her profile as it is now. Audit-logged."""
    if not isinstance(body, dict):
        return Reply(400, {"error": "body must be a JSON object"})
    found = _her(ctx, userid, str(body.get("external_userid") or ""), action)
    if isinstance(found, Reply):
        return found
    if action not in IN_HIS_OWN_CHAT and not access.may_edit(ctx.settings, userid, found):
        detail = {"contact_id": found.id, "tried": action}
        audit.record(ctx.session, userid, "sidebar.denied", detail, 0, ctx.clock.now())
        ctx.session.commit()
        return Reply(403, {"error": "only her advisor, his team lead or a manager may change her"})
    try:
        done = ACTIONS[action](ctx, userid, found, body)
    except (Invalid, leads.Refused) as exc:
        ctx.session.rollback()
        return Reply(400, {"error": str(exc)})
    audit.record(ctx.session, userid, f"sidebar.{action}",
                 {"contact_id": found.id, **done}, 1, ctx.clock.now())  # fmt: skip
    ctx.session.commit()
    return _shown(ctx, userid, found)


class Invalid(ValueError):
    """What is wrong with an action's body, in the advisor's words."""


def _her(ctx: Context, userid: str, external_userid: str, what: str) -> Contact | Reply:
    if not EXTERNAL_USERID.fullmatch(external_userid):
        return Reply(400, {"error": "external_userid is missing or malformed"})
    found = contacts.get(ctx.session, external_userid) or customers.look_up(ctx, external_userid)
    if found is None:
        return Reply(404, {"error": "she is no customer of the corp"})
    if not access.may_see(ctx.session, ctx.settings, userid, found):
        detail = {"contact_id": found.id, "external_userid": external_userid, "tried": what}
        audit.record(ctx.session, userid, "sidebar.denied", detail, 0, ctx.clock.now())
        ctx.session.commit()
        return Reply(403, {"error": "she is not your customer"})
    return found


def _shown(ctx: Context, userid: str, her: Contact) -> Reply:
    now = ctx.clock.now()
    masked = access.masked_for(ctx.settings, userid, her)
    shown = profile.of(ctx.session, ctx.settings, her.id, now, masked, viewer=userid) or {}
    values = {"name": her.name or "", "stage": her.stage or "",
              "advisor": advisors.advisor_name(ctx, userid, advisors.NEUTRAL)}  # fmt: skip
    shown["scripts"] = scripts.for_her(ctx.settings, her.stage, values)
    shown |= _plans(ctx, her, "phone" in masked)
    shown["lost_reasons"] = list(ctx.settings.leads.lost_reasons)
    shown["may_edit"] = access.may_edit(ctx.settings, userid, her)
    detail = {"contact_id": her.id, "external_userid": her.external_userid}
    audit.record(ctx.session, userid, "sidebar.view", detail, 1, now)
    ctx.session.commit()
    return Reply(200, shown)


def _plans(ctx: Context, her: Contact, phones_masked: bool) -> dict:
    """What mombot did and will do for her: the SOP steps sent and planned (by name), her
    follow-up SLA's next deadline, and her last messages with the welcome bot (both ways;
    numbers in them masked as her phone is)."""
    tz, connection = ctx.settings.tz, ctx.session.connection()
    names = {sop.id: sop.name for sop in playbook.configured(ctx.settings)}

    def moment(value) -> str:
        return value.astimezone(tz).isoformat(timespec="seconds")

    done, coming = sop_tasks.of_target(connection, planner.contact_target(her.id), SHOWN)
    sla = next((t for t in coming if t.sop_id == playbook.FOLLOWUP_SLA), None)
    talk = kf_store.conversation(connection, her.external_userid or "", SHOWN)
    return {
        "sop_done": [{"sop": names.get(t.sop_id, t.sop_id), "step": t.step_id,
                      "status": t.status, "at": moment(t.updated_at)} for t in done],
        "sop_planned": [{"sop": names.get(t.sop_id, t.sop_id), "step": t.step_id,
                         "due_at": moment(t.due_at)} for t in coming
                        if t.sop_id != playbook.FOLLOWUP_SLA],
        "sla": {"step": sla.step_id, "due_at": moment(sla.due_at)} if sla else None,
        "bot_messages": [{"at": moment(at), "from": SPEAKERS[origin],
                          "text": mask_phones(text) if phones_masked else text}
                         for at, origin, text in reversed(talk)],
        "now": moment(ctx.clock.now()),  # what the page counts the SLA's time left from
    }  # fmt: skip


def _text(body: dict, key: str, limit: int, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise Invalid(f"{key} must be text")
    value = value.strip()
    if required and not value:
        raise Invalid(f"{key} is required")
    if len(value) > limit:
        raise Invalid(f"{key} is longer than {limit} characters")
    return value


def _follow_up(ctx: Context, userid: str, her: Contact, body: dict) -> dict:
    """Log a follow-up (stops her SLA reminders; a new lead becomes 已沟通)."""
    note = _text(body, "note", 1000)
    followups.log(ctx.session, her, userid, note, ctx.clock.now(), LeadSource.SIDEBAR)
    scoring.recount(ctx.session, ctx.settings, [her.id], ctx.clock.now())
    return {"note": note}


def _status(ctx: Context, userid: str, her: Contact, body: dict) -> dict:
    """Move her in the funnel: 已流失 needs a reason from [leads] lost_reasons."""
    try:
        to = ContactStatus(lead_status(_text(body, "status", 8, required=True)))
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    amount_text = _text(body, "amount", 32)
    amount = leads.amount_cents(amount_text) if amount_text else None
    leads.move(ctx, her, to, source=LeadSource.SIDEBAR, actor=userid,
               reason=_text(body, "reason", 64), note=_text(body, "note", 1000),
               amount=amount)  # fmt: skip
    return {"status": to.value}


def _note(ctx: Context, userid: str, her: Contact, body: dict) -> dict:
    """A note in her history (her status stays)."""
    note = _text(body, "note", 1000, required=True)
    steps.remark(ctx.session, her, ctx.clock.now(), LeadSource.SIDEBAR, note, actor=userid)
    return {"note": note}


def _dates(ctx: Context, userid: str, her: Contact, body: dict) -> dict:
    """Correct her due date or baby's birthday (a date, or her words, as the bot reads them;
    the same plausibility rules): her stage moves and her SOP steps are planned anew."""
    today = ctx.clock.now().astimezone(ctx.settings.tz).date()
    found: dict[str, date] = {}
    for key, kind in (("due_date", dates.DUE), ("baby_birthday", dates.BIRTHDAY)):
        text = _text(body, key, 64)
        if text:
            day, problem = intake.date_of(text, kind, today)
            if problem:
                raise Invalid(f"{key}: {problem}")
            found[key] = day  # type: ignore[assignment]
    if not found:
        raise Invalid("give due_date or baby_birthday")
    lifecycle.set_dates(ctx, her, due_date=found.get("due_date"),
                        birthday=found.get("baby_birthday"))  # fmt: skip
    return {key: day.isoformat() for key, day in found.items()}


def _script(ctx: Context, userid: str, her: Contact, body: dict) -> dict:
    """A script was put into her chat: counted (for the report)."""
    script_id = _text(body, "script_id", 40, required=True)
    if script_id not in {s.id for s in scripts.configured(ctx.settings)}:
        raise Invalid(f"no script {script_id!r}")
    ctx.session.add(ScriptUse(script_id=script_id, userid=userid, contact_id=her.id,
                              at=ctx.clock.now()))  # fmt: skip
    return {"script_id": script_id}


def _tags(ctx: Context, userid: str, her: Contact, body: dict) -> dict:
    """Give her tags and take others away (tag ids from GET /api/sidebar/tags), in WeCom as
    her advisor sees her; new ones start their tag_added SOPs and status mappings."""
    add, remove = body.get("add", []), body.get("remove", [])
    if not all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in (add, remove)):
        raise Invalid("add and remove must be lists of tag ids")
    if not add and not remove:
        raise Invalid("give add or remove")
    if her.external_userid is None or not contacts.wecom_userid(her):
        raise Invalid("she is not a WeCom customer yet: tags come when she adds her advisor")
    known = {tag_id: (name, group) for group, tags in _editable(ctx).items()
             for name, tag_id in tags}  # fmt: skip
    unknown = [i for i in add + remove if i not in known]
    if unknown:
        raise Invalid(f"unknown or mombot's own tag id(s): {', '.join(unknown)}")
    try:
        externalcontact.mark_tag(ctx.wecom("contact"), contacts.wecom_userid(her),
                                 her.external_userid, add=add, remove=remove)  # fmt: skip
    except WeComError as exc:
        if is_transient(exc):
            raise
        raise Invalid(f"WeCom refused the tags: {exc}") from None
    now = ctx.clock.now()
    contact_tags.update(ctx.session, her.id, {}, set(remove), now)
    tagging.record(ctx, her, {i: known[i] for i in add})
    return {"add": [known[i][0] for i in add], "remove": [known[i][0] for i in remove]}


ACTIONS = {"follow_up": _follow_up, "status": _status, "note": _note, "dates": _dates,
           "script": _script, "tags": _tags}  # fmt: skip

"""The simulated corp: apps and their tokens, advisors, external contacts, and what was called.

Rules kept from WeCom: access tokens expire after 7200 s (by the sandbox's clock) and a wrong
secret gets 40001; an expired token 42001, an unknown one 40014. A WelcomeCode is valid 20 s
and used once (41051 after that). Tags have ids and live in groups; marking an unknown tag id
is 40068. App messages beyond 30 a minute or 1000 an hour per member are dropped silently.
Tests can script faults (`fail_next`) and hold a call until released (`hold`). The corp's apps
(`agents`, for agent/get: 40056 for an unknown agentid) and 微信客服 accounts (`kf_accounts`, for
kf/account/list) are given to the state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

TOKEN_TTL = 7200
WELCOME_WINDOW = timedelta(seconds=20)
MESSAGE_LIMITS = ((timedelta(minutes=1), 30), (timedelta(hours=1), 1000))
ROBOT_SPAN = timedelta(minutes=1)  # a group robot takes 20 messages in it
KF_WINDOW = timedelta(hours=48)
KF_REPLIES_PER_MESSAGE = 5
KF_TOKEN_TTL = timedelta(minutes=10)
MAX_CHAT_IDS = 2000  # per group mass send


class Clock(Protocol):
    """The sandbox's time: any object with now() (mombot's clocks, a test's ManualClock)."""

    def now(self) -> datetime: ...


class ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode, self.errmsg = errcode, errmsg


@dataclass
class ExternalContact:
    external_userid: str
    name: str
    avatar: str = ""
    gender: int = 2  # 0 unknown, 1 male, 2 female
    unionid: str = ""
    type: int = 1  # 1 WeChat user, 2 WeCom user


@dataclass
class Follow:
    """One advisor's side of the relation with an external contact."""

    userid: str
    external_userid: str
    createtime: int
    state: str = ""
    remark: str = ""
    tag_ids: list[str] = field(default_factory=list)
    welcome_code: str = ""
    remark_mobiles: list[str] = field(default_factory=list)  # the advisor noted her phone


@dataclass
class WelcomeCode:
    userid: str
    external_userid: str
    issued_at: datetime
    used: bool = False


@dataclass
class Welcome:
    """A welcome the mother received."""

    userid: str
    external_userid: str
    text: str
    attachments: list[dict]
    at: datetime


@dataclass
class AppMessage:
    touser: str
    content: str  # a text's; "" for an image
    at: datetime
    delivered: bool
    image: bytes | None = None  # an image's PNG/JPEG bytes, as uploaded


@dataclass
class RobotMessage:
    """What a group robot (群机器人) webhook was given: a text or an image."""

    key: str
    content: str
    image: bytes | None
    at: datetime


@dataclass
class Call:
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None
    errcode: int | None = None  # what the sandbox answered; None while in flight


@dataclass
class GroupChat:
    """A customer group (客户群) and its members (type 1 staff, 2 customers)."""

    chat_id: str
    name: str
    owner: str
    create_time: int
    members: list[dict[str, Any]] = field(default_factory=list)
    dismissed: bool = False


@dataclass
class _Fault:
    errcode: int
    times: int


class SandboxState:
    def __init__(
        self,
        corp_id: str,
        app_secrets: list[str],
        clock: Clock,
        users: dict[str, str] | None = None,
        *,
        agents: dict[int, str] | None = None,
        kf_accounts: dict[str, str] | None = None,
    ) -> None:
        self.corp_id = corp_id
        # the corp's self-built apps (agentid → name) and 微信客服 accounts (open_kfid → name)
        self.agents: dict[int, str] = dict(agents if agents is not None else {1000002: "mombot"})
        self.kf_accounts: dict[str, str] = dict(kf_accounts or {})
        self.clock = clock
        self._secrets = set(app_secrets)
        self._tokens: dict[str, datetime] = {}
        self.users: dict[str, str] = dict(users or {})  # userid → name
        self.contacts: dict[str, ExternalContact] = {}
        self.follows: dict[tuple[str, str], Follow] = {}
        # batch/get_by_user pages: the follows of a userid_list, listed once per change of follows
        self._follow_pages: dict[tuple[str, ...], tuple[int, list[Follow]]] = {}
        self._follows_changed = 0
        self.tag_groups: list[dict[str, Any]] = []
        self.contact_ways: dict[str, dict[str, Any]] = {}
        self.welcome_codes: dict[str, WelcomeCode] = {}
        self.welcomes: list[Welcome] = []
        self.messages: list[AppMessage] = []
        self.media: dict[str, bytes] = {}
        self.robot_messages: list[RobotMessage] = []
        self.kf_links: dict[str, str] = {}
        self.kf_log: list[dict[str, Any]] = []  # what kf/sync_msg hands out, in order
        self.kf_tokens: dict[str, tuple[str, datetime]] = {}
        self.kf_sent: list[dict[str, Any]] = []  # what the bot said to mothers
        self.kf_windows: dict[tuple[str, str], list] = {}  # → [last customer msg, replies]
        self.kf_welcome_codes: dict[str, list] = {}  # → [open_kfid, external_userid, used]
        self.msg_templates: list[dict[str, Any]] = []  # mass sends waiting for the advisor
        self.groups: dict[str, GroupChat] = {}
        self.appchats: dict[str, dict[str, Any]] = {}  # internal group chats (appchat)
        self.appchat_posts: list[dict[str, Any]] = []
        self.transfers: list[dict[str, Any]] = []
        self.oauth_codes: dict[str, tuple[str, datetime]] = {}  # code → userid, issued at
        self.oauth_member = ""  # who is signed in to WeCom where a page asks for OAuth2
        self.tickets: dict[str, list[str]] = {"corp": [], "agent": []}  # issued, newest last
        self.calls: list[Call] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._holds: dict[str, threading.Event] = {}
        self.lock = threading.RLock()

    # tokens --------------------------------------------------------------------------------
    def issue_token(self, corp_id: str, secret: str) -> dict[str, Any]:
        if corp_id != self.corp_id:
            raise ApiError(40013, "invalid corpid")
        if secret not in self._secrets:
            raise ApiError(40001, "invalid secret")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self.clock.now() + timedelta(seconds=TOKEN_TTL)
        return {"access_token": token, "expires_in": TOKEN_TTL}

    def check_token(self, token: str) -> None:
        expires = self._tokens.get(token)
        if expires is None:
            raise ApiError(40014, "invalid access_token")
        if self.clock.now() >= expires:
            raise ApiError(42001, "access_token expired")

    # OAuth2 and JS-SDK tickets ------------------------------------------------------------------
    def oauth_code(self, userid: str) -> str:
        """What WeCom puts in the redirect after a member opens the OAuth2 URL: a code for
        auth/getuserinfo, single use, valid 5 minutes."""
        code = secrets.token_urlsafe(24)
        self.oauth_codes[code] = (userid, self.clock.now())
        return code

    def user_of_code(self, code: str) -> dict[str, Any]:
        issued = self.oauth_codes.pop(code, None)
        if issued is None or self.clock.now() - issued[1] > timedelta(minutes=5):
            raise ApiError(40029, "invalid code")
        return {"userid": issued[0], "user_ticket": ""}

    def issue_ticket(self, kind: str) -> dict[str, Any]:
        ticket = secrets.token_urlsafe(64)
        self.tickets[kind].append(ticket)
        return {"ticket": ticket, "expires_in": TOKEN_TTL}

    # apps and 微信客服 accounts ---------------------------------------------------------------
    def agent(self, agentid: str) -> dict[str, Any]:
        try:
            name = self.agents[int(agentid)]
        except (KeyError, ValueError):
            raise ApiError(40056, "invalid agentid") from None
        return {"agentid": int(agentid), "name": name, "square_logo_url": "", "description": "",
                "close": 0, "home_url": "", "allow_userinfos": {"user": [
                    {"userid": userid} for userid in sorted(self.users)]}}  # fmt: skip

    def kf_account_list(self, body: dict[str, Any]) -> dict[str, Any]:
        offset, limit = int(body.get("offset") or 0), int(body.get("limit") or 100)
        if not 1 <= limit <= 100:
            raise ApiError(40058, "limit must be 1 to 100")
        accounts = [
            {"open_kfid": open_kfid, "name": name, "avatar": "", "manage_privilege": True}
            for open_kfid, name in self.kf_accounts.items()
        ]
        return {"account_list": accounts[offset : offset + limit]}  # fmt: skip

    def invalidate_tokens(self) -> None:
        """As when the secret is reset in the console: every issued token stops working."""
        self._tokens.clear()

    # faults --------------------------------------------------------------------------------
    def fail_next(self, path: str, errcode: int, times: int = 1) -> None:
        self._faults.setdefault(path, []).append(_Fault(errcode, times))

    def take_fault(self, path: str) -> int | None:
        faults = self._faults.get(path)
        if not faults:
            return None
        fault = faults[0]
        fault.times -= 1
        if fault.times <= 0:
            faults.pop(0)
        return fault.errcode

    def clear_faults(self) -> None:
        self._faults.clear()
        self._answers.clear()

    def answer_next(self, path: str, answer: dict[str, Any]) -> None:
        """The next call to path gets this answer (errcode 0) instead of the real one: a
        malformed answer, as WeCom sometimes gives."""
        self._answers.setdefault(path, []).append(answer)

    def take_answer(self, path: str) -> dict[str, Any] | None:
        answers = self._answers.get(path)
        return answers.pop(0) if answers else None

    def hold(self, path: str) -> threading.Event:
        """Calls to path wait until the returned event is set."""
        gate = threading.Event()
        self._holds[path] = gate
        return gate

    def gate(self, path: str) -> threading.Event | None:
        return self._holds.get(path)

    def calls_to(self, path: str, ok: bool = False) -> list[Call]:
        """Calls to path (only those answered errcode 0, with ok)."""
        with self.lock:
            return [c for c in self.calls if c.path == path and (not ok or c.errcode == 0)]

    # contacts ------------------------------------------------------------------------------
    def befriend(
        self, userid: str, name: str, state: str = "", welcome_code: bool = True, **profile: Any
    ) -> Follow:
        """A mother adds an advisor (scanning a code with `state`); returns the new relation,
        with a fresh WelcomeCode unless the advisor has a console welcome (welcome_code=False)."""
        external_userid = profile.pop("external_userid", None) or "wm" + secrets.token_hex(15)
        contact = self.contacts.setdefault(
            external_userid, ExternalContact(external_userid, name, **profile)
        )
        contact.name = name
        now = self.clock.now()
        follow = Follow(userid, external_userid, int(now.timestamp()), state)
        if welcome_code:
            follow.welcome_code = secrets.token_urlsafe(16)
            self.welcome_codes[follow.welcome_code] = WelcomeCode(userid, external_userid, now)
        self.follows[(userid, external_userid)] = follow
        self._follows_changed += 1
        return follow

    def unfriend(self, userid: str, external_userid: str) -> None:
        self.follows.pop((userid, external_userid), None)
        self._follows_changed += 1

    # existing customers (batch/get_by_user) ---------------------------------------------------
    def add_existing_customers(
        self, userid: str, count: int, *, since_days: int = 400, state: str = "",
        tag_ids: list[str] = (), prefix: str = "wmOLD",  # type: ignore[assignment]
    ) -> list[str]:  # fmt: skip
        """`count` customers who added `userid` before mombot ran (no callback, no welcome
        code); their external_userids. The same prefix and number make the same customer, so
        two advisors can share one."""
        added_at = int((self.clock.now() - timedelta(days=since_days)).timestamp())
        ids = []
        for n in range(count):
            external_userid = f"{prefix}{n:010d}"
            self.contacts.setdefault(
                external_userid, ExternalContact(external_userid, f"老客{n}", unionid=f"un{n}")
            )
            self.follows[(userid, external_userid)] = Follow(
                userid, external_userid, added_at + n, state, remark=f"老客户{n}",
                tag_ids=list(tag_ids),
            )  # fmt: skip
            ids.append(external_userid)
        self._follows_changed += 1
        return ids

    def follow_user_list(self) -> dict[str, Any]:
        return {"follow_user": sorted(self.users)}

    def customers_by_user(self, body: dict[str, Any]) -> dict[str, Any]:
        userids = list(body.get("userid_list") or [])
        limit = int(body.get("limit") or 50)
        if not 1 <= len(userids) <= 100 or not 1 <= limit <= 100:
            raise ApiError(40058, "userid_list must hold 1 to 100 members and limit be 1 to 100")
        unknown = [u for u in userids if u not in self.users]
        if unknown:
            raise ApiError(60111, f"userid not found: {unknown[0]}")
        key = tuple(userids)
        cached = self._follow_pages.get(key)
        if cached is None or cached[0] != self._follows_changed:
            wanted = set(userids)
            listed = sorted((f for f in self.follows.values() if f.userid in wanted),
                            key=lambda f: (f.userid, f.external_userid))  # fmt: skip
            cached = self._follow_pages[key] = (self._follows_changed, listed)
        cursor = str(body.get("cursor") or "")
        try:
            offset = int(cursor.removeprefix("page-")) if cursor else 0
        except ValueError:
            raise ApiError(40001, "invalid cursor") from None
        page = cached[1][offset : offset + limit]
        more = offset + limit < len(cached[1])
        return {
            "external_contact_list": [
                {"external_contact": self._profile(f.external_userid),
                 "follow_info": {"userid": f.userid, "remark": f.remark, "description": "",
                                 "createtime": f.createtime, "tag_id": list(f.tag_ids),
                                 "state": f.state, "add_way": 1}}
                for f in page
            ],
            "next_cursor": f"page-{offset + limit}" if more else "",
        }  # fmt: skip

    def _profile(self, external_userid: str) -> dict[str, Any]:
        contact = self.contacts[external_userid]
        return {"external_userid": contact.external_userid, "name": contact.name,
                "avatar": contact.avatar, "type": contact.type, "gender": contact.gender,
                "unionid": contact.unionid}  # fmt: skip

    # welcomes and messages -----------------------------------------------------------------
    def send_welcome(self, body: dict[str, Any]) -> dict[str, Any]:
        code = self.welcome_codes.get(str(body.get("welcome_code", "")))
        if code is None:
            raise ApiError(40058, "invalid welcome_code")
        if code.used:
            raise ApiError(41051, "externaluser has started chatting")
        if self.clock.now() - code.issued_at > WELCOME_WINDOW:
            raise ApiError(40058, "welcome_code expired")
        attachments = body.get("attachments", [])
        if len(attachments) > 9:
            raise ApiError(40058, "too many attachments")
        content = body.get("text", {}).get("content", "")
        if not content and not attachments:
            raise ApiError(41048, "empty welcome message")
        code.used = True
        self.welcomes.append(
            Welcome(code.userid, code.external_userid, content, attachments, self.clock.now())
        )
        return {}

    def send_app_message(self, body: dict[str, Any]) -> dict[str, Any]:
        touser = str(body.get("touser", ""))
        kind, image = body.get("msgtype"), None
        if kind == "image":
            image = self.media.get(str(body.get("image", {}).get("media_id", "")))
            if image is None:
                raise ApiError(40007, "invalid media_id")
        elif kind != "text":
            raise ApiError(40008, "sandbox sends text and image app messages only")
        unknown = [u for u in touser.split("|") if u not in self.users]
        now = self.clock.now()
        for user in touser.split("|"):
            if user in unknown:
                continue
            recent = [m for m in self.messages if m.touser == user and m.delivered]
            within = all(
                sum(1 for m in recent if now - m.at < span) < limit
                for span, limit in MESSAGE_LIMITS
            )
            content = body["text"]["content"] if kind == "text" else ""
            self.messages.append(AppMessage(user, content, now, within, image))
        return {"invaliduser": "|".join(unknown), "msgid": secrets.token_hex(8)}

    def delivered_to(self, userid: str) -> list[str]:
        """The texts the member got."""
        return [m.content for m in self.messages
                if m.touser == userid and m.delivered and m.image is None]  # fmt: skip

    def images_to(self, userid: str) -> list[bytes]:
        """The images the member got."""
        return [m.image for m in self.messages
                if m.touser == userid and m.delivered and m.image is not None]  # fmt: skip

    def robot_send(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """A group robot's webhook/send: text or image (base64 + md5), 20 a minute per robot."""
        if not key:
            raise ApiError(93000, "invalid webhook url")
        now = self.clock.now()
        if sum(1 for m in self.robot_messages if m.key == key and now - m.at < ROBOT_SPAN) >= 20:
            raise ApiError(45009, "api freq out of limit")
        kind = body.get("msgtype")
        if kind == "text" and body.get("text", {}).get("content"):
            self.robot_messages.append(RobotMessage(key, body["text"]["content"], None, now))
        elif kind == "image":
            image = body.get("image", {})
            try:
                data = base64.b64decode(str(image.get("base64", "")), validate=True)
            except binascii.Error as exc:
                raise ApiError(40004, "image base64 invalid") from exc
            if not data or hashlib.md5(data).hexdigest() != image.get("md5"):
                raise ApiError(301019, "image md5 not match")
            if len(data) > 2 * 1024 * 1024:
                raise ApiError(40009, "image larger than 2 MB")
            self.robot_messages.append(RobotMessage(key, "", data, now))
        else:
            raise ApiError(40008, "invalid message type")
        return {}

    # tags and contact ways -----------------------------------------------------------------
    def _tag_ids(self) -> set[str]:
        return {t["id"] for g in self.tag_groups for t in g["tag"]}

    def add_corp_tags(self, body: dict[str, Any]) -> dict[str, Any]:
        names = [str(t.get("name", "")) for t in body.get("tag", [])]
        if not names or any(not n or len(n) > 30 for n in names):
            raise ApiError(40071, "invalid tag name")
        group = None
        if body.get("group_id"):
            group = next((g for g in self.tag_groups if g["group_id"] == body["group_id"]), None)
            if group is None:
                raise ApiError(40068, "invalid tagid")
        else:
            group_name = str(body.get("group_name", ""))
            if not group_name or len(group_name) > 30:
                raise ApiError(40071, "invalid group name")
            group = next((g for g in self.tag_groups if g["group_name"] == group_name), None)
        created = int(self.clock.now().timestamp())
        if group is None:
            group = {"group_id": "etg" + secrets.token_hex(8), "group_name": body["group_name"],
                     "create_time": created, "order": 0, "tag": []}  # fmt: skip
            self.tag_groups.append(group)
        existing = {t["name"] for t in group["tag"]}
        if existing & set(names):
            raise ApiError(40071, "tag name already exists")
        new = [{"id": "et" + secrets.token_hex(8), "name": n, "create_time": created, "order": 0}
               for n in names]  # fmt: skip
        group["tag"].extend(new)
        return {"tag_group": {**{k: v for k, v in group.items() if k != "tag"}, "tag": new}}

    def mark_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        follow = self.follows.get((body.get("userid", ""), body.get("external_userid", "")))
        if follow is None:
            raise ApiError(84061, "not external contact")
        known = self._tag_ids()
        for tag_id in [*body.get("add_tag", []), *body.get("remove_tag", [])]:
            if tag_id not in known:
                raise ApiError(40068, "invalid tagid")
        follow.tag_ids = [t for t in follow.tag_ids if t not in body.get("remove_tag", [])]
        follow.tag_ids += [t for t in body.get("add_tag", []) if t not in follow.tag_ids]
        return {}

    def _tag_label(self, tag_id: str) -> dict[str, str]:
        for group in self.tag_groups:
            for tag in group["tag"]:
                if tag["id"] == tag_id:
                    return {"group_name": group["group_name"], "tag_name": tag["name"]}
        return {}

    def tag_in_console(self, userid: str, external_userid: str, group_name: str, name: str) -> str:
        """An advisor tags a customer in WeCom (making the tag if needed); returns its id.
        WeCom then sends edit_external_contact."""
        group = next((g for g in self.tag_groups if g["group_name"] == group_name), None)
        tag = next((t for t in (group or {}).get("tag", []) if t["name"] == name), None)
        if tag is None:
            body: dict[str, Any] = {"tag": [{"name": name}]}
            body.update({"group_id": group["group_id"]} if group else {"group_name": group_name})
            tag = self.add_corp_tags(body)["tag_group"]["tag"][0]
        self.mark_tag(
            {"userid": userid, "external_userid": external_userid, "add_tag": [tag["id"]]}
        )
        return tag["id"]

    def tag_names(self, userid: str, external_userid: str) -> list[str]:
        names = {t["id"]: t["name"] for g in self.tag_groups for t in g["tag"]}
        follow = self.follows.get((userid, external_userid))
        return [names[t] for t in follow.tag_ids] if follow else []

    def add_contact_way(self, body: dict[str, Any]) -> dict[str, Any]:
        state = str(body.get("state", ""))
        if len(state) > 30:
            raise ApiError(40058, "state exceeds 30 characters")
        if body.get("type") not in (1, 2) or body.get("scene") not in (1, 2):
            raise ApiError(40058, "invalid type or scene")
        users = body.get("user", [])
        if not users or any(u not in self.users for u in users):
            raise ApiError(60111, "invalid userid")
        if body["type"] == 1 and len(users) != 1:
            raise ApiError(40058, "a single-person contact way takes one user")
        config_id = secrets.token_hex(16)
        qr_code = (
            f"https://wework.qpic.cn/wwpic/sandbox/{config_id}/0" if body["scene"] == 2 else ""
        )
        self.contact_ways[config_id] = {**body, "config_id": config_id, "qr_code": qr_code}
        return {"config_id": config_id, "qr_code": qr_code}

    def del_contact_way(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.contact_ways.pop(str(body.get("config_id", "")), None) is None:
            raise ApiError(41044, "invalid config_id")
        return {}

    def update_contact_way(self, body: dict[str, Any]) -> dict[str, Any]:
        way = self.contact_ways.get(str(body.get("config_id", "")))
        if way is None:
            raise ApiError(41044, "invalid config_id")
        if any(u not in self.users for u in body.get("user", way["user"])):
            raise ApiError(60111, "invalid userid")
        way.update({k: v for k, v in body.items() if k not in {"type", "scene"}})
        return {}

    def external_contact(self, external_userid: str) -> dict[str, Any]:
        contact = self.contacts.get(external_userid)
        if contact is None:
            raise ApiError(84061, "not external contact")
        follows = [f for f in self.follows.values() if f.external_userid == external_userid]
        return {
            "external_contact": self._profile(external_userid),
            "follow_user": [
                {
                    "userid": f.userid,
                    "remark": f.remark,
                    "remark_mobiles": f.remark_mobiles,
                    "createtime": f.createtime,
                    "state": f.state,
                    "tags": [
                        {"tag_id": tag, "type": 1, **self._tag_label(tag)} for tag in f.tag_ids
                    ],
                }
                for f in follows
            ],
        }

    # 微信客服 (kf) ----------------------------------------------------------------------------
    def _kf_callback(self, open_kfid: str) -> dict[str, Any]:
        token = "ENC" + secrets.token_urlsafe(24)
        self.kf_tokens[token] = (open_kfid, self.clock.now())
        return {"ToUserName": self.corp_id, "CreateTime": int(self.clock.now().timestamp()),
                "MsgType": "event", "Event": "kf_msg_or_event", "Token": token,
                "OpenKfId": open_kfid}  # fmt: skip

    def kf_customer_says(self, open_kfid: str, external_userid: str, text: str) -> dict[str, Any]:
        """A mother writes to the bot; returns the kf_msg_or_event callback WeCom would send."""
        with self.lock:
            now = self.clock.now()
            self.kf_log.append({
                "msgid": "msg" + secrets.token_hex(12), "open_kfid": open_kfid,
                "external_userid": external_userid, "send_time": int(now.timestamp()),
                "origin": 3, "msgtype": "text", "text": {"content": text},
            })  # fmt: skip
            self.kf_windows[(open_kfid, external_userid)] = [now, 0]
            return self._kf_callback(open_kfid)

    def kf_enter_session(
        self, open_kfid: str, external_userid: str, scene_param: str = ""
    ) -> dict[str, Any]:
        """A mother opens the bot (e.g. from the welcome link); returns the callback."""
        with self.lock:
            code = secrets.token_urlsafe(12)
            self.kf_welcome_codes[code] = [open_kfid, external_userid, False]
            self.kf_log.append({
                "msgid": "evt" + secrets.token_hex(12), "open_kfid": open_kfid,
                "external_userid": external_userid,
                "send_time": int(self.clock.now().timestamp()), "origin": 4, "msgtype": "event",
                "event": {"event_type": "enter_session", "open_kfid": open_kfid,
                          "external_userid": external_userid, "scene": "welcome",
                          "scene_param": scene_param, "welcome_code": code},
            })  # fmt: skip
            return self._kf_callback(open_kfid)

    def kf_sync(self, body: dict[str, Any]) -> dict[str, Any]:
        open_kfid = str(body.get("open_kfid", ""))
        token = body.get("token")
        if token is not None:
            issued = self.kf_tokens.get(str(token))
            if issued is None or issued[0] != open_kfid:
                raise ApiError(95007, "invalid msg token")
            if self.clock.now() - issued[1] > KF_TOKEN_TTL:
                raise ApiError(95007, "msg token expired")
        limit = int(body.get("limit", 1000))
        if not 1 <= limit <= 1000:
            raise ApiError(44004, "limit must be 1 to 1000")
        start = int(body.get("cursor") or 0)
        mine = [m for m in self.kf_log if m["open_kfid"] == open_kfid]
        page = mine[start : start + limit]
        return {"next_cursor": str(start + len(page)), "has_more": int(start + limit < len(mine)),
                "msg_list": page}  # fmt: skip

    def kf_send(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (str(body.get("open_kfid", "")), str(body.get("touser", "")))
        window = self.kf_windows.get(key)
        if window is None or self.clock.now() - window[0] > KF_WINDOW:
            raise ApiError(95026, "no customer message in the last 48 hours")
        if window[1] >= KF_REPLIES_PER_MESSAGE:
            raise ApiError(95027, "at most 5 messages per customer message")
        window[1] += 1
        msgid = secrets.token_hex(8)
        self.kf_sent.append({**body, "at": self.clock.now(), "msgid": msgid})
        return {"msgid": msgid}

    def kf_send_on_event(self, body: dict[str, Any]) -> dict[str, Any]:
        code = self.kf_welcome_codes.get(str(body.get("code", "")))
        if code is None or code[2]:
            raise ApiError(95014, "invalid or used welcome code")
        code[2] = True
        msgid = secrets.token_hex(8)
        self.kf_sent.append({**body, "touser": code[1], "open_kfid": code[0],
                             "at": self.clock.now(), "msgid": msgid})  # fmt: skip
        return {"msgid": msgid}

    def kf_said_to(self, external_userid: str) -> list[str]:
        with self.lock:
            return [m["text"]["content"] for m in self.kf_sent if m["touser"] == external_userid]

    # mass sends (群发) ------------------------------------------------------------------------
    def _quota_used(self, key: str, field_name: str) -> bool:
        """WeCom lets a customer (or group) receive as many mass sends a month as the month
        has days."""
        now = self.clock.now()
        month = now.strftime("%Y%m")
        days = ((now.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
        used = sum(1 for t in self.msg_templates if t["month"] == month and key in t[field_name])
        return used >= days

    def add_msg_template(self, body: dict[str, Any]) -> dict[str, Any]:
        """A 1:1 or group mass send that the sender must confirm; customers or groups over
        their monthly quota come back in fail_list."""
        chat_type = body.get("chat_type", "single")
        if chat_type not in ("single", "group"):
            raise ApiError(40058, "invalid chat_type")
        sender = body.get("sender", "")
        if (sender or chat_type == "group") and sender not in self.users:
            raise ApiError(60111, "invalid sender")
        if not body.get("text", {}).get("content") and not body.get("attachments"):
            raise ApiError(41048, "empty message")
        field_name = "external_userid" if chat_type == "single" else "chat_id_list"
        wanted = list(body.get(field_name, []))
        if chat_type == "group":
            if len(wanted) > MAX_CHAT_IDS:
                raise ApiError(40058, "too many chat ids")
            for chat_id in wanted:
                group = self.groups.get(chat_id)
                if group is None or group.dismissed or group.owner != sender:
                    raise ApiError(40050, f"chat {chat_id} is not the sender's group")
        fail = [key for key in wanted if self._quota_used(key, field_name)]
        ok = [key for key in wanted if key not in fail]
        if not ok and fail:
            return {"fail_list": fail, "msgid": ""}
        single = chat_type == "single"
        msgid = "msg" + secrets.token_hex(8)
        self.msg_templates.append({
            **body, "external_userid": ok if single else [], "chat_id_list": [] if single else ok,
            "month": self.clock.now().strftime("%Y%m"), "at": self.clock.now(), "msgid": msgid,
            "confirmed": False,
        })  # fmt: skip
        return {"fail_list": fail, "msgid": msgid}

    def confirm_mass_send(self, msgid: str) -> None:
        """The sender taps 发送 in WeCom: the mass send goes out."""
        next(t for t in self.msg_templates if t["msgid"] == msgid)["confirmed"] = True

    def _template(self, body: dict[str, Any]) -> dict[str, Any]:
        found = [t for t in self.msg_templates if t["msgid"] == body.get("msgid")]
        if not found:
            raise ApiError(41063, "invalid msgid")
        return found[0]

    def groupmsg_task(self, body: dict[str, Any]) -> dict[str, Any]:
        """Who was to send a mass send: status 0 not yet, 2 sent (one page)."""
        template = self._template(body)
        status = 2 if template["confirmed"] else 0
        return {"task_list": [{"userid": template["sender"], "status": status}],
                "next_cursor": ""}  # fmt: skip

    def groupmsg_send_result(self, body: dict[str, Any]) -> dict[str, Any]:
        """Per target of a sender's mass send: status 0 not sent, 1 sent; two per page."""
        template = self._template(body)
        if body.get("userid") != template["sender"]:
            return {"send_list": [], "next_cursor": ""}
        field_name = "external_userid" if template["chat_type"] == "single" else "chat_id"
        targets = template["external_userid"] or template["chat_id_list"]
        start = int(body.get("cursor") or 0)
        page = [{field_name: target, "userid": template["sender"],
                 "status": 1 if template["confirmed"] else 0}
                for target in targets[start : start + 2]]  # fmt: skip
        more = start + 2 < len(targets)
        return {"send_list": page, "next_cursor": str(start + 2) if more else ""}

    # customer groups (客户群) ------------------------------------------------------------------
    def _group_callback(self, chat_id: str, change_type: str, **extra: Any) -> dict[str, Any]:
        return {"ToUserName": self.corp_id, "FromUserName": "sys",
                "CreateTime": int(self.clock.now().timestamp()), "MsgType": "event",
                "Event": "change_external_chat", "ChatId": chat_id, "ChangeType": change_type,
                **extra}  # fmt: skip

    def _member(self, member_id: str, scene: int = 1) -> dict[str, Any]:
        staff = member_id in self.users
        name = self.users[member_id] if staff else self.contacts[member_id].name
        return {"userid": member_id, "type": 1 if staff else 2, "name": name,
                "join_time": int(self.clock.now().timestamp()), "join_scene": scene}  # fmt: skip

    def create_group(self, owner: str, name: str, customers: list[str]) -> tuple[str, dict]:
        """An advisor makes a customer group; returns its chat id and the create callback."""
        with self.lock:
            chat_id = "wr" + secrets.token_hex(15)
            group = GroupChat(chat_id, name, owner, int(self.clock.now().timestamp()))
            group.members = [self._member(owner)] + [self._member(c) for c in customers]
            self.groups[chat_id] = group
            return chat_id, self._group_callback(chat_id, "create")

    def join_group(self, chat_id: str, external_userids: list[str], scene: int = 3) -> dict:
        """Customers join (3: by QR code); returns the update/add_member callback."""
        with self.lock:
            group = self.groups[chat_id]
            group.members += [self._member(e, scene) for e in external_userids]
            return self._group_callback(chat_id, "update", UpdateDetail="add_member",
                                        JoinScene=scene, QuitScene=0,
                                        MemChangeCnt=len(external_userids))  # fmt: skip

    def leave_group(self, chat_id: str, member_id: str) -> dict:
        with self.lock:
            group = self.groups[chat_id]
            group.members = [m for m in group.members if m["userid"] != member_id]
            return self._group_callback(chat_id, "update", UpdateDetail="del_member",
                                        JoinScene=0, QuitScene=0, MemChangeCnt=1)  # fmt: skip

    def dismiss_group(self, chat_id: str) -> dict:
        with self.lock:
            self.groups[chat_id].dismissed = True
            return self._group_callback(chat_id, "dismiss")

    def group_list(self, body: dict[str, Any]) -> dict[str, Any]:
        limit = int(body.get("limit", 0))
        if not 1 <= limit <= 1000:
            raise ApiError(40058, "limit must be 1 to 1000")
        owners = body.get("owner_filter", {}).get("userid_list")
        chats = [g for g in self.groups.values()
                 if not g.dismissed and (not owners or g.owner in owners)]  # fmt: skip
        start = int(body.get("cursor") or 0)
        page = chats[start : start + limit]
        more = start + limit < len(chats)
        return {"group_chat_list": [{"chat_id": g.chat_id, "status": 0} for g in page],
                "next_cursor": str(start + limit) if more else ""}  # fmt: skip

    def group_get(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.get(str(body.get("chat_id", "")))
        if group is None or group.dismissed:
            raise ApiError(40050, "chat not exists")
        named = bool(body.get("need_name"))
        members = [m if named else {k: v for k, v in m.items() if k != "name"}
                   for m in group.members]  # fmt: skip
        return {"group_chat": {"chat_id": group.chat_id, "name": group.name,
                               "owner": group.owner, "create_time": group.create_time,
                               "member_list": members, "admin_list": [],
                               "member_version": secrets.token_hex(8)}}  # fmt: skip

    # internal group chats (appchat) and transfers ---------------------------------------------
    def appchat_create(self, body: dict[str, Any]) -> dict[str, Any]:
        users = body.get("userlist", [])
        if len(users) < 2 or any(u not in self.users for u in users):
            raise ApiError(86004, "invalid userlist: at least 2 members")
        chatid = body.get("chatid") or secrets.token_hex(8)
        self.appchats[chatid] = {**body, "chatid": chatid}
        return {"chatid": chatid}

    def appchat_send(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("chatid") not in self.appchats:
            raise ApiError(86003, "chatid not exists")
        self.appchat_posts.append({**body, "at": self.clock.now()})
        return {}

    def transfer_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        """在职继承: WeCom moves the customers to the takeover advisor 24 h later unless they
        refuse (`complete_transfer`)."""
        handover, takeover = body.get("handover_userid"), body.get("takeover_userid")
        if handover not in self.users or takeover not in self.users:
            raise ApiError(60111, "invalid userid")
        results = []
        for external in body.get("external_userid", []):
            if (handover, external) not in self.follows:
                results.append({"external_userid": external, "errcode": 84061})
                continue
            self.transfers.append({**body, "external_userid": external, "at": self.clock.now()})
            results.append({"external_userid": external, "errcode": 0})
        return {"customer": results}

    def transfer_resigned(self, body: dict[str, Any]) -> dict[str, Any]:
        """离职继承: like 在职继承, for an advisor who left (no message to the customers)."""
        if len(body.get("external_userid", [])) > 100:
            raise ApiError(40058, "at most 100 external_userid")
        return self.transfer_customer(body)

    def complete_transfer(self, transfer: dict[str, Any]) -> dict[str, Any]:
        """The transfer happens; returns the del_external_contact callback the handover
        advisor's side produces (Source DELETE_BY_TRANSFER)."""
        with self.lock:
            handover, external = transfer["handover_userid"], transfer["external_userid"]
            follow = self.follows.pop((handover, external))
            follow.userid = transfer["takeover_userid"]
            self.follows[(follow.userid, external)] = follow
            self._follows_changed += 1
            return {"ToUserName": self.corp_id, "FromUserName": "sys",
                    "CreateTime": int(self.clock.now().timestamp()), "MsgType": "event",
                    "Event": "change_external_contact", "ChangeType": "del_external_contact",
                    "UserID": handover, "ExternalUserID": external,
                    "Source": "DELETE_BY_TRANSFER"}  # fmt: skip

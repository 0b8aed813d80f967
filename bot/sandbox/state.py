"""The simulated corp: apps and their tokens, advisors, external contacts, and what was called.

Rules kept from WeCom: access tokens expire after 7200 s (by the sandbox's clock) and a wrong
secret gets 40001; an expired token 42001, an unknown one 40014. A WelcomeCode is valid 20 s
and used once (41051 after that). Tags have ids and live in groups; marking an unknown tag id
is 40068. App messages beyond 30 a minute or 1000 an hour per member are dropped silently.
Tests can script faults (`fail_next`) and hold a call until released (`hold`).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock

TOKEN_TTL = 7200
WELCOME_WINDOW = timedelta(seconds=20)
MESSAGE_LIMITS = ((timedelta(minutes=1), 30), (timedelta(hours=1), 1000))
KF_WINDOW = timedelta(hours=48)
KF_REPLIES_PER_MESSAGE = 5
KF_TOKEN_TTL = timedelta(minutes=10)
MASS_SENDS_PER_MONTH = 4  # per customer, from one corp


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
    content: str
    at: datetime
    delivered: bool


@dataclass
class Call:
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None
    errcode: int | None = None  # what the sandbox answered; None while in flight


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
    ) -> None:
        self.corp_id = corp_id
        self.clock = clock
        self._secrets = set(app_secrets)
        self._tokens: dict[str, datetime] = {}
        self.users: dict[str, str] = dict(users or {})  # userid → name
        self.contacts: dict[str, ExternalContact] = {}
        self.follows: dict[tuple[str, str], Follow] = {}
        self.tag_groups: list[dict[str, Any]] = []
        self.contact_ways: dict[str, dict[str, Any]] = {}
        self.welcome_codes: dict[str, WelcomeCode] = {}
        self.welcomes: list[Welcome] = []
        self.messages: list[AppMessage] = []
        self.media: dict[str, bytes] = {}
        self.kf_links: dict[str, str] = {}
        self.kf_log: list[dict[str, Any]] = []  # what kf/sync_msg hands out, in order
        self.kf_tokens: dict[str, tuple[str, datetime]] = {}
        self.kf_sent: list[dict[str, Any]] = []  # what the bot said to mothers
        self.kf_windows: dict[tuple[str, str], list] = {}  # → [last customer msg, replies]
        self.kf_welcome_codes: dict[str, list] = {}  # → [open_kfid, external_userid, used]
        self.msg_templates: list[dict[str, Any]] = []  # mass sends waiting for the advisor
        self.calls: list[Call] = []
        self._faults: dict[str, list[_Fault]] = {}
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
        return follow

    def unfriend(self, userid: str, external_userid: str) -> None:
        self.follows.pop((userid, external_userid), None)

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
        if body.get("msgtype") != "text":
            raise ApiError(40008, "sandbox sends text app messages only")
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
            self.messages.append(AppMessage(user, body["text"]["content"], now, within))
        return {"invaliduser": "|".join(unknown), "msgid": secrets.token_hex(8)}

    def delivered_to(self, userid: str) -> list[str]:
        return [m.content for m in self.messages if m.touser == userid and m.delivered]

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
            "external_contact": {
                "external_userid": contact.external_userid,
                "name": contact.name,
                "avatar": contact.avatar,
                "type": contact.type,
                "gender": contact.gender,
                "unionid": contact.unionid,
            },
            "follow_user": [
                {
                    "userid": f.userid,
                    "remark": f.remark,
                    "createtime": f.createtime,
                    "state": f.state,
                    "tags": [{"tag_id": tag, "type": 1} for tag in f.tag_ids],
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
        self.kf_sent.append({**body, "at": self.clock.now()})
        return {"msgid": secrets.token_hex(8)}

    def kf_send_on_event(self, body: dict[str, Any]) -> dict[str, Any]:
        code = self.kf_welcome_codes.get(str(body.get("code", "")))
        if code is None or code[2]:
            raise ApiError(95014, "invalid or used welcome code")
        code[2] = True
        self.kf_sent.append({**body, "touser": code[1], "open_kfid": code[0],
                             "at": self.clock.now()})  # fmt: skip
        return {"msgid": secrets.token_hex(8)}

    def kf_said_to(self, external_userid: str) -> list[str]:
        with self.lock:
            return [m["text"]["content"] for m in self.kf_sent if m["touser"] == external_userid]

    # mass sends (群发) ------------------------------------------------------------------------
    def add_msg_template(self, body: dict[str, Any]) -> dict[str, Any]:
        """A 1:1 or group mass send that the sender must confirm; customers over their
        monthly quota come back in fail_list."""
        if body.get("chat_type", "single") == "single":
            if body.get("sender") not in self.users:
                raise ApiError(60111, "invalid sender")
            month = self.clock.now().strftime("%Y%m")
            fail, ok = [], []
            for external in body.get("external_userid", []):
                used = sum(
                    1 for t in self.msg_templates
                    if t["month"] == month and external in t["external_userid"]
                )  # fmt: skip
                (fail if used >= MASS_SENDS_PER_MONTH else ok).append(external)
            if not ok and fail:
                return {"fail_list": fail, "msgid": ""}
            self.msg_templates.append({**body, "external_userid": ok, "month": month,
                                       "at": self.clock.now()})  # fmt: skip
            return {"fail_list": fail, "msgid": "msg" + secrets.token_hex(8)}
        raise ApiError(40058, "sandbox takes single mass sends only")

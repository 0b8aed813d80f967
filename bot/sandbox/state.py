"""The simulated corp: apps and their tokens, advisors, external contacts, and what was called.

Rules kept from WeCom: access tokens expire after 7200 s (by the sandbox's clock) and a wrong
secret gets 40001; an expired token 42001, an unknown one 40014. Tests can script faults
(`fail_next`) and hold a call until released (`hold`), to see mombot ride them out.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock

TOKEN_TTL = 7200


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


@dataclass
class Call:
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class _Fault:
    errcode: int
    times: int


class SandboxState:
    def __init__(self, corp_id: str, app_secrets: list[str], clock: Clock) -> None:
        self.corp_id = corp_id
        self.clock = clock
        self._secrets = set(app_secrets)
        self._tokens: dict[str, datetime] = {}
        self.contacts: dict[str, ExternalContact] = {}
        self.follows: dict[tuple[str, str], Follow] = {}
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

    def calls_to(self, path: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.path == path]

    # contacts ------------------------------------------------------------------------------
    def befriend(self, userid: str, name: str, state: str = "", **profile: Any) -> Follow:
        """A mother adds an advisor (scanning a code with `state`); returns the new relation."""
        external_userid = profile.pop("external_userid", None) or "wm" + secrets.token_hex(15)
        contact = self.contacts.setdefault(
            external_userid, ExternalContact(external_userid, name, **profile)
        )
        contact.name = name
        follow = Follow(userid, external_userid, int(self.clock.now().timestamp()), state)
        self.follows[(userid, external_userid)] = follow
        return follow

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

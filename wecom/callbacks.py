"""Callback XML → typed event objects, and the key that makes WeCom's retries harmless.

The server reads only `Encrypt` out of the raw body (`encrypted_part`, a bounded regex) and
checks the signature over it before anything is parsed, so an unsigned request costs no more
than a signature check. The decrypted document is then parsed with a depth limit.

Documents with a DTD are refused before parsing: without one there are no entity
declarations, so no entity expansion (billion laughs) and no external references (XXE). WeCom
never sends one. The stdlib's C parser then reads the rest, three times faster than
defusedxml's Python-level parser on these small documents.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError, fromstring

from wecom.crypto import CallbackError

_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)
_ENCRYPT = re.compile(rb"<Encrypt>\s*(?:<!\[CDATA\[([^\]<]*)\]\]>|([^<]*))\s*</Encrypt>")
MAX_DEPTH = 8  # callbacks nest two or three levels (e.g. kf's); deeper is not WeCom's


class MalformedXml(CallbackError):
    """Not a callback document we can read; answered 400."""


def encrypted_part(body: bytes) -> str:
    """The envelope's <Encrypt> text, without parsing the document."""
    match = _ENCRYPT.search(body)
    value = (match.group(1) or match.group(2) or b"").strip() if match else b""
    if not value:
        raise MalformedXml("no <Encrypt> element")
    if not value.isascii():
        raise MalformedXml("<Encrypt> is not base64 text")
    return value.decode("ascii")


def parse_xml(text: str | bytes) -> dict[str, Any]:
    """A callback document as a dict of its top-level fields (nested elements become dicts)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedXml("document is not UTF-8") from None
    if "<!" in text and _DTD.search(text):
        raise MalformedXml("document declares a DTD or entities; refused")
    try:
        root = fromstring(text)
    except (ParseError, ValueError) as exc:
        raise MalformedXml(f"not a well-formed XML document: {exc}") from None
    if root.tag != "xml":
        raise MalformedXml(f"root element is <{root.tag}>, expected <xml>")
    return _children(root)


def _children(element: Element, depth: int = 1) -> dict[str, Any]:
    """An element's children by tag; a tag that repeats (MemChangeList's <Item>s) is a list."""
    if depth > MAX_DEPTH:
        raise MalformedXml(f"elements nested deeper than {MAX_DEPTH} levels")
    fields: dict[str, Any] = {}
    for child in element:
        value = _children(child, depth + 1) if len(child) else (child.text or "").strip()
        if child.tag not in fields:
            fields[child.tag] = value
        elif isinstance(fields[child.tag], list):
            fields[child.tag].append(value)
        else:
            fields[child.tag] = [fields[child.tag], value]
    return fields


def _members(value: Any) -> tuple[str, ...]:
    """MemChangeList as WeCom sends it: <Item> elements (one or several), or, in older
    callbacks, one comma-separated text."""
    items = value.get("Item", []) if isinstance(value, dict) else value
    if isinstance(items, str):
        items = items.split(",")
    if not isinstance(items, list):
        return ()
    return tuple(item.strip() for item in items if isinstance(item, str) and item.strip())


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Event:
    """Any callback. Subclasses add typed fields; `fields` keeps everything WeCom sent."""

    msg_type: str
    event: str
    change_type: str
    create_time: int
    fields: dict[str, Any] = field(repr=False, compare=False)

    @property
    def route(self) -> tuple[str, str, str]:
        return (self.msg_type, self.event, self.change_type)

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.create_time, UTC)


@dataclass(frozen=True)
class Message(Event):
    """A member's message to the app (text, image, voice, …)."""

    msg_id: str = ""
    from_user: str = ""
    agent_id: int = 0


@dataclass(frozen=True)
class TextMessage(Message):
    content: str = ""


@dataclass(frozen=True)
class ContactEvent(Event):
    """change_external_contact: add/edit/delete of an external contact (客户联系)."""

    user_id: str = ""
    external_user_id: str = ""
    state: str = ""
    welcome_code: str = ""
    source: str = ""
    fail_reason: str = ""


@dataclass(frozen=True)
class GroupChatEvent(Event):
    """change_external_chat: customer group created, updated or dismissed."""

    chat_id: str = ""
    update_detail: str = ""
    join_scene: int = 0
    quit_scene: int = 0
    mem_change_cnt: int = 0
    mem_change_list: tuple[str, ...] = ()  # who joined or left (add_member, del_member)


@dataclass(frozen=True)
class TagEvent(Event):
    """change_external_tag: a corp or strategy tag (group) created, updated, deleted or shuffled."""

    tag_id: str = ""
    tag_type: str = ""
    strategy_id: str = ""


@dataclass(frozen=True)
class KfEvent(Event):
    """kf_msg_or_event: new 微信客服 messages are waiting in kf/sync_msg."""

    token: str = ""
    open_kfid: str = ""


@dataclass(frozen=True)
class EnterAgentEvent(Event):
    """enter_agent: a member opened the app."""

    user_id: str = ""
    agent_id: int = 0


def to_event(fields: dict[str, Any]) -> Event:
    msg_type = str(fields.get("MsgType", ""))
    if not msg_type:
        raise MalformedXml("callback has no MsgType")
    name = str(fields.get("Event", "")) if msg_type == "event" else ""
    base = {
        "msg_type": msg_type,
        "event": name,
        "change_type": str(fields.get("ChangeType", "")),
        "create_time": _int(fields.get("CreateTime")),
        "fields": fields,
    }
    if msg_type != "event":
        common = {
            **base,
            "msg_id": str(fields.get("MsgId", "")),
            "from_user": str(fields.get("FromUserName", "")),
            "agent_id": _int(fields.get("AgentID")),
        }
        if msg_type == "text":
            return TextMessage(**common, content=str(fields.get("Content", "")))
        return Message(**common)
    if name == "change_external_contact":
        return ContactEvent(
            **base,
            user_id=fields.get("UserID", ""),
            external_user_id=fields.get("ExternalUserID", ""),
            state=fields.get("State", ""),
            welcome_code=fields.get("WelcomeCode", ""),
            source=fields.get("Source", ""),
            fail_reason=fields.get("FailReason", ""),
        )
    if name == "change_external_chat":
        return GroupChatEvent(
            **base,
            chat_id=fields.get("ChatId", ""),
            update_detail=fields.get("UpdateDetail", ""),
            join_scene=_int(fields.get("JoinScene")),
            quit_scene=_int(fields.get("QuitScene")),
            mem_change_cnt=_int(fields.get("MemChangeCnt")),
            mem_change_list=_members(fields.get("MemChangeList")),
        )
    if name == "change_external_tag":
        return TagEvent(
            **base,
            tag_id=fields.get("Id", ""),
            tag_type=fields.get("TagType", ""),
            strategy_id=fields.get("StrategyId", ""),
        )
    if name == "kf_msg_or_event":
        return KfEvent(**base, token=fields.get("Token", ""), open_kfid=fields.get("OpenKfId", ""))
    if name == "enter_agent":
        return EnterAgentEvent(
            **base, user_id=fields.get("FromUserName", ""), agent_id=_int(fields.get("AgentID"))
        )
    return Event(**base)


def parse_event(text: str | bytes) -> Event:
    return to_event(parse_xml(text))


# Fields that tell one event from another. WeCom's retries repeat all of them; two customers
# adding one advisor in the same second differ in ExternalUserID (FromUserName is "sys").
_IDENTITY_FIELDS = (
    "Event",
    "ChangeType",
    "UpdateDetail",
    "UserID",
    "ExternalUserID",
    "ChatId",
    "FromUserName",
    "AgentID",
    "CreateTime",
    "Token",
    "TagType",
    "Id",
    "StrategyId",
    "Source",
)
# What else tells apart two events that share the fields above (the same second, the same
# chat, contact or account): for change_external_chat update, how members joined or left,
# how many and who (MemChangeList), and the member-list versions before and after (each
# change has its own); a contact event's WelcomeCode (one per add) and FailReason; a kf
# event's account; an app event's key, task and job. Retries repeat them too. They enter the
# key as one digest (MemChangeList may name hundreds), and only when present, so the keys of
# events that have none are as before.
_DETAIL_FIELDS = (
    "JoinScene",
    "QuitScene",
    "MemChangeCnt",
    "MemChangeList",
    "LastMemVer",
    "CurMemVer",
    "WelcomeCode",
    "FailReason",
    "OpenKfId",
    "EventKey",
    "TaskId",
    "ResponseCode",
    "BatchJob",
)


def _canonical(name: str, value: Any) -> Any:
    """A detail field as plain JSON data; MemChangeList as its members, in either format."""
    if name == "MemChangeList":
        return sorted(_members(value))
    if isinstance(value, dict):
        return {key: _canonical(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(name, item) for item in value]
    return str(value)


def dedupe_key(event: Event) -> str:
    fields = event.fields
    msg_id = fields.get("MsgId")
    if event.msg_type != "event" and msg_id:
        return f"msg:{fields.get('AgentID', '')}:{msg_id}"
    parts = [str(fields.get(name, "")) for name in _IDENTITY_FIELDS]
    details = {
        name: _canonical(name, fields[name])
        for name in _DETAIL_FIELDS
        if fields.get(name) not in (None, "")
    }
    if details:
        text = json.dumps(details, sort_keys=True, ensure_ascii=False)
        parts.append(hashlib.sha256(text.encode()).hexdigest()[:32])
    return "evt:" + "|".join(parts)

"""Helpers that play WeCom's side in the flow tests: a mother adds an advisor, a callback is
stored and queued exactly as the server's fast path does it."""

from bot.events import dedupe_key, parse_event
from bot.ingest import commit
from bot.sandbox.driver import contact_event, to_xml
from store.inbox import NewEvent
from tests.conftest import CORP_ID


def deliver(runtime, fields, try_redis=True):
    plain = to_xml(fields)
    event = parse_event(plain)
    (stored,), _ = commit(
        runtime,
        [NewEvent(dedupe_key(event), event.msg_type, event.event, event.change_type, plain)],
        try_redis,
    )
    return stored


def added(state, name="小雨", userid="zhangsan", channel="xhs-diaper"):
    follow = state.befriend(userid, name, channel)
    fields = contact_event(
        "add_external_contact",
        CORP_ID,
        userid,
        follow.external_userid,
        follow.createtime,
        State=channel,
        WelcomeCode=follow.welcome_code,
    )
    return follow, fields


def settings_data(runtime) -> dict:
    """The runtime's settings as a plain dict, secrets included, to change and reapply."""
    data = runtime.settings.model_dump()
    wecom = runtime.settings.wecom
    data["wecom"] |= {
        "secret": wecom.secret.get_secret_value(),
        "token": wecom.token.get_secret_value(),
        "encoding_aes_key": wecom.encoding_aes_key.get_secret_value(),
        "contact_secret": None,
        "kf_secret": None,
    }
    return data


def reconfigure(runtime, data: dict) -> None:
    runtime.settings = type(runtime.settings).model_validate(data)


def staff_says(runtime, userid: str, text: str, msg_id: int, create_time: int = 1763776800):
    """A member writes to the app (e.g. 跟进 12 已电话沟通)."""
    return deliver(runtime, {
        "ToUserName": CORP_ID, "FromUserName": userid, "CreateTime": create_time,
        "MsgType": "text", "Content": text, "MsgId": str(msg_id), "AgentID": 1000002,
    })  # fmt: skip

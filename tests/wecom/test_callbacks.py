import pytest

from tests.support import DATA
from wecom.callbacks import (
    ContactEvent,
    EnterAgentEvent,
    Event,
    GroupChatEvent,
    KfEvent,
    MalformedXml,
    TagEvent,
    TextMessage,
    dedupe_key,
    parse_event,
)
from wecom.sandbox.driver import contact_event, to_xml

WECOM = DATA / "wecom"


def load(name: str):
    return parse_event((WECOM / name).read_text(encoding="utf-8"))


def test_shared_payloads_become_typed_events():
    added = load("add_external_contact.xml")
    assert isinstance(added, ContactEvent)
    assert added.route == ("event", "change_external_contact", "add_external_contact")
    assert (added.user_id, added.external_user_id) == ("zhangsan", "woAJ2GCAAAXtWyujaWJHDDGi0mAAAA")
    assert (added.state, added.welcome_code, added.create_time) == (
        "teststate",
        "WELCOMECODE",
        1403610513,
    )

    removed = load("del_external_contact.xml")
    assert isinstance(removed, ContactEvent) and removed.source == "DELETE_BY_TRANSFER"
    assert load("del_follow_user.xml").change_type == "del_follow_user"

    chat = load("change_external_chat_add_member.xml")
    assert isinstance(chat, GroupChatEvent)
    assert (chat.chat_id, chat.update_detail, chat.join_scene, chat.mem_change_cnt) == (
        "wrx7HmxxxxxxxxxxxxxxxxCA",
        "add_member",
        3,
        1,
    )

    kf = load("kf_msg_or_event.xml")
    assert isinstance(kf, KfEvent) and kf.open_kfid == "wkxxxxxxxxxxxxxxxxxx"
    assert kf.token.startswith("ENCApHxn")

    text = load("app_text_report.xml")
    assert isinstance(text, TextMessage)
    assert (text.content, text.from_user, text.agent_id, text.msg_id) == (
        "/report",
        "boss",
        1000002,
        "1456453720",
    )


def test_every_contact_change_type_and_other_events():
    for change in (
        "add_external_contact",
        "add_half_external_contact",
        "edit_external_contact",
        "del_external_contact",
        "del_follow_user",
        "transfer_fail",
    ):
        event = parse_event(
            to_xml(contact_event(change, "ww1", "u", "wm1", 1, FailReason="customer_refused"))
        )
        assert isinstance(event, ContactEvent) and event.change_type == change
    tag = parse_event(
        to_xml(
            {
                "MsgType": "event",
                "Event": "change_external_tag",
                "Id": "et1",
                "TagType": "tag",
                "ChangeType": "create",
                "CreateTime": 5,
            }
        )
    )
    assert isinstance(tag, TagEvent) and (tag.tag_id, tag.tag_type) == ("et1", "tag")
    enter = parse_event(
        to_xml(
            {
                "MsgType": "event",
                "Event": "enter_agent",
                "FromUserName": "li",
                "AgentID": 1000002,
                "CreateTime": 5,
            }
        )
    )
    assert isinstance(enter, EnterAgentEvent) and enter.user_id == "li"
    other = parse_event(to_xml({"MsgType": "event", "Event": "batch_job_result", "CreateTime": 5}))
    assert type(other) is Event and other.route == ("event", "batch_job_result", "")


def test_retry_has_the_same_key_and_neighbours_do_not():
    first = contact_event("add_external_contact", "ww1", "zhangsan", "wmA", 1700000000, State="c1")
    retry = dict(first)
    second_mother = {**first, "ExternalUserID": "wmB"}
    other_advisor = {**first, "UserID": "lisi"}
    keys = [
        dedupe_key(parse_event(to_xml(f))) for f in (first, retry, second_mother, other_advisor)
    ]
    assert keys[0] == keys[1]
    assert len(set(keys)) == 3
    deleted = {**first, "ChangeType": "del_follow_user"}
    assert dedupe_key(parse_event(to_xml(deleted))) != keys[0]


def test_messages_dedupe_by_msg_id():
    base = {
        "ToUserName": "ww1",
        "FromUserName": "boss",
        "CreateTime": 1,
        "MsgType": "text",
        "Content": "/report",
        "MsgId": "42",
        "AgentID": 1000002,
    }
    same = dedupe_key(parse_event(to_xml({**base, "CreateTime": 2})))
    assert dedupe_key(parse_event(to_xml(base))) == same
    assert dedupe_key(parse_event(to_xml({**base, "MsgId": "43"}))) != same


@pytest.mark.parametrize(
    "document",
    [
        "not xml at all",
        "<xml><MsgType>text</MsgType>",
        "<root><MsgType>text</MsgType></root>",
        "<xml><Content>no type</Content></xml>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<xml><MsgType>&b;</MsgType></xml>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "<xml><MsgType>&e;</MsgType></xml>",
    ],
)
def test_unsafe_or_malformed_documents_are_refused(document):
    with pytest.raises(MalformedXml):
        parse_event(document)

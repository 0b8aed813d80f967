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


def chat_update(create_time=1700000000, members=("wmA",), ver=("v0", "v1"), **fields):
    """A change_external_chat update as WeCom sends it now: <MemChangeList> of <Item>s and the
    member-list versions before and after."""
    detail = {"UpdateDetail": "add_member", "JoinScene": 3, "QuitScene": 0,
              "MemChangeCnt": len(members), **fields}  # fmt: skip
    items = "".join(f"<Item><![CDATA[{member}]]></Item>" for member in members)
    document = to_xml({
        "ToUserName": "ww1", "FromUserName": "sys", "CreateTime": create_time,
        "MsgType": "event", "Event": "change_external_chat", "ChatId": "wrCHAT",
        "ChangeType": "update", **detail, "LastMemVer": ver[0], "CurMemVer": ver[1],
    })  # fmt: skip
    return document.replace("</xml>", f"<MemChangeList>{items}</MemChangeList></xml>")


def key(document) -> str:
    return dedupe_key(parse_event(document))


def test_member_change_lists_are_read_whole():
    event = parse_event(chat_update(members=("wmA", "wmB", "wmC")))
    assert isinstance(event, GroupChatEvent) and event.mem_change_list == ("wmA", "wmB", "wmC")
    assert parse_event(chat_update(members=("wmA",))).mem_change_list == ("wmA",)
    older = chat_update().replace(
        "<MemChangeList><Item><![CDATA[wmA]]></Item></MemChangeList>",
        "<MemChangeList><![CDATA[wmA,wmB]]></MemChangeList>",
    )
    assert parse_event(older).mem_change_list == ("wmA", "wmB")
    assert load("change_external_chat_add_member.xml").mem_change_list == ()


def test_group_events_in_the_same_second_keep_apart_and_their_retries_do_not():
    first = chat_update(members=("wmA",), ver=("v0", "v1"))
    assert key(first) == key(first)  # WeCom's retry
    neighbours = [
        chat_update(members=("wmB",), ver=("v1", "v2")),  # another mother joins that second
        chat_update(members=("wmB",), ver=("v0", "v1")),  # who, even with the versions alike
        chat_update(members=("wmA",), ver=("v1", "v2")),  # the versions, even with who alike
        chat_update(members=("wmA",), ver=("v0", "v1"), JoinScene=1),  # how she joined
        chat_update(members=("wmA", "wmB"), ver=("v0", "v1")),  # how many
        chat_update(members=("wmA",), UpdateDetail="del_member", JoinScene=0, QuitScene=1),
    ]
    keys = {key(document) for document in [first, *neighbours]}
    assert len(keys) == 1 + len(neighbours)
    assert all(len(k) <= 1024 for k in keys)  # the inbox's column
    crowd = [f"wm{n:030d}" for n in range(500)]
    assert len(key(chat_update(members=crowd))) < 200
    assert key(chat_update(members=("wmA", "wmB"))) == key(chat_update(members=("wmB", "wmA")))


def test_other_events_that_shared_a_key_keep_apart():
    readd = contact_event("add_external_contact", "ww1", "zhangsan", "wmA", 1700000000)
    welcome_codes = {key(to_xml({**readd, "WelcomeCode": code})) for code in ("W1", "W2")}
    assert len(welcome_codes) == 2  # deleted and added again within the second
    kf = {"ToUserName": "ww1", "CreateTime": 1700000000, "MsgType": "event",
          "Event": "kf_msg_or_event", "Token": "ENC1"}  # fmt: skip
    accounts = {key(to_xml({**kf, "OpenKfId": account})) for account in ("wkA", "wkB")}
    assert len(accounts) == 2
    transfer = contact_event("transfer_fail", "ww1", "zhangsan", "wmA", 1700000000)
    reasons = {key(to_xml({**transfer, "FailReason": r})) for r in ("customer_refused", "none")}
    assert len(reasons) == 2


def test_keys_of_events_without_details_are_as_before():
    deleted = contact_event("del_follow_user", "ww1", "zhangsan", "wmA", 1700000000)
    assert key(to_xml(deleted)) == (
        "evt:change_external_contact|del_follow_user||zhangsan|wmA||sys||1700000000|||||"
    )
    tag = {"MsgType": "event", "Event": "change_external_tag", "Id": "et1", "TagType": "tag",
           "ChangeType": "update", "CreateTime": 5}  # fmt: skip
    assert key(to_xml(tag)) == "evt:change_external_tag|update|||||||5||tag|et1||"

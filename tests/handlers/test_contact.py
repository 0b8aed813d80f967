"""Channel codes, tagging, welcomes and losses, end to end through the WeCom sandbox."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from bot import relay, worker
from crm import scene
from crm.channels import sync
from crm.context import Context
from store import contacts, deliveries
from store.db import session
from store.models import Contact
from tests.support import CORP_ID, added, deliver, reconfigure, settings_data
from wecom.sandbox.driver import contact_event


def run(runtime):
    worker.run(runtime, burst=True)


def contact(runtime, external_userid) -> Contact:
    with session(runtime.engine) as s:
        return contacts.get(s, external_userid)


def do_sync(runtime):
    with session(runtime.engine) as s:
        return sync(Context(s, runtime))


def test_channel_sync_is_idempotent_and_updates_what_changed(runtime, sandbox):
    state = sandbox.state
    first = do_sync(runtime)
    assert first.created == ["xhs-diaper", "store-poster"] and not first.problems
    assert set(first.tags) == {"小红书", "纸尿裤", "门店", "未知渠道"}
    ways = {way["state"]: way for way in state.contact_ways.values()}
    assert ways["xhs-diaper"]["user"] == ["zhangsan"] and ways["xhs-diaper"]["scene"] == 2
    assert [g["group_name"] for g in state.tag_groups] == ["渠道来源"]

    second = do_sync(runtime)
    assert second.unchanged == ["xhs-diaper", "store-poster"] and not second.created
    assert len(state.calls_to("externalcontact/add_contact_way")) == 2
    assert len(state.calls_to("externalcontact/add_corp_tag")) == 1
    assert len(state.contact_ways) == 2

    changed = settings_data(runtime)
    changed["channels"][1]["advisors"] = ["lisi"]
    changed["channels"].append(
        {"code": "hospital-a", "name": "合作医院A", "tags": ["医院"], "advisors": ["wangwu"]}
    )
    reconfigure(runtime, changed)
    third = do_sync(runtime)
    assert (third.created, third.updated, third.unchanged) == (
        ["hospital-a"],
        ["store-poster"],
        ["xhs-diaper"],
    )
    assert ways["store-poster"]["config_id"] in state.contact_ways
    assert state.contact_ways[ways["store-poster"]["config_id"]]["user"] == ["lisi"]
    assert len(state.contact_ways) == 3
    assert "医院" in third.tags


def test_channel_without_advisors_is_reported(runtime, sandbox):
    changed = settings_data(runtime)
    changed["channels"][0]["advisors"] = []
    reconfigure(runtime, changed)
    report = do_sync(runtime)
    assert report.problems == ["xhs-diaper: needs at least one advisor (advisors = [...])"]
    assert report.created == ["store-poster"]


def test_add_gets_one_welcome_and_her_channel_tags(runtime, sandbox):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    deliver(runtime, fields)  # WeCom's retry
    run(runtime)
    (welcome,) = sandbox.state.welcomes
    assert welcome.text == "你好小雨，我是张顾问，纸尿裤试用装已为你预留。"
    assert welcome.attachments == [
        {"msgtype": "link", "link": {"title": "试用装领取", "url": "https://example.com/try"}}
    ]
    assert sandbox.state.tag_names("zhangsan", follow.external_userid) == ["小红书", "纸尿裤"]
    assert len(sandbox.state.calls_to("externalcontact/mark_tag")) == 1
    with session(runtime.engine) as s:
        assert deliveries.get(s, f"welcome:{follow.welcome_code}").status == "sent"


def test_a_retried_handler_never_welcomes_twice(runtime, sandbox, clock):
    follow, fields = added(sandbox.state)
    sandbox.state.fail_next(
        "externalcontact/mark_tag", -1, times=4
    )  # busy beyond the client's retries
    deliver(runtime, fields)
    run(runtime)
    assert len(sandbox.state.welcomes) == 1
    assert sandbox.state.tag_names("zhangsan", follow.external_userid) == []
    clock.advance(seconds=6)
    assert relay.relay_once(runtime) == 1
    run(runtime)
    assert len(sandbox.state.welcomes) == 1
    assert len(sandbox.state.calls_to("externalcontact/send_welcome_msg")) == 1
    assert sandbox.state.tag_names("zhangsan", follow.external_userid) == ["小红书", "纸尿裤"]


def test_two_mothers_add_the_same_advisor_in_the_same_second(runtime, sandbox):
    a, fields_a = added(sandbox.state, "小雨")
    b, fields_b = added(sandbox.state, "阿敏")
    assert fields_a["CreateTime"] == fields_b["CreateTime"]
    deliver(runtime, fields_a)
    deliver(runtime, fields_b)
    run(runtime)
    assert sorted(w.text for w in sandbox.state.welcomes) == [
        "你好小雨，我是张顾问，纸尿裤试用装已为你预留。",
        "你好阿敏，我是张顾问，纸尿裤试用装已为你预留。",
    ]
    for follow in (a, b):
        assert sandbox.state.tag_names("zhangsan", follow.external_userid) == ["小红书", "纸尿裤"]


def test_a_late_welcome_code_is_not_used_and_is_recorded(runtime, sandbox, clock):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    clock.advance(seconds=21)  # the worker gets to it too late
    run(runtime)
    assert sandbox.state.welcomes == []
    assert not sandbox.state.calls_to("externalcontact/send_welcome_msg")
    with session(runtime.engine) as s:
        record = deliveries.get(s, f"welcome:{follow.welcome_code}")
    assert (record.status, record.detail) == ("skipped", "too late: 20 s passed")
    assert sandbox.state.tag_names("zhangsan", follow.external_userid) == ["小红书", "纸尿裤"]


def test_no_welcome_code_means_no_welcome(runtime, sandbox):
    follow = sandbox.state.befriend("zhangsan", "小雨", "xhs-diaper", welcome_code=False)
    deliver(
        runtime,
        contact_event(
            "add_external_contact",
            CORP_ID,
            "zhangsan",
            follow.external_userid,
            follow.createtime,
            State="xhs-diaper",
        ),
    )
    run(runtime)
    assert not sandbox.state.calls_to("externalcontact/send_welcome_msg")
    assert contact(runtime, follow.external_userid).channel_code == "xhs-diaper"
    assert sandbox.state.tag_names("zhangsan", follow.external_userid) == ["小红书", "纸尿裤"]


def test_unknown_state_gets_the_default_welcome_and_tag(runtime, sandbox, caplog):
    follow, fields = added(sandbox.state, channel="tiktok-x")
    deliver(runtime, fields)
    run(runtime)
    (welcome,) = sandbox.state.welcomes
    assert welcome.text.startswith("你好小雨，我是张顾问，你的专属育儿顾问")
    assert sandbox.state.tag_names("zhangsan", follow.external_userid) == ["未知渠道"]
    assert "unknown channel code 'tiktok-x'" in caplog.text


def test_an_already_delivered_welcome_is_not_retried(runtime, sandbox):
    follow, fields = added(sandbox.state)
    sandbox.state.welcome_codes[follow.welcome_code].used = True  # another app was first
    deliver(runtime, fields)
    run(runtime)
    assert len(sandbox.state.calls_to("externalcontact/send_welcome_msg")) == 1
    with session(runtime.engine) as s:
        assert deliveries.get(s, f"welcome:{follow.welcome_code}").status == "skipped"


def test_token_invalidated_mid_flow_still_one_welcome(runtime, sandbox):
    _follow, fields = added(sandbox.state)
    sandbox.state.fail_next("externalcontact/send_welcome_msg", 42001)
    deliver(runtime, fields)
    run(runtime)
    assert len(sandbox.state.welcomes) == 1
    assert len(sandbox.state.calls_to("gettoken")) == 2


def test_welcome_invites_her_to_the_bot_when_kf_is_configured(runtime, sandbox):
    data = settings_data(runtime)
    data["wecom"]["kf_open_kfid"] = "wkBOT"
    reconfigure(runtime, data)
    _follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    run(runtime)
    link = sandbox.state.welcomes[0].attachments[-1]["link"]
    assert link["title"] == "告诉我预产期或宝宝生日，领取专属孕育指南"
    value = parse_qs(urlsplit(link["url"]).query)["scene_param"][0]  # signed: crm.scene
    assert value.startswith("c=xhs-diaper&u=zhangsan&s=")
    assert scene.verify(runtime.settings, value) == ("xhs-diaper", "zhangsan")


@pytest.mark.parametrize(
    ("change", "source", "reason", "says"),
    [
        ("del_follow_user", "", "客户删除", "删除了你"),
        ("del_external_contact", "DELETE_BY_USER", "顾问删除", "已被你删除"),
    ],
)
def test_loss_is_recorded_and_the_owner_told(runtime, sandbox, clock, change, source, reason, says):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    run(runtime)
    clock.advance(days=3)
    sandbox.state.unfriend("zhangsan", follow.external_userid)
    event = contact_event(
        change,
        CORP_ID,
        "zhangsan",
        follow.external_userid,
        int(clock.now().timestamp()),
        **({"Source": source} if source else {}),
    )
    deliver(runtime, event)
    deliver(runtime, event)
    run(runtime)
    lost = contact(runtime, follow.external_userid)
    assert (lost.status, lost.lost_reason) == ("lost", reason)
    assert sandbox.state.delivered_to("zhangsan") == [
        f"流失提醒：客户「小雨」{says}。\n渠道：小红书纸尿裤笔记\n阶段：未登记\n添加至今：3天"
    ]


def test_a_transfer_is_not_a_loss(runtime, sandbox):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    run(runtime)
    deliver(
        runtime,
        contact_event(
            "del_external_contact",
            CORP_ID,
            "zhangsan",
            follow.external_userid,
            follow.createtime + 60,
            Source="DELETE_BY_TRANSFER",
        ),
    )
    run(runtime)
    assert contact(runtime, follow.external_userid).status == "new"
    assert sandbox.state.delivered_to("zhangsan") == []


def test_a_failed_transfer_is_recorded_and_the_owner_told(runtime, sandbox):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    run(runtime)
    deliver(
        runtime,
        contact_event(
            "transfer_fail",
            CORP_ID,
            "lisi",
            follow.external_userid,
            follow.createtime + 60,
            FailReason="customer_refused",
        ),
    )
    run(runtime)
    assert contact(runtime, follow.external_userid).transfer_fail_reason == "customer_refused"
    assert sandbox.state.delivered_to("zhangsan") == [
        "转接失败：客户「小雨」没有转给 lisi（客户拒绝了转接），仍由你跟进。"
    ]


def test_sandbox_drops_app_messages_beyond_the_per_member_limit(sandbox, clock):
    state = sandbox.state
    for i in range(31):
        state.send_app_message(
            {"touser": "zhangsan", "msgtype": "text", "text": {"content": str(i)}}
        )
    assert len(state.delivered_to("zhangsan")) == 30
    clock.advance(timedelta(minutes=1))
    state.send_app_message({"touser": "zhangsan", "msgtype": "text", "text": {"content": "next"}})
    assert state.delivered_to("zhangsan")[-1] == "next"


def test_image_and_miniprogram_attachments_are_uploaded_once(runtime, sandbox, tmp_path):
    poster = tmp_path / "poster.png"
    poster.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    data = settings_data(runtime)
    data["channels"][0]["attachments"] = [
        {"type": "image", "path": str(poster)},
        {
            "type": "miniprogram",
            "title": "领试用装",
            "appid": "wx123",
            "page": "pages/try",
            "pic_path": str(poster),
        },
    ]
    reconfigure(runtime, data)
    for name in ("小雨", "阿敏"):
        _, fields = added(sandbox.state, name)
        deliver(runtime, fields)
    run(runtime)
    assert len(sandbox.state.calls_to("media/upload")) == 1  # same picture: uploaded once
    (media_id,) = sandbox.state.media
    for welcome in sandbox.state.welcomes:
        image, mini = welcome.attachments
        assert image == {"msgtype": "image", "image": {"media_id": media_id}}
        assert mini["miniprogram"] == {
            "title": "领试用装",
            "appid": "wx123",
            "page": "pages/try",
            "pic_media_id": media_id,
        }


def test_the_20_seconds_run_from_receipt_or_a_believable_create_time(runtime, sandbox, clock):
    skewed, fields = added(sandbox.state, "小雨")
    fields["CreateTime"] = 1403610513  # a sender clock years off: receipt counts
    deliver(runtime, fields)
    late, fields = added(sandbox.state, "阿敏")
    fields["CreateTime"] = int(clock.now().timestamp()) - 30  # delivered 30 s after the add
    deliver(runtime, fields)
    run(runtime)
    assert [w.external_userid for w in sandbox.state.welcomes] == [skewed.external_userid]
    with session(runtime.engine) as s:
        assert deliveries.get(s, f"welcome:{late.welcome_code}").status == "skipped"


def test_a_claim_whose_transfer_fails_goes_back_to_her_advisor(runtime, sandbox):
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    run(runtime)
    with session(runtime.engine) as s:  # lisi claimed her from the public pool
        claimed = contacts.get(s, follow.external_userid)
        claimed.owner_userid, claimed.handover_userid = "lisi", "zhangsan"
        s.add(claimed)
        s.commit()
    failed = contact_event("transfer_fail", CORP_ID, "lisi", follow.external_userid,
                           follow.createtime + 60, FailReason="customer_refused")  # fmt: skip
    deliver(runtime, failed)
    run(runtime)
    assert contact(runtime, follow.external_userid).owner_userid == "zhangsan"
    assert sandbox.state.delivered_to("lisi") == [
        "转接失败：客户「小雨」没有转给你（客户拒绝了转接），仍由原顾问跟进。"
    ]
    assert "仍由你跟进" in sandbox.state.delivered_to("zhangsan")[-1]

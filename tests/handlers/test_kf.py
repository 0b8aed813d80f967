"""The welcome bot (微信客服) end to end through the sandbox: a mother from greeting to a
confirmed due date, corrections, births, hand-overs, opt-outs, and WeCom's rules."""

import json
import logging
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from bot import worker
from crm import assign, scene
from crm.stages import STAGES
from store import contacts, kf
from store.db import session
from store.models import KfMessage, KfOrigin
from tests.support import CORP_ID, DATA, added, deliver, reconfigure, refresh, settings_data
from wecom.sandbox.driver import contact_event

KF = "wkBOT"


@pytest.fixture
def bot(runtime, sandbox):
    data = settings_data(runtime)
    data["wecom"]["kf_open_kfid"] = KF
    data["report"] = {"managers": ["wangwu"]}
    reconfigure(runtime, data)
    return runtime


def chat(runtime, sandbox, external_userid, text):
    deliver(runtime, sandbox.state.kf_customer_says(KF, external_userid, text))
    worker.run(runtime, burst=True)
    said = sandbox.state.kf_said_to(external_userid)
    return said[-1] if said else None


def her(runtime, external_userid):
    with session(runtime.engine) as s:
        return contacts.get(s, external_userid)


def stage_tags(sandbox, external_userid):
    return [t for t in sandbox.state.tag_names("zhangsan", external_userid) if t in STAGES]


def mother(runtime, sandbox):
    """She adds her advisor from a channel code, then opens the bot from the welcome link."""
    follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    deliver(
        runtime, sandbox.state.kf_enter_session(KF, follow.external_userid, scene_param(sandbox))
    )
    worker.run(runtime, burst=True)
    return follow.external_userid


def scene_param(sandbox):
    """The scene_param of the bot link in the last welcome, as WeCom hands it back."""
    link = sandbox.state.welcomes[-1].attachments[-1]["link"]["url"]
    return parse_qs(urlsplit(link).query)["scene_param"][0]


def test_from_hello_to_a_confirmed_due_date_and_her_stage_tag(bot, sandbox):
    ext = mother(bot, sandbox)
    assert sandbox.state.kf_said_to(ext) == [
        "你好呀，我是孕育小助手～为了给你推送合适的内容，想先了解一下：你现在是在备孕、已经怀孕，"
        "还是宝宝已经出生啦？"
    ]
    assert (
        chat(bot, sandbox, ext, "怀孕了")
        == "恭喜你！预产期是哪一天呢？也可以直接告诉我现在孕几周～"
    )
    assert chat(bot, sandbox, ext, "预产期是明年3月15号") == (
        "好的，预产期是2027年3月15日，现在孕23周+6天，对吗？"
    )
    assert chat(bot, sandbox, ext, "对") == (
        "已记下！你现在处于孕中期，接下来我会按阶段给你推送实用的内容，有问题随时问我～"
    )
    assert her(bot, ext).due_date == date(2027, 3, 15)
    assert stage_tags(sandbox, ext) == ["孕中期"]


def test_the_bots_side_of_the_conversation_is_kept_with_wecoms_msgid(bot, sandbox):
    """sync_msg never returns what the API sent: mombot keeps the bot's texts itself."""
    ext = mother(bot, sandbox)
    event = sandbox.state.kf_customer_says(KF, ext, "怀孕了")
    for _ in range(2):  # WeCom repeats an event it thinks was lost
        deliver(bot, event)
        worker.run(bot, burst=True)
    with session(bot.engine) as s:
        talk = kf.conversation(s.connection(), ext, 10)
    sent = sandbox.state.kf_sent
    assert [(origin, text) for _, origin, text in reversed(talk)] == [
        (KfOrigin.BOT, sent[0]["text"]["content"]),
        (KfOrigin.CUSTOMER, "怀孕了"),
        (KfOrigin.BOT, "恭喜你！预产期是哪一天呢？也可以直接告诉我现在孕几周～"),
    ]
    with session(bot.engine) as s:
        kept = s.exec(select(KfMessage.msgid).where(KfMessage.origin == KfOrigin.BOT)).all()
    assert sorted(kept) == sorted(m["msgid"] for m in sent) and len(sent) == 2


def test_a_correction_changes_the_date(bot, sandbox):
    ext = mother(bot, sandbox)
    chat(bot, sandbox, ext, "预产期是明年3月15号")
    assert chat(bot, sandbox, ext, "不对，是3月20号") == (
        "好的，预产期是2027年3月20日，现在孕23周+1天，对吗？"
    )
    chat(bot, sandbox, ext, "是的")
    assert her(bot, ext).due_date == date(2027, 3, 20)


def test_a_birthday_moves_her_from_late_pregnancy_to_newborn(bot, sandbox):
    ext = mother(bot, sandbox)
    chat(bot, sandbox, ext, "预产期12月5号")
    chat(bot, sandbox, ext, "对")
    assert stage_tags(sandbox, ext) == ["孕晚期"]
    assert chat(bot, sandbox, ext, "宝宝昨天出生了") == (
        "好的，宝宝生日是2026年11月21日，现在1天，对吗？"
    )
    chat(bot, sandbox, ext, "对的")
    assert her(bot, ext).stage == "新生儿期"
    assert stage_tags(sandbox, ext) == ["新生儿期"]


def test_pregnancy_months_turn_into_a_question(bot, sandbox):
    ext = mother(bot, sandbox)
    assert chat(bot, sandbox, ext, "孕6个月") == (
        "孕6个月大约是孕21–26周，能告诉我具体是孕几周，或者预产期是哪天吗？"
    )
    assert her(bot, ext).due_date is None


def test_asking_for_a_person_hands_over_with_a_summary(bot, sandbox):
    ext = mother(bot, sandbox)
    assert chat(bot, sandbox, ext, "我要人工") == "好的，已经请张顾问尽快联系你，请稍等～"
    (notice,) = sandbox.state.delivered_to("zhangsan")
    assert notice.startswith("微信客服转人工：客户「小雨」请求人工服务。\n她说：我要人工")


def test_two_answers_it_cannot_read_hand_over(bot, sandbox):
    ext = mother(bot, sandbox)
    chat(bot, sandbox, ext, "怀孕了")
    assert chat(bot, sandbox, ext, "嗯嗯啊") == (
        "抱歉，我没太看明白～可以告诉我预产期（比如“预产期3月15日”），或者宝宝的生日吗？"
    )
    assert chat(bot, sandbox, ext, "哈哈") == "好的，已经请张顾问尽快联系你，请稍等～"
    assert "两次回答机器人都没能识别" in sandbox.state.delivered_to("zhangsan")[0]


def test_opt_out_is_recorded(bot, sandbox):
    ext = mother(bot, sandbox)
    assert chat(bot, sandbox, ext, "不要再发了").startswith("好的，已为你退订自动推送")
    assert her(bot, ext).opted_out


def test_each_message_is_handled_once_whatever_the_events(bot, sandbox):
    ext = mother(bot, sandbox)
    first = sandbox.state.kf_customer_says(KF, ext, "怀孕了")
    second = sandbox.state.kf_customer_says(KF, ext, "预产期是明年3月15号")
    deliver(bot, second)  # the later event arrives first and syncs both messages
    deliver(bot, first)
    deliver(bot, second)  # and WeCom retries one
    worker.run(bot, burst=True)
    assert sandbox.state.kf_said_to(ext)[1:] == [
        "恭喜你！预产期是哪一天呢？也可以直接告诉我现在孕几周～",
        "好的，预产期是2027年3月15日，现在孕23周+6天，对吗？",
    ]


def test_when_wecom_refuses_a_reply_the_advisor_follows_up(bot, sandbox):
    ext = mother(bot, sandbox)
    sandbox.state.fail_next("kf/send_msg", 95026)
    assert chat(bot, sandbox, ext, "怀孕了") is not None  # only the greeting so far
    assert len(sandbox.state.kf_said_to(ext)) == 1
    (notice,) = sandbox.state.delivered_to("zhangsan")
    assert notice.startswith("请跟进：机器人已无法在微信客服里回复客户「小雨」")


def test_a_mother_first_seen_by_the_bot_is_a_lead_without_owner(bot, sandbox):
    assert chat(bot, sandbox, "wmNEW", "你好").startswith("你好呀，我是孕育小助手")
    lead = her(bot, "wmNEW")
    assert lead is not None and lead.owner_userid == ""
    chat(bot, sandbox, "wmNEW", "我要找顾问")
    assert sandbox.state.delivered_to("wangwu")  # no owner: the managers are told


def test_long_past_due_date_makes_the_bot_ask_whether_the_baby_came(bot, sandbox, clock):
    chatty = mother(bot, sandbox)
    chat(bot, sandbox, chatty, "预产期12月5号")
    chat(bot, sandbox, chatty, "对")
    quiet_follow, fields = added(sandbox.state, "阿敏")
    deliver(bot, fields)
    worker.run(bot, burst=True)
    with session(bot.engine) as s:
        quiet = contacts.get(s, quiet_follow.external_userid)
        quiet.due_date = date(2026, 12, 5)
        s.add(quiet)
        s.commit()
    clock.advance(days=28)  # 2026-12-20: 15 days past the due date
    chat(bot, sandbox, chatty, "在吗")  # she wrote today: the bot may ask her itself
    for _ in range(2):  # two daily refreshes: asked once
        report = refresh(bot, clock.now().date())
        worker.run(bot, burst=True)
    assert len(report.overdue) == 2
    assert sandbox.state.kf_said_to(chatty)[-1].startswith(
        "预产期已经过去一段时间啦，宝宝出生了吗？"
    )
    notices = [n for n in sandbox.state.delivered_to("zhangsan") if "还没登记宝宝出生" in n]
    assert notices == ["客户「阿敏」预产期（2026-12-05）已过，还没登记宝宝出生，请联系确认。"]
    assert sum("宝宝出生了吗" in m for m in sandbox.state.kf_said_to(chatty)) == 1


def test_a_stale_event_token_does_not_lose_messages(bot, sandbox, clock):
    ext = mother(bot, sandbox)
    callback = sandbox.state.kf_customer_says(KF, ext, "怀孕了")
    deliver(bot, callback)
    clock.advance(minutes=11)  # the worker gets to it after the token's 10 minutes
    worker.run(bot, burst=True)
    assert (
        sandbox.state.kf_said_to(ext)[-1]
        == "恭喜你！预产期是哪一天呢？也可以直接告诉我现在孕几周～"
    )


def test_the_shared_sample_sync_is_answered(bot, sandbox):
    """tests/data/wecom/kf_sync_msg_response.json as WeCom would hand it out (send_time of
    2021)."""
    sample = json.loads((DATA / "wecom" / "kf_sync_msg_response.json").read_text("utf-8"))
    callback = sandbox.state.kf_customer_says(KF, "wmSAMPLE", "placeholder")
    signed = scene.sign(bot.settings, "xhs-diaper", "zhangsan")  # as the welcome's link has it
    sandbox.state.kf_log[-1:] = [
        {
            **m,
            "open_kfid": KF,
            **({"event": {**m["event"], "scene_param": signed}} if "event" in m else {}),
        }
        for m in sample["msg_list"]
    ]
    sandbox.state.kf_windows[(KF, sample["msg_list"][0]["external_userid"])] = [
        sandbox.state.clock.now(),
        0,
    ]
    deliver(bot, callback)
    worker.run(bot, burst=True)
    ext = sample["msg_list"][0]["external_userid"]
    said = sandbox.state.kf_said_to(ext)
    assert said[0] == "好的，预产期是2027年3月15日，现在孕23周+6天，对吗？"
    assert her(bot, ext).channel_code == "xhs-diaper"  # from the enter_session scene_param


def test_the_welcome_links_scene_param_binds_a_new_mother_to_its_channel_and_advisor(bot, sandbox):
    mother(bot, sandbox)
    real = scene_param(sandbox)
    deliver(bot, sandbox.state.kf_enter_session(KF, "wmLEAD", real))  # unknown to WeCom
    worker.run(bot, burst=True)
    lead = her(bot, "wmLEAD")
    assert (lead.owner_userid, lead.channel_code) == ("zhangsan", "xhs-diaper")
    assert sandbox.state.kf_said_to("wmLEAD")[0].startswith("你好呀，我是孕育小助手")


def test_an_edited_or_unsigned_scene_param_binds_nobody_but_she_is_greeted(bot, sandbox, caplog):
    mother(bot, sandbox)
    real = scene_param(sandbox)
    assert real.startswith("c=xhs-diaper&u=zhangsan&s=")
    mac = real.rsplit("&s=", 1)[1]
    forged = {
        "wmEDITUSER": real.replace("u=zhangsan", "u=lisi"),
        "wmEDITCHANNEL": real.replace("c=xhs-diaper", "c=store-poster"),
        "wmNOMAC": real.rsplit("&s=", 1)[0],
        "wmOLDSHAPE": "c=xhs-diaper&u=lisi",
        "wmOTHERMAC": f"c=xhs-diaper&u=lisi&s={mac[::-1]}",
    }
    caplog.set_level(logging.WARNING, logger="handlers.kf")
    for external_userid, value in forged.items():
        deliver(bot, sandbox.state.kf_enter_session(KF, external_userid, value))
    worker.run(bot, burst=True)
    for external_userid in forged:
        lead = her(bot, external_userid)
        assert (lead.owner_userid, lead.channel_code) == ("", ""), external_userid
        assert sandbox.state.kf_said_to(external_userid)[0].startswith("你好呀，我是孕育小助手")
    warnings = [r.getMessage() for r in caplog.records if "scene_param" in r.getMessage()]
    assert len(warnings) == len(forged)
    secrets = (bot.settings.wecom.token.get_secret_value(), mac)
    assert not any(secret in w for w in warnings for secret in secrets)


def test_a_mother_first_seen_by_the_bot_is_assigned_by_the_rules(bot, sandbox):
    data = settings_data(bot)
    data["assign"] = [{"name": "机器人新客", "advisors": ["lisi", "zhangsan"]}]
    reconfigure(bot, data)
    chat(bot, sandbox, "wmFIRST", "你好")
    chat(bot, sandbox, "wmSECOND", "你好")
    worker.run(bot, burst=True)  # the relay queues the assignments; their advisors are told
    assert (her(bot, "wmFIRST").owner_userid, her(bot, "wmSECOND").owner_userid) == (
        "lisi", "zhangsan")  # fmt: skip
    told = [m.content for m in sandbox.state.messages if m.touser == "lisi"]
    assert (
        len(told) == 1
        and "新线索分配给你" in told[0]
        and f"编号 {her(bot, 'wmFIRST').id}" in told[0]
        and "机器人已把你的二维码发给她" in told[0]
    )
    # the bot gives her the advisor's own QR code; scanning it links her, no second person
    (invite,) = [m for m in sandbox.state.kf_said_to("wmFIRST") if "专属育儿顾问" in m]
    assert invite.startswith("已为你安排专属育儿顾问李顾问") and "https://wework.qpic.cn/" in invite
    lead = her(bot, "wmFIRST")
    follow = sandbox.state.befriend("lisi", "小满", f"lead:{lead.id}", external_userid="wmFIRST")
    deliver(bot, contact_event("add_external_contact", CORP_ID, "lisi", "wmFIRST",
                               follow.createtime, State=f"lead:{lead.id}",
                               WelcomeCode=follow.welcome_code))  # fmt: skip
    worker.run(bot, burst=True)
    linked = her(bot, "wmFIRST")
    assert (linked.id, linked.owner_userid, linked.added_at is not None) == (lead.id, "lisi", True)
    assert not [w for w in sandbox.state.contact_ways.values() if w["state"] == f"lead:{lead.id}"]


def test_bot_first_mothers_told_in_one_digest_each_get_the_advisors_qr_code(bot, sandbox):
    data = settings_data(bot)
    data["assign"] = [{"name": "机器人新客", "advisors": ["lisi"]}]
    reconfigure(bot, data)
    chat(bot, sandbox, "wmFIRST", "你好")  # he is told of her at once
    chat(bot, sandbox, "wmSECOND", "你好")  # these two wait: he was told just now
    chat(bot, sandbox, "wmTHIRD", "你好")
    assert len([m for m in sandbox.state.messages if m.touser == "lisi"]) == 1
    bot.clock.advance(assign.NOTICE_GAP)
    worker.run(bot, burst=True)
    told = [m.content for m in sandbox.state.messages if m.touser == "lisi"]
    assert len(told) == 2 and told[1].startswith("新分配给你 2 条线索")
    assert "其中 2 位先找机器人咨询过，机器人已把你的二维码发给她们" in told[1]
    for mother in ("wmSECOND", "wmTHIRD"):
        (invite,) = [m for m in sandbox.state.kf_said_to(mother) if "专属育儿顾问" in m]
        assert invite.startswith("已为你安排专属育儿顾问李顾问")
        assert "https://wework.qpic.cn/" in invite

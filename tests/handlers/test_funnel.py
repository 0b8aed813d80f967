"""Advisors moving a lead through the funnel from the app chat and with WeCom tags, each move
kept as a step — through the sandbox."""

import pytest

from bot import worker
from crm import leads
from crm.context import Context
from store import leads as steps
from store.db import session
from store.models import Contact
from tests.support import CORP_ID, deliver, new_lead, reconfigure, settings_data, staff_says
from wecom.sandbox.driver import contact_event


def says(runtime, sandbox, userid, text, msg_id):
    staff_says(runtime, userid, text, msg_id=msg_id)
    worker.run(runtime, burst=True)
    return sandbox.state.delivered_to(userid)[-1]


def lead(runtime, contact_id):
    with session(runtime.engine) as s:
        return s.get(Contact, contact_id), steps.history(s, contact_id)


def test_an_advisor_moves_her_lead_to_signed_with_the_amount(runtime, sandbox):
    contact = new_lead(runtime, sandbox)
    answer = says(runtime, sandbox, "zhangsan", f"有意向 {contact.id} 问了大包装", 1)
    assert answer == "已将客户「小雨」标为有意向（原为新线索）。"
    answer = says(runtime, sandbox, "zhangsan", f"签约{contact.id} 3,980元 年卡", 2)
    assert answer == "已将客户「小雨」标为已签约（原为有意向）。\n签约金额：3,980.00 元"
    moved, history = lead(runtime, contact.id)
    assert (moved.status, moved.signed_amount_cents) == ("signed", 398000)
    assert [(h.from_status, h.to_status, h.source, h.actor) for h in history] == [
        ("", "new", "wecom", "zhangsan"),
        ("new", "interested", "app", "zhangsan"),
        ("interested", "signed", "app", "zhangsan"),
    ]
    assert (history[1].note, history[2].note, history[2].amount_cents) == (
        "问了大包装", "年卡", 398000,
    )  # fmt: skip


def test_lost_needs_a_reason_from_the_list(runtime, sandbox):
    contact = new_lead(runtime, sandbox)
    answer = says(runtime, sandbox, "zhangsan", f"流失 {contact.id}", 1)
    assert answer.startswith("标记流失需要写明原因，可选：价格太高、已在别处购买")
    answer = says(runtime, sandbox, "zhangsan", f"流失 {contact.id} 太忙了", 2)
    assert answer.startswith("「太忙了」不是可选的流失原因")
    assert lead(runtime, contact.id)[0].status == "new"  # refused: nothing changed
    answer = says(runtime, sandbox, "zhangsan", f"流失 {contact.id} 价格高 嫌贵", 3)
    assert answer == "已将客户「小雨」标为已流失（原为新线索）。\n流失原因：价格太高"
    moved, history = lead(runtime, contact.id)
    assert (moved.status, moved.lost_reason) == ("lost", "价格太高")
    assert (history[-1].reason, history[-1].note) == ("价格太高", "嫌贵")
    assert says(runtime, sandbox, "zhangsan", "流失原因", 4).startswith("可选的流失原因：价格太高")


def test_only_her_advisor_or_a_manager_moves_her(runtime, sandbox):
    contact = new_lead(runtime, sandbox)
    answer = says(runtime, sandbox, "lisi", f"签约 {contact.id}", 1)
    assert answer == "客户「小雨」不是你负责的，不能替别人更改状态。"
    data = settings_data(runtime)
    data["report"]["managers"] = ["lisi"]
    reconfigure(runtime, data)
    assert says(runtime, sandbox, "lisi", f"签约 {contact.id}", 2).startswith(
        "已将客户「小雨」标为已签约"
    )
    assert lead(runtime, contact.id)[1][-1].actor == "lisi"
    assert says(runtime, sandbox, "lisi", "签约 99999", 3).startswith("没找到这位客户")


def test_typos_get_a_suggestion_and_repeats_change_nothing(runtime, sandbox):
    contact = new_lead(runtime, sandbox)
    assert says(runtime, sandbox, "zhangsan", f"签 {contact.id}", 1).startswith(
        "没看懂「签」，你是不是想说「签约」？"
    )
    says(runtime, sandbox, "zhangsan", f"有意向 {contact.id}", 2)
    assert says(runtime, sandbox, "zhangsan", f"有意向 {contact.id}", 3) == (
        "客户「小雨」本来就是有意向，没有改动。"
    )
    assert len(lead(runtime, contact.id)[1]) == 2
    assert says(runtime, sandbox, "zhangsan", f"签约 {contact.id} 三千九百八", 4).endswith(
        "签约金额：3,980.00 元"
    )
    assert says(runtime, sandbox, "zhangsan", f"签约 {contact.id} 3980块钱", 5) == (
        "「3980块钱」不是金额，请写数字，例如：3980"
    )
    assert says(runtime, sandbox, "zhangsan", f"签约 {contact.id} 一次性付清", 6) == (
        "客户「小雨」本来就是已签约，没有改动。"  # words, not an amount
    )


def test_a_mapped_wecom_tag_moves_her(runtime, sandbox, clock):
    data = settings_data(runtime)
    data["leads"] = {"tag_status": {"已成交": "已签约"}}
    reconfigure(runtime, data)
    contact = new_lead(runtime, sandbox)
    sandbox.state.tag_in_console("zhangsan", contact.external_userid, "客户状态", "已成交")
    edited = contact_event("edit_external_contact", CORP_ID, "zhangsan", contact.external_userid,
                           int(clock.now().timestamp()) + 60)  # fmt: skip
    deliver(runtime, edited)
    worker.run(runtime, burst=True)
    moved, history = lead(runtime, contact.id)
    assert moved.status == "signed"
    assert (history[-1].source, history[-1].note, history[-1].actor) == (
        "tag", "标签「已成交」", "zhangsan",
    )  # fmt: skip


def test_she_deleting_her_advisor_is_lost_and_coming_back_a_new_lead(runtime, sandbox, clock):
    contact = new_lead(runtime, sandbox)
    left = contact_event("del_follow_user", CORP_ID, "zhangsan", contact.external_userid,
                         int(clock.now().timestamp()) + 60)  # fmt: skip
    deliver(runtime, left)
    worker.run(runtime, burst=True)
    moved, history = lead(runtime, contact.id)
    assert (moved.status, moved.lost_reason) == ("lost", "客户删除")
    assert (history[-1].source, history[-1].reason) == ("wecom", "客户删除")
    back = contact_event("add_external_contact", CORP_ID, "zhangsan", contact.external_userid,
                         int(clock.now().timestamp()) + 120, State="xhs-diaper")  # fmt: skip
    deliver(runtime, back)
    worker.run(runtime, burst=True)
    moved, history = lead(runtime, contact.id)
    assert (moved.status, moved.lost_reason) == ("new", None)
    assert (history[-1].from_status, history[-1].to_status, history[-1].note) == (
        "lost", "new", "重新添加",
    )  # fmt: skip


def test_an_advisors_reason_stays_when_she_deletes_him_later(runtime, sandbox, clock):
    contact = new_lead(runtime, sandbox)
    says(runtime, sandbox, "zhangsan", f"流失 {contact.id} 选了其他品牌", 1)
    left = contact_event("del_follow_user", CORP_ID, "zhangsan", contact.external_userid,
                         int(clock.now().timestamp()) + 60)  # fmt: skip
    deliver(runtime, left)
    worker.run(runtime, burst=True)
    moved, history = lead(runtime, contact.id)
    assert (moved.lost_reason, len(history)) == ("选了其他品牌", 2)


@pytest.mark.parametrize(
    ("written", "fen"),
    [("3980", 398000), ("¥3980.5", 398050), ("3,980元", 398000), ("三千九百八十", 398000),
     ("0", 0)],
)  # fmt: skip
def test_amounts_as_advisors_write_them(written, fen):
    assert leads.amount_cents(written) == fen


@pytest.mark.parametrize("written", ["abc", "-5", "1e12", "NaN"])
def test_what_is_no_amount_is_refused(written):
    with pytest.raises(leads.Refused):
        leads.amount_cents(written)


def test_a_tag_status_must_be_a_status(runtime):
    data = settings_data(runtime)
    data["leads"] = {"tag_status": {"成交": "成交了"}}
    with pytest.raises(Exception, match="no lead status"):
        reconfigure(runtime, data)


def test_reasons_are_matched_to_the_list(runtime):
    with runtime.context() as ctx:
        assert isinstance(ctx, Context)
        assert leads.lost_reason(ctx, "其他品牌") == "选了其他品牌"
        with pytest.raises(leads.Refused):
            leads.lost_reason(ctx, "")

"""A brand's existing customers come along on day one: `mombot contacts sync` records every one
as a baseline (owners, tags, remark, add time, channel) with the fewest WeCom calls, welcomes
nobody and starts no SOP; a mother mombot meets first through the bot is looked up."""

import pytest
from sqlmodel import func, select

from bot import worker
from crm import customers
from store import contacts
from store.models import Contact, ContactFollow, ContactTag, Delivery, SopTask
from tests.support import deliver, reconfigure, settings_data
from wecom.client import WeComBusy

USERS = ("zhangsan", "lisi", "wangwu")  # the sandbox's advisors


def sync(runtime, **options):
    with runtime.context() as ctx:
        return customers.sync(ctx, **options)


def count(runtime, model, *where):
    with runtime.context() as ctx:
        return ctx.session.exec(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def corp(sandbox):
    """2,500 customers over 3 advisors; 50 of them follow two advisors."""
    state = sandbox.state
    created = state.add_corp_tags({"group_name": "客户等级", "tag": [{"name": "老客户"}]})
    vip = created["tag_group"]["tag"][0]["id"]
    state.add_existing_customers("zhangsan", 1200, state="store-poster", tag_ids=[vip])
    state.add_existing_customers("lisi", 1000, prefix="wmL")
    state.add_existing_customers("wangwu", 300, prefix="wmW")
    state.add_existing_customers("lisi", 50, since_days=10)  # zhangsan's first 50 add lisi too
    return state


def test_every_existing_customer_is_recorded_with_her_owner_and_nobody_is_welcomed(runtime, corp):
    report = sync(runtime)
    assert (report.advisors, report.new, report.failed) == (3, 2500, 0)
    assert report.entries == 2550  # one entry per (customer, advisor)
    assert count(runtime, Contact) == 2500
    assert count(runtime, ContactFollow) == 2550
    with runtime.context() as ctx:
        first = contacts.get(ctx.session, "wmOLD0000000000")
        assert (first.owner_userid, first.channel_code, first.name) == (
            "zhangsan", "store-poster", "老客0")  # fmt: skip
        assert first.added_at is not None and first.status == "new"
        assert contacts.get(ctx.session, "wmW0000000299").owner_userid == "wangwu"
    assert count(runtime, ContactTag, ContactTag.name == "老客户") == 1200
    # nobody welcomed, nobody told, no SOP started
    assert corp.welcomes == [] and corp.messages == []
    assert count(runtime, SopTask) == 0 and count(runtime, Delivery) == 0
    # the fewest calls the paging allows: 3 members in one batch, 100 customers a page
    assert len(corp.calls_to("externalcontact/get_follow_user_list")) == 1
    assert len(corp.calls_to("externalcontact/batch/get_by_user")) == 26  # ⌈2550 / 100⌉


def test_a_second_sync_changes_nothing(runtime, corp):
    sync(runtime)
    again = sync(runtime)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2550)
    corp.contacts["wmL0000000007"].name = "改了名字"
    assert sync(runtime).updated == 1


def test_an_interrupted_sync_goes_on_from_where_it_stopped(runtime, corp):
    progress = []
    corp.calls.clear()

    def stop_after_ten_pages(n):
        progress.append(n)
        if len(progress) == 10:
            corp.fail_next("externalcontact/batch/get_by_user", -1, times=4)  # busy, 4 tries

    with pytest.raises(WeComBusy):
        sync(runtime, progress=stop_after_ten_pages)
    resumed = sync(runtime)
    assert resumed.resumed and (resumed.new, resumed.entries) == (2500, 2550)
    pages = corp.calls_to("externalcontact/batch/get_by_user", ok=True)
    assert len(pages) == 26  # no page read twice
    assert sync(runtime).resumed is False  # finished: the next run starts afresh


def test_an_existing_customer_who_tells_the_bot_her_due_date_gets_her_stage_tag(runtime, corp):
    data = settings_data(runtime)
    data["wecom"]["kf_open_kfid"] = "wkBOT"
    reconfigure(runtime, data)
    (mother,) = corp.add_existing_customers("zhangsan", 1, prefix="wmBOT")
    for text in ("预产期是明年3月15号", "对"):
        deliver(runtime, corp.kf_customer_says("wkBOT", mother, text))
        worker.run(runtime, burst=True)
    with runtime.context() as ctx:
        her = contacts.get(ctx.session, mother)
        assert (her.owner_userid, her.stage) == ("zhangsan", "孕中期")
    assert "孕中期" in corp.tag_names("zhangsan", mother)
    assert corp.welcomes == []

"""The welcome is never hostage to an optional part: the bot link, an attachment's upload or
the advisor's name may fail, and the welcome still goes out inside WeCom's 20 s with what there
is, the failure a warning on the callback."""

import time

import pytest

from bot import worker
from store import inbox
from tests.support import CHANNELS, added, deliver, reconfigure, settings_data


def configure(runtime, **wecom):
    data = settings_data(runtime)
    data["wecom"] |= wecom
    reconfigure(runtime, data)


def the_only_callback(runtime):
    with runtime.context() as ctx:
        (row,) = inbox.listing(ctx.session)
    return row


def link_titles(welcome):
    return [a["link"]["title"] for a in welcome.attachments if a["msgtype"] == "link"]


@pytest.mark.parametrize(
    "fault",
    [
        lambda state: state.fail_next("kf/add_contact_way", 95000),  # the account isn't granted
        lambda state: state.answer_next("kf/add_contact_way", {}),  # an answer without a url
    ],
    ids=["refused", "no url"],
)
def test_the_bot_link_failing_leaves_the_welcome_without_it(runtime, sandbox, fault):
    configure(runtime, kf_open_kfid="wkBOT")
    fault(sandbox.state)
    _follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    (welcome,) = sandbox.state.welcomes
    assert welcome.text == "你好小雨，我是张顾问，纸尿裤试用装已为你预留。"
    assert link_titles(welcome) == ["试用装领取"]  # the channel's own link, not the bot's
    row = the_only_callback(runtime)
    assert row.status == "done" and "link to the welcome bot" in row.warning


def test_a_hanging_bot_link_is_given_up_inside_the_window(runtime, sandbox, clock):
    configure(runtime, kf_open_kfid="wkBOT")
    gate = sandbox.state.hold("kf/add_contact_way")
    _follow, fields = added(sandbox.state)
    fields["CreateTime"] = int(clock.now().timestamp()) - 13  # 7 s of the window left
    deliver(runtime, fields)
    started = time.monotonic()
    try:
        worker.run(runtime, burst=True)
    finally:
        gate.set()
    assert time.monotonic() - started < 7  # the optional part had 7 - 5 s, not its 10 s timeout
    (welcome,) = sandbox.state.welcomes
    assert link_titles(welcome) == ["试用装领取"]
    assert "link to the welcome bot" in the_only_callback(runtime).warning


def test_an_advisor_whose_name_wecom_will_not_tell_is_never_a_userid(runtime, sandbox):
    sandbox.state.fail_next("user/get", 60111)  # userid not found
    _follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    (welcome,) = sandbox.state.welcomes
    assert welcome.text == "你好小雨，我是你的专属顾问，纸尿裤试用装已为你预留。"
    assert "zhangsan" not in welcome.text
    assert "name unknown" in the_only_callback(runtime).warning


def test_an_image_that_cannot_be_uploaded_is_left_out(runtime, sandbox, tmp_path):
    image = tmp_path / "gift.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    data = settings_data(runtime)
    data["channels"] = [{**CHANNELS[0], "attachments": [
        *CHANNELS[0]["attachments"], {"type": "image", "path": str(image)},
        {"type": "image", "path": str(tmp_path / "missing.png")},
    ]}, *CHANNELS[1:]]  # fmt: skip
    reconfigure(runtime, data)
    sandbox.state.fail_next("media/upload", 40004)  # invalid media file
    _follow, fields = added(sandbox.state)
    deliver(runtime, fields)
    worker.run(runtime, burst=True)
    (welcome,) = sandbox.state.welcomes
    assert [a["msgtype"] for a in welcome.attachments] == ["link"]
    warning = the_only_callback(runtime).warning
    assert warning.count("image attachment") == 2 and "missing.png" in warning

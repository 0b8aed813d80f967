"""Handling callbacks from the queue: exactly once, retried with backoff, never lost."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rq import Queue

from bot import heartbeat, relay, worker
from bot.jobs import enqueue_inbound
from crm.config import write as write_config
from crm.context import INBOUND, REALTIME
from store import contacts, inbox
from store.db import session
from store.models import InboundEvent
from tests.support import CORP_ID, added, deliver, settings_data
from wecom.sandbox.driver import contact_event


def row(runtime, row_id) -> InboundEvent:
    with session(runtime.engine) as s:
        return s.get(InboundEvent, row_id)


def test_add_event_creates_the_contact_with_her_profile(runtime, sandbox):
    follow, fields = added(sandbox.state)
    stored = deliver(runtime, fields)
    assert worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        contact = contacts.get(s, follow.external_userid)
    assert (contact.name, contact.owner_userid, contact.channel_code, contact.status) == (
        "小雨",
        "zhangsan",
        "xhs-diaper",
        "new",
    )
    assert contact.gender == 2
    assert row(runtime, stored.id).status == "done"


def test_a_job_delivered_twice_is_handled_once(runtime, sandbox):
    _, fields = added(sandbox.state)
    stored = deliver(runtime, fields)
    enqueue_inbound(runtime, [(stored.id, "second-copy")])
    worker.run(runtime, burst=True)
    assert len(sandbox.state.calls_to("externalcontact/get")) == 1
    assert row(runtime, stored.id).attempts == 1


def test_two_mothers_same_advisor_same_second(runtime, sandbox):
    a, fields_a = added(sandbox.state, "小雨")
    b, fields_b = added(sandbox.state, "阿敏")
    fields_b["CreateTime"] = fields_a["CreateTime"]
    deliver(runtime, fields_a)
    deliver(runtime, fields_b)
    worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        names = {contacts.get(s, f.external_userid).name for f in (a, b)}
    assert names == {"小雨", "阿敏"}


def test_failing_handler_backs_off_then_fails_visibly(runtime, sandbox, clock):
    _, fields = added(sandbox.state)
    sandbox.state.fail_next("externalcontact/get", -1, times=1000)
    stored = deliver(runtime, fields)
    delays = []
    for _ in range(runtime.settings.worker.max_attempts):
        worker.run(runtime, burst=True)
        current = row(runtime, stored.id)
        if current.status == "failed":
            break
        assert current.status == "retry" and "-1" in current.last_error
        delays.append((current.next_attempt_at - clock.now()).total_seconds())
        assert relay.relay_once(runtime) == 0  # not due yet
        clock.set(current.next_attempt_at)
        assert relay.relay_once(runtime) == 1
    assert delays == [5.0, 20.0, 80.0, 320.0, 1280.0]
    failed = row(runtime, stored.id)
    assert failed.status == "failed" and failed.attempts == runtime.settings.worker.max_attempts
    assert "WeComBusy" in failed.last_error
    with session(runtime.engine) as s:  # the contact row is rolled back with the failure
        assert contacts.count_by_channel(s) == {}
    # an operator gives it another go once WeCom is well again
    sandbox.state.clear_faults()
    with session(runtime.engine) as s:
        assert inbox.reopen(s, stored.id)
    relay.relay_once(runtime)
    worker.run(runtime, burst=True)
    assert row(runtime, stored.id).status == "done"


def test_a_failure_that_cannot_pass_fails_at_once_with_its_reason(runtime, sandbox):
    _, fields = added(sandbox.state)
    # an answer of the wrong shape: trying again in 5 s, 20 s, … would meet the same answer
    sandbox.state.answer_next("externalcontact/get", {"external_contact": "not an object"})
    sandbox.state.answer_next("externalcontact/get", {"external_contact": "not an object"})
    stored = deliver(runtime, fields)
    worker.run(runtime, burst=True)
    failed = row(runtime, stored.id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error.startswith("AttributeError")
    assert relay.relay_once(runtime) == 0  # nothing comes back by itself


def test_an_unreadable_signed_event_fails_at_once(runtime):
    stored = deliver(runtime, {"MsgType": "event", "Event": "change_external_contact"})
    with session(runtime.engine) as s:  # what parsed at the door no longer reads
        s.get(InboundEvent, stored.id).payload = "<xml><MsgType>event"
        s.commit()
    worker.run(runtime, burst=True)
    failed = row(runtime, stored.id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error.startswith("unreadable")


def test_permanent_wecom_error_keeps_the_contact(runtime, sandbox):
    fields = contact_event(
        "add_external_contact", CORP_ID, "zhangsan", "wmGone", 1700000000, State="c1"
    )
    deliver(runtime, fields)  # the sandbox does not know wmGone: 84061
    worker.run(runtime, burst=True)
    with session(runtime.engine) as s:
        contact = contacts.get(s, "wmGone")
    assert contact.name == "" and contact.channel_code == "c1"


def test_token_invalidated_mid_flow(runtime, sandbox):
    _, first = added(sandbox.state, "一号")
    deliver(runtime, first)
    worker.run(runtime, burst=True)
    sandbox.state.invalidate_tokens()
    _, second = added(sandbox.state, "二号")
    deliver(runtime, second)
    worker.run(runtime, burst=True)
    assert len(sandbox.state.calls_to("gettoken")) == 2
    with session(runtime.engine) as s:
        assert contacts.count_by_channel(s) == {"xhs-diaper": 2}


def test_unknown_events_are_kept_and_logged(runtime, caplog):
    stored = deliver(
        runtime,
        {
            "ToUserName": CORP_ID,
            "FromUserName": "sys",
            "CreateTime": 1,
            "MsgType": "event",
            "Event": "something_new",
            "Foo": "bar",
        },
    )
    worker.run(runtime, burst=True)
    current = row(runtime, stored.id)
    assert current.status == "unhandled" and "<Foo><![CDATA[bar]]></Foo>" in current.payload
    assert "event/something_new: no handler, kept as unhandled" in caplog.text


def test_redis_down_then_up_loses_nothing(runtime, sandbox, redis_server):
    _, fields = added(sandbox.state)
    redis_server.stop()
    try:
        stored = deliver(runtime, fields)
        assert row(runtime, stored.id).status == "received"
        with pytest.raises(Exception):  # noqa: B017 - any Redis error: the relay cannot work now
            relay.relay_once(runtime)
    finally:
        redis_server.start()
    assert relay.relay_once(runtime) == 1
    worker.run(runtime, burst=True)
    assert row(runtime, stored.id).status == "done"


@pytest.mark.parametrize(
    "held",
    [
        "externalcontact/get",  # in the deadline part (her name): the row waits under its job
        "externalcontact/mark_tag",  # in the rest: the row is held with a lease
    ],
)
def test_a_worker_killed_mid_job_causes_no_loss_and_no_duplicate(
    runtime, sandbox, clock, tmp_path, held
):
    clock.set(datetime.now(clock.tz))  # the worker runs on real time: her window is open
    follow, fields = added(sandbox.state)
    gate = sandbox.state.hold(held)
    settings = settings_data(runtime)
    settings["worker"]["lease_seconds"] = 120
    config = write_config(tmp_path / "worker.toml", settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "worker"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stored = deliver(runtime, fields)
        deadline = time.monotonic() + 30
        # until it is blocked inside the handler, at the held call
        while not sandbox.state.calls_to(held):
            assert time.monotonic() < deadline, "the worker never picked the job up"
            time.sleep(0.05)  # waiting for another process, not for time to pass
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        while _group_alive(process.pid):  # its forked copy dies too
            assert time.monotonic() < deadline, "the worker's copies outlived it"
            time.sleep(0.05)  # waiting for another process, not for time to pass
        # and until Redis has let go of its idle slots' waits for a job: one it had not yet
        # seen closed would be handed the job the relay queues again (test_faults_serve has that)
        while runtime.redis.info("clients")["blocked_clients"]:
            assert time.monotonic() < deadline, "Redis kept the dead worker's clients"
            time.sleep(0.05)  # waiting for another process, not for time to pass
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    gate.set()
    waiting = row(runtime, stored.id)
    assert waiting.status == ("queued" if held == "externalcontact/get" else "processing")
    clock.set((waiting.lease_until or clock.now()) + timedelta(seconds=1))
    runtime.redis.delete(relay.LOCK_NAME)  # as if its time passed, had it died in a pass
    # the dead worker's job goes back on its queue; a row whose lease ran out is queued again
    assert relay.relay_once(runtime) == (held == "externalcontact/mark_tag")
    assert Queue(REALTIME if held == "externalcontact/get" else INBOUND,
                 connection=runtime.redis).count == 1  # fmt: skip
    worker.run(runtime, burst=True)
    done = row(runtime, stored.id)
    assert done.status == "done" and done.attempts == waiting.attempts + 1
    with session(runtime.engine) as s:
        assert contacts.get(s, follow.external_userid).name == "小雨"
        assert contacts.count_by_channel(s) == {"xhs-diaper": 1}
    assert len(sandbox.state.welcomes) <= 1  # at most once; the held get may have cost it


def _group_alive(group: int) -> bool:
    """Whether a process of the group still runs (zombies do not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _parent, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:
            continue
        if int(pgrp) == group and state != "Z":
            return True
    return False


def start_worker(runtime, tmp_path) -> tuple[subprocess.Popen, Path]:
    """`mombot worker` as a real process on the test's settings; its output goes to the log."""
    config = write_config(tmp_path / "worker.toml", settings_data(runtime))
    log = tmp_path / "worker.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), "worker"],
            start_new_session=True, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return process, log


def test_a_worker_outlives_redis_going_away(runtime, sandbox, redis_server, tmp_path):
    process, log = start_worker(runtime, tmp_path)

    def until(check, what):
        deadline = time.monotonic() + 60
        while not check():
            assert process.poll() is None, f"the worker exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"{what}:\n{log.read_text()}"
            time.sleep(0.05)  # waiting for another process, not for time to pass

    try:
        until(lambda: heartbeat.alive(runtime.redis), "no heartbeat")
        _, first = added(sandbox.state, "小雨")
        stored_first = deliver(runtime, first)
        until(lambda: row(runtime, stored_first.id).status == "done", "first event not handled")
        redis_server.stop()
        until(lambda: "Connection refused" in log.read_text(), "nobody noticed")
        _, second = added(sandbox.state, "阿敏")
        stored_second = deliver(runtime, second)  # stored; queued by the relay later
        assert row(runtime, stored_second.id).status == "received"
        redis_server.start()
        until(lambda: row(runtime, stored_second.id).status == "done", "second event not handled")
        until(lambda: heartbeat.alive(runtime.redis), "no heartbeat after Redis came back")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def test_a_worker_stops_on_sigterm_while_redis_is_gone(runtime, redis_server, tmp_path):
    process, log = start_worker(runtime, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not heartbeat.alive(runtime.redis):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)  # waiting for another process, not for time to pass
        redis_server.stop()
        while "Connection refused" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()  # no job in hand: it stops at once
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        redis_server.start()

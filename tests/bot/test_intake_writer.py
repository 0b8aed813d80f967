"""The intake API's writer: the leads of requests that wait together are written together,
each request keeping its own answer, and one request's fault stays its own."""

import asyncio
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import func, select

from bot.intake import IntakeWriter
from crm.intake import Request
from handlers.intake import Sent, post_leads, read
from store import db
from store.models import Contact, LeadIntake


def sent(runtime, body: dict, key: str | None = None) -> Sent:
    today = runtime.clock.now().astimezone(runtime.settings.tz).date()
    found = read(json.dumps(body).encode(), key, runtime.settings, today)
    assert isinstance(found, Sent)
    return found


def counts(runtime) -> tuple[int, int]:
    with db.session(runtime.engine) as s:
        people = s.exec(select(func.count()).select_from(Contact)).one()
        intakes = s.exec(select(func.count()).select_from(LeadIntake)).one()
        return people, intakes


def test_a_batch_answers_each_request_as_if_it_came_alone(runtime):
    commits = []
    event.listen(runtime.engine, "commit", lambda connection: commits.append(1))
    with runtime.context() as ctx:
        post_leads([sent(runtime, {"name": "老客户", "phone": "13900000000"}, "old")], ctx)
    commits.clear()
    batch = [
        sent(runtime, {"name": "王芳", "phone": "13812345678", "city": "上海"}, "a"),
        sent(runtime, {"name": "王芳", "phone": "138 1234 5678", "city": "北京"}, "b"),
        sent(runtime, {"name": "王芳", "phone": "13812345678", "city": "上海"}, "a"),
        sent(runtime, {"name": "李娜", "phone": "13700000000"}, "a"),
        sent(runtime, {"name": "老客户", "phone": "13900000000"}, "old"),
        sent(runtime, {"name": "老客户", "phone": "13900000000"}, "old-again"),
        sent(runtime, {"name": "赵敏", "phone": "12345"}, "bad"),
        sent(runtime, {"name": "赵敏", "phone": "13600000000"}),
    ]
    with runtime.context() as ctx:
        replies = post_leads(batch, ctx)
    statuses = [reply.status for reply in replies]
    assert statuses == [201, 200, 201, 422, 201, 200, 400, 201]
    her = replies[0].body["id"]
    assert replies[1].body == {"id": her, "result": "merged",
                               "conflicts": {"city": ["上海", "北京"]}}  # fmt: skip
    assert replies[2].body == {"id": her, "result": "created", "replayed": True}
    assert replies[4].body["replayed"] and replies[5].body["result"] == "merged"
    assert set(replies[6].body["fields"]) == {"phone"}
    assert counts(runtime) == (3, 5)  # 王芳 (twice), 老客户 (twice), 赵敏
    assert len(commits) == 1  # one transaction; a key used twice in it answers from the first


async def test_leads_arriving_while_a_batch_is_written_go_together_in_the_next(runtime):
    gate, sizes = threading.Event(), []

    def write(batch, ctx):
        sizes.append(len(batch))
        assert gate.wait(10)
        return post_leads(batch, ctx)

    writer = IntakeWriter(runtime, write)
    first = asyncio.create_task(writer.submit(sent(runtime, {"phone": "13800000000"}, "k0")))
    for _ in range(500):  # the writer thread has taken the first request alone
        if sizes:
            break
        await asyncio.sleep(0.01)
    others = [asyncio.create_task(writer.submit(sent(runtime, {"phone": f"1380000000{n}"},
                                                     f"k{n}")))
              for n in range(1, 8)]  # fmt: skip
    await asyncio.sleep(0)  # each has handed its lead over
    gate.set()
    replies = await asyncio.gather(first, *others)
    assert sizes == [1, 7]
    assert [reply.status for reply in replies] == [201] * 8
    assert len({reply.body["id"] for reply in replies}) == 8
    await writer.stop()


async def test_a_lead_the_database_refuses_fails_alone(runtime):
    """(A request whose row breaks a constraint: the HTTP side cannot send one.)"""
    writer = IntakeWriter(runtime)
    good = [sent(runtime, {"phone": f"1370000000{n}"}, f"g{n}") for n in range(3)]
    broken = sent(runtime, {"phone": "13600000000"}, "broken")
    broken = Sent(Request(broken.request.key, None), broken.lead)  # type: ignore[arg-type]
    results = await asyncio.gather(*(writer.submit(s) for s in [good[0], broken, *good[1:]]),
                                   return_exceptions=True)  # fmt: skip
    assert isinstance(results[1], Exception)
    assert "parameters hidden" in str(results[1])  # logged by the server: not what she sent
    assert [r.status for r in results if not isinstance(r, Exception)] == [201, 201, 201]
    assert counts(runtime) == (3, 3)
    await writer.stop()


async def test_a_writer_that_cannot_take_its_turn_fails_its_requests_and_the_next_starts_afresh(
    runtime,
):
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("the serve processes take turns by a lock file on SQLite only")
    lock = Path(f"{runtime.engine.url.database}.intake.lock")
    lock.unlink(missing_ok=True)
    lock.mkdir()  # a lock file that cannot be opened
    writer = IntakeWriter(runtime)
    with pytest.raises(OSError):
        await writer.submit(sent(runtime, {"phone": "13800000000"}, "k1"))
    lock.rmdir()
    reply = await asyncio.wait_for(writer.submit(sent(runtime, {"phone": "13800000000"}, "k1")),
                                   30)  # fmt: skip
    assert reply.status == 201 and counts(runtime) == (1, 1)
    await writer.stop()

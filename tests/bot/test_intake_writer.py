"""The intake API's writer: the leads of requests that wait together are written together,
each request keeping its own answer, and one request's fault stays its own."""

import asyncio
import json
import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import func, select

from bot.intake import IntakeWriter
from crm.intake import Request
from handlers.intake import Reply, Sent, post_leads, read
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
    before = [sent(runtime, {"name": "老客户", "phone": "13900000000"}, "old"),
              sent(runtime, {"name": "李娜", "phone": "13700000000"}, "other")]  # fmt: skip
    with runtime.context() as ctx:
        post_leads(before, ctx)
    commits.clear()
    batch = [
        sent(runtime, {"name": "王芳", "phone": "13812345678", "city": "上海"}, "a"),
        sent(runtime, {"name": "王芳", "phone": "138 1234 5678", "city": "北京"}, "b"),
        sent(runtime, {"name": "老客户", "phone": "13900000000"}, "old"),
        sent(runtime, {"name": "赵敏", "phone": "13600000000"}, "other"),
        sent(runtime, {"name": "老客户", "phone": "13900000000"}, "old-again"),
        sent(runtime, {"name": "赵敏", "phone": "12345"}, "bad"),
        sent(runtime, {"name": "赵敏", "phone": "13600000000"}),
    ]
    with runtime.context() as ctx:
        replies = post_leads(batch, ctx)
    assert [reply.status for reply in replies] == [201, 200, 201, 422, 200, 400, 201]
    her = replies[0].body["id"]
    assert replies[1].body == {"id": her, "result": "merged",
                               "conflicts": {"city": ["上海", "北京"]}}  # fmt: skip
    assert replies[2].body["replayed"] and replies[4].body["result"] == "merged"
    assert set(replies[5].body["fields"]) == {"phone"}
    assert counts(runtime) == (4, 6)  # 老客户 (twice), 李娜, 王芳 (twice), 赵敏
    assert len(commits) == 1
    with runtime.context() as ctx, pytest.raises(ValueError):
        post_leads([batch[0], batch[0]], ctx)


def test_an_invalid_lead_sent_without_a_key_is_answered_before_the_writer(runtime):
    reply = read(b'{"phone": "12345"}', None, runtime.settings, date(2026, 11, 24))
    assert isinstance(reply, Reply) and reply.status == 400
    assert isinstance(read(b'{"phone": "12345"}', "k", runtime.settings, date(2026, 11, 24)), Sent)


class Held:
    """post_leads held until `gate` is set; the size of each batch it was given."""

    def __init__(self) -> None:
        self.gate, self.sizes = threading.Event(), []

    def __call__(self, batch, ctx):
        self.sizes.append(len(batch))
        assert self.gate.wait(10)
        return post_leads(batch, ctx)

    async def taken(self) -> None:
        """Until the writer thread has taken its first batch."""
        for _ in range(1000):
            if self.sizes:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the writer took nothing")


async def test_leads_arriving_while_a_batch_is_written_go_together_in_the_next(runtime):
    post = Held()
    writer = IntakeWriter(runtime, post)
    first = asyncio.create_task(writer.submit(sent(runtime, {"phone": "13800000000"}, "k0")))
    await post.taken()
    bodies = [({"phone": f"1380000000{n}"}, f"k{n}") for n in range(1, 7)]
    bodies.append(bodies[0])  # a retry of k1 before its first answer
    others = [asyncio.create_task(writer.submit(sent(runtime, *body))) for body in bodies]
    await asyncio.sleep(0)  # each has handed its lead over
    post.gate.set()
    replies = await asyncio.gather(first, *others)
    assert post.sizes == [1, 6, 1]  # the retry waits for its first answer
    assert [reply.status for reply in replies] == [201] * 8
    assert replies[-1].body == {**replies[1].body, "replayed": True}
    assert len({reply.body["id"] for reply in replies}) == 7
    await writer.stop()


async def test_a_lead_the_database_refuses_fails_alone(runtime, caplog):
    """(A request whose row breaks a constraint: the HTTP side cannot send one.)"""
    post = Held()
    writer = IntakeWriter(runtime, post)
    first = asyncio.create_task(writer.submit(sent(runtime, {"phone": "13500000000"}, "first")))
    await post.taken()
    good = [sent(runtime, {"phone": f"1370000000{n}"}, f"g{n}") for n in range(3)]
    broken = sent(runtime, {"phone": "13600000000"}, "broken")
    broken = Sent(Request(broken.request.key, None), broken.lead)  # type: ignore[arg-type]
    together = [asyncio.ensure_future(writer.submit(s)) for s in [good[0], broken, *good[1:]]]
    await asyncio.sleep(0)
    post.gate.set()
    results = await asyncio.gather(first, *together, return_exceptions=True)
    assert post.sizes[:2] == [1, 4] and "4 leads could not be written together" in caplog.text
    assert isinstance(results[2], Exception)
    assert "parameters hidden" in str(results[2])  # logged by the server: not what she sent
    assert [r.status for r in results if not isinstance(r, Exception)] == [201] * 4
    assert counts(runtime) == (4, 4)
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

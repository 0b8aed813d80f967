"""The durable inbox on SQLite and on a real PostgreSQL server."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import SQLModel

from store import contacts, db, inbox
from store.db import MIGRATIONS, make_engine, session, upgrade
from store.inbox import NewEvent
from store.models import InboxStatus


def new(key: str) -> NewEvent:
    return NewEvent(key, "event", "change_external_contact", "add_external_contact", "<xml/>")


def test_migrations_build_exactly_the_models_and_rerun(engine):
    upgrade(engine)  # a second run is a no-op
    assert {"inbound_events", "contacts", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )
    with engine.connect() as connection:
        only_here = {"include_object": db.made_here(connection.dialect.name)}
        context = MigrationContext.configure(connection, opts=only_here)
        assert compare_metadata(context, SQLModel.metadata) == []


def test_the_newest_migration_by_its_file_name_is_alembics_head(engine):
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == db.head()
    assert db.at_head(engine)
    with engine.begin() as connection:  # an older schema is upgraded, not taken for current
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
    assert not db.at_head(engine) and "orders" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert db.at_head(engine) and "orders" in inspect(engine).get_table_names()


def test_store_once_per_key(engine, clock):
    now = clock.now()
    with engine.begin() as c:
        first = inbox.store_events(c, [new("a"), new("b"), new("a")], now, ["j1", "j2", "j3"])
    assert [(s.new, s.job_id) for s in first] == [(True, "j1"), (True, "j2"), (False, None)]
    assert first[2].id == first[0].id
    with engine.begin() as c:
        again = inbox.store_events(c, [new("b")], now, ["j4"])
    assert not again[0].new and again[0].id == first[1].id
    with engine.connect() as c:
        assert inbox.counts_by_status(c) == {"queued": 2}


def test_claim_is_exclusive_until_the_lease_runs_out(engine, clock):
    with engine.begin() as c:
        (stored,) = inbox.store_events(c, [new("k")], clock.now(), ["j"])
    lease = timedelta(seconds=300)
    with session(engine) as s1, session(engine) as s2:
        row = inbox.claim(s1, stored.id, clock.now(), lease)
        assert row is not None and row.attempts == 1 and row.status == InboxStatus.PROCESSING
        assert inbox.claim(s2, stored.id, clock.now(), lease) is None
        clock.advance(seconds=301)
        again = inbox.claim(s2, stored.id, clock.now(), lease)
        assert again is not None and again.attempts == 2
        inbox.finish(s2, stored.id, InboxStatus.DONE, clock.now())
        s2.commit()
        assert inbox.claim(s1, stored.id, clock.now() + lease * 10, lease) is None


def test_relay_selection(engine, clock):
    now = clock.now()
    with engine.begin() as c:
        rows = inbox.store_events(c, [new(k) for k in "abcde"], now, list("12345"))
    a, b, c_, d, e = (r.id for r in rows)
    with engine.begin() as c:
        inbox.unqueue(c, [a])  # Redis was down
    with session(engine) as s:
        inbox.claim(s, b, now, timedelta(seconds=60))  # worker died holding it
        inbox.claim(s, c_, now, timedelta(seconds=60))
        inbox.retry_later(s, c_, "boom", now + timedelta(seconds=30), now)
        inbox.claim(s, e, now, timedelta(seconds=60))
        inbox.finish(s, e, InboxStatus.DONE, now)
        s.commit()
    requeue_after = timedelta(seconds=120)
    with engine.connect() as c:
        assert [r[0] for r in inbox.due_for_relay(c, now, requeue_after)] == [a]
        later = now + timedelta(seconds=61)
        assert [r[0] for r in inbox.due_for_relay(c, later, requeue_after)] == [a, b, c_]
        much_later = now + timedelta(seconds=121)
        assert [r[0] for r in inbox.due_for_relay(c, much_later, requeue_after)] == [a, b, c_, d]
    with engine.begin() as c:
        assert inbox.requeue(c, b, InboxStatus.PROCESSING, "2", "new-job", later)
        assert not inbox.requeue(c, b, InboxStatus.PROCESSING, "2", "other", later)


def test_failed_rows_can_be_reopened(engine, clock):
    now = clock.now()
    with engine.begin() as c:
        (row,) = inbox.store_events(c, [new("x")], now, ["j"])
    with session(engine) as s:
        inbox.claim(s, row.id, now, timedelta(seconds=60))
        inbox.retry_later(s, row.id, "ValueError: bad", None, now)
        failed = inbox.listing(s, "failed")
        assert [r.id for r in failed] == [row.id] and failed[0].last_error == "ValueError: bad"
        assert inbox.reopen(s, row.id)
        assert not inbox.reopen(s, row.id)
    with engine.connect() as c:
        assert inbox.counts_by_status(c) == {"received": 1}


def test_contacts_added_lost_and_back(engine, clock):
    with session(engine) as s:
        contacts.record_added(
            s,
            external_userid="wm1",
            owner_userid="zhang",
            channel_code="c1",
            added_at=clock.now(),
            now=clock.now(),
        )
        s.commit()
        assert contacts.record_lost(s, "wm1", "li", "customer_deleted", clock.now()) is None
        lost = contacts.record_lost(s, "wm1", "zhang", "customer_deleted", clock.now())
        assert lost.status == "lost" and lost.lost_reason == "customer_deleted"
        back = contacts.record_added(
            s,
            external_userid="wm1",
            owner_userid="zhang",
            channel_code="",
            added_at=clock.now(),
            now=clock.now(),
        )
        assert (back.status, back.channel_code, back.lost_reason) == ("new", "c1", None)
        s.commit()
        assert contacts.count_by_channel(s) == {"c1": 1}
        assert contacts.get(s, "wm1").added_at == clock.now()


@contextmanager
def at_revision(database_url: str, revision: str) -> Iterator[tuple[Engine, Connection]]:
    """An engine on a database migrated only as far as `revision`, and a connection (in a
    transaction) to put rows of that time in; then dispose of it."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        yield engine, connection
    engine.dispose()


def test_upgrading_keeps_existing_rows(database_url, clock):
    with at_revision(database_url, "0002") as (engine, connection):
        connection.exec_driver_sql(
            "INSERT INTO contacts (external_userid, name, avatar, gender, unionid, owner_userid,"
            " channel_code, status, created_at, updated_at) VALUES ('wm1', '小雨', '', 2, '',"
            " 'zhangsan', 'c1', 'new', '2026-11-22 02:00:00', '2026-11-22 02:00:00')"
        )
    upgrade(engine)
    with session(engine) as s:
        kept = contacts.get(s, "wm1")
    assert (kept.name, kept.channel_code, kept.trying_to_conceive, kept.due_date) == (
        "小雨",
        "c1",
        False,
        None,
    )


def test_lost_reasons_written_before_read_as_words_after_the_upgrade(database_url):
    with at_revision(database_url, "0007") as (engine, connection):
        for n, reason in enumerate(["customer_deleted", "advisor_deleted", None]):
            connection.execute(
                text(
                    "INSERT INTO contacts (external_userid, name, avatar, gender, unionid,"
                    " owner_userid, channel_code, status, lost_reason, trying_to_conceive,"
                    " opted_out, created_at, updated_at) VALUES (:ext, '', '', 0, '',"
                    " 'zhangsan', 'c1', :status, :reason, false, false,"
                    " '2026-11-22 02:00:00', '2026-11-22 02:00:00')"
                ),
                {"ext": f"wm{n}", "status": "lost" if reason else "new", "reason": reason},
            )
    upgrade(engine)
    with session(engine) as s:
        assert [contacts.get(s, f"wm{n}").lost_reason for n in range(3)] == [
            "客户删除", "顾问删除", None,
        ]  # fmt: skip


def test_warnings_are_kept_one_each_and_the_oldest_unfinished_is_found(engine, clock):
    with engine.begin() as c:
        stored = inbox.store_events(c, [new("w1"), new("w2")], clock.now(), ["j1", "j2"])
    with session(engine) as s:
        inbox.claim(s, stored[0].id, clock.now(), timedelta(seconds=300))
        inbox.finish(s, stored[0].id, InboxStatus.DONE, clock.now(),
                     ["welcome not sent: x; y", "not tagged: z"])  # fmt: skip
        s.commit()
        (row,) = [r for r in inbox.listing(s) if r.id == stored[0].id]
    assert inbox.warnings_of(row.warning) == ["welcome not sent: x; y", "not tagged: z"]
    assert inbox.warnings_of("a; b") == ["a", "b"]  # rows from before: joined by "; "
    assert inbox.warnings_of(None) == inbox.warnings_of("") == []
    with engine.connect() as c:
        oldest = inbox.oldest_pending(c)
    assert (oldest.id, oldest.status) == (stored[1].id, "queued")

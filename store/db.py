"""Engines, sessions and schema upgrades for SQLite (default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

from sqlalchemy import ColumnElement, Connection, Table, any_, bindparam, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
V = TypeVar("V")
# values bound in one list at most; a statement may hold a few such lists (who holds a key: 2,
# a lead's history: 8), well under SQLite's 32,766 bound parameters (since 3.32; 3.40 here)
BOUND = 900


def parts(values: Sequence[V]) -> Iterator[list[V]]:
    """`values` in parts of at most BOUND, for a statement that binds each of them."""
    for start in range(0, len(values), BOUND):
        yield list(values[start : start + BOUND])


def normalise_url(url: str) -> str:
    """postgresql:// means psycopg 3 here (SQLAlchemy would otherwise pick psycopg2)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, sqlite_synchronous: str = "normal", connections: int = 5) -> Engine:
    """`connections`: how many threads may hold one at once (a worker's slots and ticker).
    A database error never shows the values bound (her phone, say): errors reach the logs."""
    url = normalise_url(url)
    parsed = make_url(url)
    options = {"pool_size": connections, "max_overflow": connections, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", partial(_sqlite_pragmas, sqlite_synchronous.upper()))
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 (in a folder made 0700) if it is new: SQLite gives its
    -wal and -shm the database's mode, so they are private too, whatever the umask."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(synchronous: str, dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL (with WAL): a commit survives any crash of mombot; FULL also a power cut, at the
    # price of an fsync per commit.
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def made_here(dialect: str) -> Callable[..., bool]:
    """alembic's include_object when comparing the models with `dialect`'s schema: an index
    the models make only on another database (Index.ddl_if) is not expected on this one."""

    def include(obj: object, _name: str | None, _type: str, _reflected: bool, _other) -> bool:
        only = getattr(obj, "_ddl_if", None)  # SQLAlchemy's record of ddl_if(dialect=…)
        return only is None or only.dialect in (None, dialect)

    return include


def one_of(column: ColumnElement, name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the values bound as `name` when the statement runs: on PostgreSQL
    `= ANY(array)`, one parameter whatever the number of values (a statement with hundreds of
    them costs psycopg more to read than the server to run); elsewhere `IN (…)`, expanded."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for the connection's dialect, so that it can say ON CONFLICT (insert-or-ignore,
    upsert) on SQLite and PostgreSQL alike."""
    return insert_for(connection.dialect.name, table)


def insert_for(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """`insert` by the dialect's name: for statements built once per dialect and kept."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


def head() -> str:
    """The newest migration's revision: each migration's file is named by it (0012_….py)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("*_*.py"))


def at_head(engine: Engine) -> bool:
    """The schema is at the newest migration already (False when there is none yet)."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table: a new database
        return False
    return [row[0] for row in found] == [head()]


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; safe when several processes start at once.
    A schema at the newest already costs one query (every command checks it)."""
    if at_head(engine):
        return
    from alembic import command  # a fifth of a second to import: only when there is work
    from alembic.config import Config

    with file_lock(engine, "migrate"), engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(74657201)"))
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def file_lock(engine: Engine, purpose: str) -> Iterator[None]:
    """On a SQLite file, held by one process at a time (a lock file beside it, for
    `purpose`); a waiter wakes the moment it is let go. Nothing on other databases."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(os.open(f"{database}.{purpose}.lock", os.O_WRONLY | os.O_CREAT, 0o600), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def analyze(connection: Connection, *tables: str) -> None:
    """Have the planner count the tables anew: after a bulk load into a fresh table,
    PostgreSQL would otherwise take it for empty and scan it whole for every lookup."""
    for table in tables:
        connection.execute(text(f"ANALYZE {table}"))

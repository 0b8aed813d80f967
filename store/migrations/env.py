"""Alembic environment: run with a connection handed over by store.db.upgrade."""

from alembic import context
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from store.db import made_here

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_object=made_here(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()

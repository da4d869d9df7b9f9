"""Alembic's environment for Garrison's state database: run on the connection ``open_state`` hands over."""

from alembic import context

from garrison.store import state, state_awareness, state_bus, state_cluster  # noqa: F401 - every table joins the metadata
from garrison.store._meta import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()

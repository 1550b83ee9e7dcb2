"""Alembic environment: runs dpo's migrations on the engine handed over by `dpo init`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import dpo.storage.tables  # noqa: F401 - registers every table on SQLModel.metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from dpo.storage.db import get_engine

    engine = get_engine()

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

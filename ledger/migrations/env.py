"""Alembic environment: runs on the connection handed over by `ledger.db.migrate`."""
from alembic import context
from sqlmodel import SQLModel

from ledger.db import import_table_modules

import_table_modules()  # every ledger module that defines tables registers them on the metadata

target_metadata = SQLModel.metadata
config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` on the command line: use DATABASE_URL from the settings
    from ledger.config import get_settings
    from ledger.db import make_engine

    engine = make_engine(get_settings().database_url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()

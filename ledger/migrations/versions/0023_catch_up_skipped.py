"""catch up the revisions a database at 0011 skipped: 0016, 0017, 0018, 0019

Revision ID: 0023
Revises: 0011

Revisions 0016–0019 were once chained *before* the date bounds (0011), which were kept last. A
database already at 0011 when they arrived counted them as applied and never ran them: it has no
`policyevaluation`, stored answers or month-end snapshots. Alembic cannot see that, so this
revision looks: each skipped revision whose first table is missing is run now, in order. On a
database that ran them (every database created or upgraded since), it does nothing.

From here on, new revisions come after the head, never before an applied one.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0011"  # linear history: … → 0019 → 0011 (bounds) → 0023 (this) → 0020
branch_labels = None
depends_on = None

HERE = Path(__file__).resolve().parent
# each skipped revision, with the table that exists once it has run
SKIPPED = (("0016_policy_exploration.py", "policyevaluation"),
           ("0017_stored_risk.py", "storedcustomerrisk"),
           ("0018_receivable_snapshots.py", "receivablesnapshot"),
           ("0019_stored_next_actions.py", "storednextaction"))


def _revision(file_name: str):
    spec = importlib.util.spec_from_file_location(f"relance_migration_{file_name[:4]}", HERE / file_name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    for file_name, table in SKIPPED:
        # inspected anew each time: a revision run here changes what the next one finds
        if table not in sa.inspect(op.get_bind()).get_table_names():
            _revision(file_name).upgrade()


def downgrade() -> None:
    pass  # what this ran belongs to 0016–0019, whose own downgrades undo it

"""receivablesnapshot.scope wide enough for a daily-sales scope of the longest segment

Revision ID: 0024
Revises: 0022

A scope is "*" or "segment:<name>" (receivables), or the same behind "sales:" (daily sales of
closed months). A segment name may be 64 characters, so "sales:segment:<name>" needs 78: at 72,
PostgreSQL refused the row and a report filtered on such a segment answered 500. Widening a
varchar on PostgreSQL rewrites nothing; SQLite does not enforce the length.
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0022"  # linear history: … → 0021 → 0022 → 0024 (this)
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("receivablesnapshot", "scope", type_=sa.String(96),
                        existing_type=sa.String(72), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("receivablesnapshot", "scope", type_=sa.String(72),
                        existing_type=sa.String(96), existing_nullable=False)

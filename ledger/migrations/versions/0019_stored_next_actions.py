"""stored next actions: each open invoice's next action computed in bulk, read back by key

Revision ID: 0019
Revises: 0018
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0019"
down_revision = "0018"  # linear history: … → 0017 → 0018 (snapshots) → 0019 → 0011 (bounds last)
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "storednextaction",
        sa.Column("invoice_id", S(length=64), nullable=False),
        sa.Column("customer_id", S(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model_version", S(length=100), nullable=True),
        sa.Column("fingerprint", S(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("invoice_id"),
    )
    op.create_index("ix_storednextaction_customer_id", "storednextaction", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_storednextaction_customer_id", table_name="storednextaction")
    op.drop_table("storednextaction")

"""allocation links: the books' lettering, applied before oldest-first allocation

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0015"
down_revision = "0013"  # linear history: 0014 → 0013 → 0015
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allocationlink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("invoice_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_allocationlink_customer_id", "allocationlink", ["customer_id"])
    op.create_index("ix_allocationlink_source", "allocationlink", ["source_kind", "source_id"])


def downgrade() -> None:
    op.drop_index("ix_allocationlink_source", table_name="allocationlink")
    op.drop_index("ix_allocationlink_customer_id", table_name="allocationlink")
    op.drop_table("allocationlink")

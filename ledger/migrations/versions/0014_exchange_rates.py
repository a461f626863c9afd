"""exchange rates (ECB euro reference rates) and credit-limit crossings

Revision ID: 0014
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0014"
down_revision = "0010"  # linear history: 0009 → 0010 → 0014 → 0013 → 0015
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_rate",
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=18, scale=10), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("currency", "rate_date"),
    )
    op.create_table(
        "credit_limit_state",
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("over_limit", sa.Boolean(), nullable=False),
        sa.Column("crossed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.customer_id"]),
        sa.PrimaryKeyConstraint("customer_id"),
    )


def downgrade() -> None:
    op.drop_table("credit_limit_state")
    op.drop_table("exchange_rate")

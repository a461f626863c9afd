"""stored risk answers: customers' and invoices' risk computed in bulk, read back by key

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0017"
down_revision = "0016"  # linear history: … → 0012 → 0016 → 0017 → 0018 → 0019 → 0011
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "storedcustomerrisk",
        sa.Column("customer_id", S(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model_version", S(length=100), nullable=True),
        sa.Column("basis", S(length=8), nullable=False),
        sa.Column("fingerprint", S(length=40), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", S(length=1), nullable=False),
        sa.Column("p_late", sa.Float(), nullable=False),
        sa.Column("p_severe", sa.Float(), nullable=False),
        sa.Column("expected_days_late", sa.Float(), nullable=False),
        sa.Column("p_unpaid_30", sa.Float(), nullable=False),
        sa.Column("p_unpaid_90", sa.Float(), nullable=False),
        sa.Column("open_invoices", sa.Integer(), nullable=False),
        sa.Column("currency", S(length=3), nullable=False),
        sa.Column("open_amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("by_currency", sa.JSON(), nullable=True),
        sa.Column("reason_data", sa.JSON(), nullable=True),
        sa.Column("computed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.customer_id"]),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "storedinvoicerisk",
        sa.Column("invoice_id", S(length=64), nullable=False),
        sa.Column("customer_id", S(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model_version", S(length=100), nullable=True),
        sa.Column("basis", S(length=8), nullable=False),
        sa.Column("p_late", sa.Float(), nullable=False),
        sa.Column("p_severe", sa.Float(), nullable=False),
        sa.Column("expected_days_late", sa.Float(), nullable=False),
        sa.Column("p_unpaid_30", sa.Float(), nullable=False),
        sa.Column("p_unpaid_90", sa.Float(), nullable=False),
        sa.Column("expected_pay_date", sa.Date(), nullable=True),
        sa.Column("pay_date_low", sa.Date(), nullable=True),
        sa.Column("pay_date_high", sa.Date(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", S(length=1), nullable=False),
        sa.PrimaryKeyConstraint("invoice_id"),
    )
    op.create_index("ix_storedinvoicerisk_customer_id", "storedinvoicerisk", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_storedinvoicerisk_customer_id", table_name="storedinvoicerisk")
    op.drop_table("storedinvoicerisk")
    op.drop_table("storedcustomerrisk")

"""customer statuses, penalty invoices, promise instalments, scheduled job runs

Revision ID: 0013
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0013"
down_revision = "0014"  # chained after main's 0014 (exchange rates) once merged
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString
MONEY = sa.Numeric(precision=18, scale=2)


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("customer_type", S(length=16), nullable=False,
                                   server_default="business"))
        batch.add_column(sa.Column("on_hold_reason", S(length=200), nullable=True))
        batch.add_column(sa.Column("on_hold_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("insolvency_date", sa.Date(), nullable=True))

    op.create_table(
        "penaltyinvoice",
        sa.Column("penalty_invoice_id", S(length=64), nullable=False),
        sa.Column("customer_id", S(length=64), nullable=False),
        sa.Column("kind", S(length=16), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("currency", S(length=3), nullable=False),
        sa.Column("customer_type", S(length=16), nullable=False),
        sa.Column("interest", MONEY, nullable=False),
        sa.Column("indemnity", MONEY, nullable=False),
        sa.Column("indemnity_eur", MONEY, nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("created_by", S(length=100), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.customer_id"]),
        sa.PrimaryKeyConstraint("penalty_invoice_id"),
    )
    op.create_index("ix_penaltyinvoice_customer_id", "penaltyinvoice", ["customer_id"])
    op.create_table(
        "penaltycharge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("penalty_invoice_id", S(length=64), nullable=False),
        sa.Column("invoice_id", S(length=64), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount_late", MONEY, nullable=False),
        sa.Column("days_late", sa.Integer(), nullable=False),
        sa.Column("rates_percent", sa.JSON(), nullable=True),
        sa.Column("interest", MONEY, nullable=False),
        sa.Column("indemnity", MONEY, nullable=False),
        sa.Column("indemnity_eur", MONEY, nullable=False),
        sa.Column("notes", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["penalty_invoice_id"], ["penaltyinvoice.penalty_invoice_id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.invoice_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invoice_id", name="uq_penalty_charge_invoice"),
    )
    op.create_index("ix_penaltycharge_penalty_invoice_id", "penaltycharge", ["penalty_invoice_id"])

    op.create_table(
        "promiseinstalment",
        sa.Column("promise_id", S(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("status", S(length=16), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["promise_id"], ["promise.promise_id"]),
        sa.PrimaryKeyConstraint("promise_id", "seq"),
    )

    op.create_table(
        "jobrun",
        sa.Column("job", S(length=32), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("state", S(length=16), nullable=False),
        sa.Column("owner", S(length=200), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job", "run_date"),
    )


def downgrade() -> None:
    op.drop_table("jobrun")
    op.drop_table("promiseinstalment")
    op.drop_index("ix_penaltycharge_penalty_invoice_id", table_name="penaltycharge")
    op.drop_table("penaltycharge")
    op.drop_index("ix_penaltyinvoice_customer_id", table_name="penaltyinvoice")
    op.drop_table("penaltyinvoice")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("insolvency_date")
        batch.drop_column("on_hold_until")
        batch.drop_column("on_hold_reason")
        batch.drop_column("customer_type")

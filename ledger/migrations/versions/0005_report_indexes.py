"""report indexes: open receivables at any date, allocations per invoice and date

Revision ID: 0005
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # invoices open now, with their stored open amount (index-only)
    op.create_index("ix_report_invoice_unsettled", "invoice", ["issue_date"],
                    postgresql_include=["kind", "due_date", "open_amount", "customer_id", "invoice_id"],
                    postgresql_where=sa.text("settled_on IS NULL"),
                    sqlite_where=sa.text("settled_on IS NULL"))
    # invoices settled in a period (days late paid, payer history of the forecast)
    op.create_index("ix_report_invoice_settled", "invoice", ["settled_on"],
                    postgresql_include=["kind", "customer_id", "due_date"])
    # sent reminders in a period (dunning effectiveness)
    op.create_index("ix_report_action_sent", "dunningaction", ["state", "send_on"],
                    postgresql_include=["invoice_id", "step", "channel", "tone"])
    # credit sales per day (DSO, CEI)
    op.create_index("ix_report_invoice_issue", "invoice", ["issue_date"],
                    postgresql_include=["kind", "amount", "customer_id"])
    # allocations after a date (open amounts at a past date, cash collected in a period)
    op.create_index("ix_report_allocation_on", "allocation", ["allocated_on"],
                    postgresql_include=["invoice_id", "source_kind", "amount", "customer_id"])


def downgrade() -> None:
    op.drop_index("ix_report_allocation_on", table_name="allocation")
    op.drop_index("ix_report_invoice_issue", table_name="invoice")
    op.drop_index("ix_report_action_sent", table_name="dunningaction")
    op.drop_index("ix_report_invoice_settled", table_name="invoice")
    op.drop_index("ix_report_invoice_unsettled", table_name="invoice")

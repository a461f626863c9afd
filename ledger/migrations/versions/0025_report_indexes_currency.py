"""the report indexes carry the currency

Revision ID: 0025
Revises: 0024

Every money sum of a report is grouped by currency, but the covering indexes of migration 0005
left `currency` out, so each row they found was also read from the table's heap:
`ix_report_invoice_unsettled` (the invoices open today: today's receivables, the top debtors, the
forecast), `ix_report_invoice_issue` (the credit sales of the ragged ends of a period) and
`ix_report_invoice_settled` (the invoices paid in a period). With the currency included those
reads are index-only (measured at a million invoices in benchmarks/README.md). SQLite has no
INCLUDE: unchanged there.
"""
import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"  # linear history: … → 0022 → 0024 → 0025 (this)
branch_labels = None
depends_on = None

# name → (key, INCLUDE columns as in 0005, partial index predicate)
INDEXES = {
    "ix_report_invoice_unsettled": (["issue_date"], ["kind", "due_date", "open_amount", "customer_id", "invoice_id"],
                                    "settled_on IS NULL"),
    "ix_report_invoice_settled": (["settled_on"], ["kind", "customer_id", "due_date"], None),
    "ix_report_invoice_issue": (["issue_date"], ["kind", "amount", "customer_id"], None),
}


def _recreate(with_currency: bool) -> None:
    for name, (key, include, where) in INDEXES.items():
        op.drop_index(name, table_name="invoice")
        predicate = {} if where is None else {"postgresql_where": sa.text(where)}
        op.create_index(name, "invoice", key,
                        postgresql_include=[*include, "currency"] if with_currency else include, **predicate)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _recreate(with_currency=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _recreate(with_currency=False)

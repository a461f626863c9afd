"""drop three indexes another index already covers: each costs every ingest a write

Revision ID: 0021
Revises: 0020

`ix_invoice_customer_id` (customer_id) is the leading column of `ix_invoice_customer_open`
(customer_id, settled_on) and `ix_invoice_worklist`; `ix_invoice_settled_on` (settled_on) that of
`ix_report_invoice_settled` (settled_on INCLUDE …); `ix_allocation_invoice_id` (invoice_id) that
of the unique key (invoice_id, source_kind, source_id). Any scan the three served, the covering
index serves. Measured (benchmarks/README.md, issue #20): COPY of 100,000 invoices and 75,000
allocations took 26.9–29.6 s without them against 30.6–37.9 s with them (four rounds each,
alternated, load 12–16).
"""
from alembic import op

revision = "0021"
down_revision = "0020"  # linear history: … → 0023 → 0020 (currency index) → 0021 (this) → 0022
branch_labels = None
depends_on = None

DROPPED = (("ix_invoice_customer_id", "invoice", "customer_id"),
           ("ix_invoice_settled_on", "invoice", "settled_on"),
           ("ix_allocation_invoice_id", "allocation", "invoice_id"))


def upgrade() -> None:
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in DROPPED:
        op.create_index(name, table, [column])

"""drop two indexes of the action table that another index already covers

Revision ID: 0026
Revises: 0025

A dunning run writes hundreds of thousands of actions a day, each paying every index of the
table. `ix_dunningaction_invoice_id` (invoice_id) is the leading column of the unique key
`uq_action_invoice_step` (invoice_id, step); `ix_dunningaction_state` (state) that of
`ix_report_action_sent` (state, send_on). Every query of the code filtering on either column
(cancelling an invoice's open actions, earlier contacts, the outbox, approvals, the reports'
sent actions) is served by the covering index; checked with EXPLAIN on PostgreSQL
(docs/dunning.md, benchmarks/README.md).
"""
from alembic import op

revision = "0026"
down_revision = "0025"  # linear history: … → 0024 → 0025 (report indexes) → 0026 (this)
branch_labels = None
depends_on = None

DROPPED = (("ix_dunningaction_invoice_id", "dunningaction", "invoice_id"),
           ("ix_dunningaction_state", "dunningaction", "state"))


def upgrade() -> None:
    for name, table, _ in DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in DROPPED:
        op.create_index(name, table, [column])

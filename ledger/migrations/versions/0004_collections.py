"""collections workbench: disputes over several invoices, comments, details; worklist index

Revision ID: 0004
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('disputeinvoice',
    sa.Column('dispute_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('invoice_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['dispute_id'], ['dispute.dispute_id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.invoice_id'], ),
    sa.PrimaryKeyConstraint('dispute_id', 'invoice_id')
    )
    with op.batch_alter_table('disputeinvoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disputeinvoice_invoice_id'), ['invoice_id'], unique=False)

    op.create_table('disputecomment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dispute_id'], ['dispute.dispute_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('disputecomment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disputecomment_dispute_id'), ['dispute_id'], unique=False)

    op.create_table('disputedetail',
    sa.Column('dispute_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('opened_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('status_changed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('credit_note_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['dispute_id'], ['dispute.dispute_id'], ),
    sa.PrimaryKeyConstraint('dispute_id')
    )
    # the worklist aggregates invoices by customer: a covering index keeps it an index-only scan
    op.create_index('ix_invoice_worklist', 'invoice',
                    ['customer_id', 'kind', 'settled_on', 'due_date', 'open_amount'], unique=False)
    # only the open invoices: the worklist ranks customers by their open exposure first
    open_only = sa.text("settled_on IS NULL AND kind = 'invoice'")
    op.create_index('ix_invoice_open_exposure', 'invoice', ['customer_id', 'due_date', 'open_amount'],
                    unique=False, sqlite_where=open_only, postgresql_where=open_only)


def downgrade() -> None:
    op.drop_index('ix_invoice_open_exposure', table_name='invoice')
    op.drop_index('ix_invoice_worklist', table_name='invoice')
    op.drop_table('disputedetail')
    with op.batch_alter_table('disputecomment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disputecomment_dispute_id'))
    op.drop_table('disputecomment')
    with op.batch_alter_table('disputeinvoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_disputeinvoice_invoice_id'))
    op.drop_table('disputeinvoice')

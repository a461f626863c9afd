"""security: API keys may expire; a dispute may carry an agent's proposed credit note

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apikey") as batch:
        batch.add_column(sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table("disputedetail") as batch:
        batch.add_column(sa.Column("proposed_credit_amount", sa.Numeric(18, 2), nullable=True))
        batch.add_column(sa.Column("proposed_by", sqlmodel.sql.sqltypes.AutoString(length=100),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("disputedetail") as batch:
        batch.drop_column("proposed_by")
        batch.drop_column("proposed_credit_amount")
    with op.batch_alter_table("apikey") as batch:
        batch.drop_column("expires_at")

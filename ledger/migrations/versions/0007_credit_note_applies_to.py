"""credit notes may name the invoice they reduce

Revision ID: 0007
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoice") as batch_op:
        batch_op.add_column(sa.Column("applies_to", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoice") as batch_op:
        batch_op.drop_column("applies_to")

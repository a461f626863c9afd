"""customer postal address; letters posted/delivered; action closing date and approval

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0012"
down_revision = "0015"  # linear history: 0009 → 0010 → 0014 → 0013 → 0015 → 0012 → 0011
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("customer") as table:
        table.add_column(sa.Column("address", _TEXT(length=300), nullable=True))
        table.add_column(sa.Column("postal_code", _TEXT(length=16), nullable=True))
        table.add_column(sa.Column("city", _TEXT(length=100), nullable=True))
    with op.batch_alter_table("dunningaction") as table:
        table.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        table.add_column(sa.Column("approved_by", _TEXT(length=100), nullable=True))
        table.add_column(sa.Column("approved_at", sqlmodel.sql.sqltypes.UTCDateTime(),
                                   nullable=True))
    with op.batch_alter_table("reminder") as table:
        table.add_column(sa.Column("posted_on", sa.Date(), nullable=True))
        table.add_column(sa.Column("registered_number", _TEXT(length=64), nullable=True))
        table.add_column(sa.Column("delivered_on", sa.Date(), nullable=True))
    # actions sent before this revision: their closing day is the day they were sent
    op.execute("UPDATE dunningaction SET closed_on = send_on "
               "WHERE state IN ('sent', 'failed', 'cancelled') AND closed_on IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("reminder") as table:
        table.drop_column("delivered_on")
        table.drop_column("registered_number")
        table.drop_column("posted_on")
    with op.batch_alter_table("dunningaction") as table:
        table.drop_column("approved_at")
        table.drop_column("approved_by")
        table.drop_column("closed_on")
    with op.batch_alter_table("customer") as table:
        table.drop_column("city")
        table.drop_column("postal_code")
        table.drop_column("address")

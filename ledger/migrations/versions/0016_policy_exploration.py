"""exploration: the propensity of a randomly chosen action; policy evaluations and activation

Revision ID: 0016
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0016"
down_revision = "0012"  # linear history: … → 0015 → 0012 → 0016 → 0017 → 0018 → 0011 (bounds last)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dunningaction") as batch:
        batch.add_column(sa.Column("propensity", sa.Float(), nullable=True))
    op.create_table(
        "policyevaluation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("candidate", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("ledger", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("split_on", sa.Date(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("gain_low", sa.Float(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("activated_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("activated_at", sa.DateTime(), nullable=True),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_policyevaluation_created_at", "policyevaluation", ["created_at"])
    op.create_index("ix_policyevaluation_state", "policyevaluation", ["state"])


def downgrade() -> None:
    op.drop_index("ix_policyevaluation_state", table_name="policyevaluation")
    op.drop_index("ix_policyevaluation_created_at", table_name="policyevaluation")
    op.drop_table("policyevaluation")
    with op.batch_alter_table("dunningaction") as batch:
        batch.drop_column("propensity")

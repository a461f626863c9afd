"""stored policy candidates: the model an evaluation evaluated, and which policy chose an action

Revision ID: 0022
Revises: 0021
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = "0022"
down_revision = "0021"  # linear history: … → 0020 → 0021 → 0022 (this)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policymodel",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["policyevaluation.id"]),
        sa.PrimaryKeyConstraint("evaluation_id"),
    )
    with op.batch_alter_table("dunningaction") as batch:
        batch.add_column(sa.Column("policy_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dunningaction") as batch:
        batch.drop_column("policy_id")
    op.drop_table("policymodel")

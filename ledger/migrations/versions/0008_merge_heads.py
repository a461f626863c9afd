"""one head again: dunning (0003), collections (0004), report indexes (0005), webhooks (0006) and
credit notes naming their invoice (0007) were written side by side on top of 0002

Revision ID: 0008
Revises: 0003, 0004, 0005, 0006, 0007
"""

revision = "0008"
down_revision = ("0003", "0004", "0005", "0006", "0007")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""business dates bounded in the database: 1900-01-01 … 2199-12-31

Revision ID: 0011
Revises: 0019

PostgreSQL gets CHECK constraints added NOT VALID: every new or changed row is checked, the rows
already stored are not (a database from before the bounds keeps working; the readers set such a
row aside instead of failing, and `ALTER TABLE … VALIDATE CONSTRAINT` can be run once they are
corrected). SQLite cannot add a CHECK to an existing table without copying it, so there the same
conditions are BEFORE INSERT / UPDATE triggers that abort with the constraint's name; a fresh
table built from the models (`ledger.tables.date_checks`) carries them as CHECK constraints.
The bounds and columns are written out here, as a migration must not change when the code does.
"""
from alembic import op

revision = "0011"
down_revision = "0019"  # every dated column exists by 0019; later revisions come after the bounds (… → 0019 → 0011 → 0023 → 0020)
branch_labels = None
depends_on = None

LOW, HIGH = "1900-01-01", "2199-12-31"
CHECKED = {
    "invoice": ("issue_date", "due_date", "settled_on"),
    "payment": ("paid_on",),
    "allocation": ("allocated_on",),
    "dispute": ("opened_on", "resolved_on"),
    "promise": ("promised_date", "created_on", "closed_on"),
}


def _checks():
    for table, columns in CHECKED.items():
        for column in columns:
            yield table, column, f"ck_{table}_{column}_range"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column, name in _checks():
        if postgres:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} "
                       f"CHECK ({column} BETWEEN '{LOW}' AND '{HIGH}') NOT VALID")
            continue
        outside = f"NEW.{column} IS NOT NULL AND NEW.{column} NOT BETWEEN '{LOW}' AND '{HIGH}'"
        for event, suffix in (("INSERT", "insert"), (f"UPDATE OF {column}", "update")):
            op.execute(f"CREATE TRIGGER {name}_{suffix} BEFORE {event} ON {table} "
                       f"WHEN {outside} BEGIN "
                       f"SELECT RAISE(ABORT, 'CHECK constraint failed: {name}'); END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _column, name in _checks():
        if postgres:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        else:
            op.execute(f"DROP TRIGGER {name}_insert")
            op.execute(f"DROP TRIGGER {name}_update")

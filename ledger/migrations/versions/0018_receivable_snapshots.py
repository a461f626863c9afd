"""receivable snapshots: month-end receivables by bucket and currency, forgotten by triggers

Revision ID: 0018
Revises: 0017

`receivablesnapshot` keeps, per date and scope (every customer, or one segment), the open
receivables by ageing bucket and currency that `ledger.kpis` computes, so a 12-month trend reads a
handful of rows (`ledger/snapshots.py`). Receivables at a date d depend only on invoices issued by
d and allocations dated by d: triggers on invoice and allocation delete every snapshot dated on or
after the earliest date a write touches, whoever writes (ingestion, FEC import, a person with SQL);
a change of a customer's segment forgets the segment snapshots. PostgreSQL runs one trigger per
statement (transition tables), SQLite one per row. The SQL is written out here, as a migration
must not change when the code does.
"""
from alembic import op
import sqlalchemy as sa

revision = "0018"
down_revision = "0017"  # linear history: … → 0016 → 0017 (stored risk) → 0018
branch_labels = None
depends_on = None

# invoice columns a receivable depends on (open_amount and settled_on follow the allocations,
# whose own triggers cover them)
INVOICE_COLUMNS = ("amount", "issue_date", "due_date", "currency", "kind", "customer_id")
ALLOCATION_COLUMNS = ("invoice_id", "amount", "allocated_on")

PG_FORGET = """
CREATE FUNCTION receivablesnapshot_forget(since date) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF since IS NOT NULL THEN
        -- a separate statement: the DELETE's snapshot is taken after any filler has committed
        LOCK TABLE receivablesnapshot IN ROW EXCLUSIVE MODE;
        DELETE FROM receivablesnapshot WHERE on_date >= since;
    END IF;
END $$;
"""


def _changed(columns, old="o", new="n"):
    return " OR ".join(f"{old}.{c} IS DISTINCT FROM {new}.{c}" for c in columns)


def _pg_statements():
    invoice_update = (f"SELECT min(least(o.issue_date, n.issue_date)) FROM old_rows o "
                      f"FULL JOIN new_rows n ON n.invoice_id = o.invoice_id "
                      f"WHERE (o.kind = 'invoice' OR n.kind = 'invoice') AND (o.invoice_id IS NULL "
                      f"OR n.invoice_id IS NULL OR {_changed(INVOICE_COLUMNS)})")
    allocation_update = (f"SELECT min(least(o.allocated_on, n.allocated_on)) FROM old_rows o "
                         f"FULL JOIN new_rows n ON n.id = o.id WHERE o.id IS NULL OR n.id IS NULL "
                         f"OR {_changed(ALLOCATION_COLUMNS)}")
    bodies = {
        ("invoice", "INSERT", "NEW TABLE AS new_rows"):
            "SELECT min(issue_date) FROM new_rows WHERE kind = 'invoice'",
        ("invoice", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"): invoice_update,
        ("invoice", "DELETE", "OLD TABLE AS old_rows"):
            "SELECT min(issue_date) FROM old_rows WHERE kind = 'invoice'",
        ("allocation", "INSERT", "NEW TABLE AS new_rows"): "SELECT min(allocated_on) FROM new_rows",
        ("allocation", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"): allocation_update,
        ("allocation", "DELETE", "OLD TABLE AS old_rows"): "SELECT min(allocated_on) FROM old_rows",
    }
    yield PG_FORGET
    for (table, event, transition), query in bodies.items():
        name = f"receivablesnapshot_{table}_{event.lower()}"
        yield (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               f"PERFORM receivablesnapshot_forget(({query})); RETURN NULL; END $$")
        yield (f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    yield ("CREATE FUNCTION receivablesnapshot_forget_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "DELETE FROM receivablesnapshot; RETURN NULL; END $$")
    for table in ("invoice", "allocation"):
        yield (f"CREATE TRIGGER receivablesnapshot_{table}_truncate AFTER TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION receivablesnapshot_forget_all()")
    yield ("CREATE FUNCTION receivablesnapshot_segment() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.customer_id = o.customer_id "
           "WHERE o.segment IS DISTINCT FROM n.segment) THEN "
           "DELETE FROM receivablesnapshot WHERE scope <> '*'; END IF; RETURN NULL; END $$")
    yield ("CREATE TRIGGER receivablesnapshot_segment AFTER UPDATE ON customer "
           "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
           "FOR EACH STATEMENT EXECUTE FUNCTION receivablesnapshot_segment()")


def _sqlite_statements():
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in INVOICE_COLUMNS)
    forget = "DELETE FROM receivablesnapshot WHERE on_date >= {};"
    yield (f"CREATE TRIGGER receivablesnapshot_invoice_insert AFTER INSERT ON invoice "
           f"WHEN NEW.kind = 'invoice' BEGIN {forget.format('NEW.issue_date')} END")
    yield (f"CREATE TRIGGER receivablesnapshot_invoice_update AFTER UPDATE ON invoice "
           f"WHEN (OLD.kind = 'invoice' OR NEW.kind = 'invoice') AND (OLD.invoice_id IS NOT NEW.invoice_id "
           f"OR {changed}) BEGIN {forget.format('min(OLD.issue_date, NEW.issue_date)')} END")
    yield (f"CREATE TRIGGER receivablesnapshot_invoice_delete AFTER DELETE ON invoice "
           f"WHEN OLD.kind = 'invoice' BEGIN {forget.format('OLD.issue_date')} END")
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ("id", *ALLOCATION_COLUMNS))
    yield (f"CREATE TRIGGER receivablesnapshot_allocation_insert AFTER INSERT ON allocation "
           f"BEGIN {forget.format('NEW.allocated_on')} END")
    yield (f"CREATE TRIGGER receivablesnapshot_allocation_update AFTER UPDATE ON allocation WHEN {changed} "
           f"BEGIN {forget.format('min(OLD.allocated_on, NEW.allocated_on)')} END")
    yield (f"CREATE TRIGGER receivablesnapshot_allocation_delete AFTER DELETE ON allocation "
           f"BEGIN {forget.format('OLD.allocated_on')} END")
    yield ("CREATE TRIGGER receivablesnapshot_segment AFTER UPDATE OF segment ON customer "
           "WHEN OLD.segment IS NOT NEW.segment BEGIN DELETE FROM receivablesnapshot WHERE scope <> '*'; END")


TRIGGERS = [f"receivablesnapshot_{t}_{e}" for t in ("invoice", "allocation") for e in ("insert", "update", "delete")]


def upgrade() -> None:
    op.create_table(
        "receivablesnapshot",
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=72), nullable=False),
        sa.Column("bucket", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.PrimaryKeyConstraint("on_date", "scope", "bucket", "currency"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in (_pg_statements() if postgres else _sqlite_statements()):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for name in TRIGGERS:
            table = name.split("_")[1]
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        for table in ("invoice", "allocation"):
            op.execute(f"DROP TRIGGER IF EXISTS receivablesnapshot_{table}_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS receivablesnapshot_segment ON customer")
        op.execute("DROP FUNCTION IF EXISTS receivablesnapshot_segment()")
        op.execute("DROP FUNCTION IF EXISTS receivablesnapshot_forget_all()")
        op.execute("DROP FUNCTION IF EXISTS receivablesnapshot_forget(date)")
    else:
        for name in [*TRIGGERS, "receivablesnapshot_segment"]:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("receivablesnapshot")

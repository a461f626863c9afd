"""worklistopen: each customer's open amount per currency, kept by triggers on invoice

Revision ID: 0027
Revises: 0026

The worklist ranks customers by value at risk, which is never more than what they owe: it reads
its candidates in decreasing open amount and stops once no other customer can overtake the page.
It used to aggregate every open invoice (twice) on every call; this table holds that aggregate,
one row per (customer, currency) with open invoices, and an index in the page's order, so a page
reads ~50 rows of it.

The database keeps it, whoever writes an invoice (ingestion, allocation, credit notes, imports,
scripts): on PostgreSQL statement-level triggers apply each statement's changes set-based from
its transition tables (one firing per COPY or bulk upsert; exact numeric sums; row locks of
`INSERT … ON CONFLICT` keep concurrent writers right); on SQLite (one writer at a time) row
triggers add a new open invoice to its row, and recompute the customer's rows from its open
invoices when an open invoice changes or stops being open. A truncate of `invoice` empties it.
"""
import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"  # linear history: … → 0025 → 0026 (action indexes) → 0027 (this)
branch_labels = None
depends_on = None

OPEN = "kind = 'invoice' AND settled_on IS NULL"

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION worklistopen_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM worklistopen;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO worklistopen AS w (customer_id, currency, open_amount, open_invoices)
        SELECT customer_id, currency, sum(open_amount), count(*) FROM new_rows WHERE {OPEN}
        GROUP BY customer_id, currency ORDER BY customer_id, currency
        ON CONFLICT (customer_id, currency) DO UPDATE
        SET open_amount = w.open_amount + excluded.open_amount,
            open_invoices = w.open_invoices + excluded.open_invoices;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO worklistopen AS w (customer_id, currency, open_amount, open_invoices)
        SELECT customer_id, currency, sum(amount), sum(n) FROM (
            SELECT customer_id, currency, -open_amount AS amount, -1 AS n FROM old_rows WHERE {OPEN}
            UNION ALL
            SELECT customer_id, currency, open_amount, 1 FROM new_rows WHERE {OPEN}) AS changes
        GROUP BY customer_id, currency HAVING sum(amount) <> 0 OR sum(n) <> 0
        ORDER BY customer_id, currency
        ON CONFLICT (customer_id, currency) DO UPDATE
        SET open_amount = w.open_amount + excluded.open_amount,
            open_invoices = w.open_invoices + excluded.open_invoices;
    ELSE
        INSERT INTO worklistopen AS w (customer_id, currency, open_amount, open_invoices)
        SELECT customer_id, currency, -sum(open_amount), -count(*) FROM old_rows WHERE {OPEN}
        GROUP BY customer_id, currency ORDER BY customer_id, currency
        ON CONFLICT (customer_id, currency) DO UPDATE
        SET open_amount = w.open_amount + excluded.open_amount,
            open_invoices = w.open_invoices + excluded.open_invoices;
    END IF;
    DELETE FROM worklistopen WHERE open_invoices <= 0
        AND customer_id IN (SELECT customer_id FROM old_rows WHERE {OPEN});
    RETURN NULL;
END
$$
"""

PG_TRIGGERS = {
    "worklistopen_insert": "AFTER INSERT ON invoice REFERENCING NEW TABLE AS new_rows",
    "worklistopen_update": "AFTER UPDATE ON invoice REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "worklistopen_delete": "AFTER DELETE ON invoice REFERENCING OLD TABLE AS old_rows",
}


def _sqlite_recompute(who: str) -> str:
    return (f"DELETE FROM worklistopen WHERE customer_id = {who}.customer_id; "
            f"INSERT INTO worklistopen (customer_id, currency, open_amount, open_invoices) "
            f"SELECT customer_id, currency, sum(open_amount), count(*) FROM invoice "
            f"WHERE customer_id = {who}.customer_id AND {OPEN} GROUP BY customer_id, currency;")


def _open(who: str) -> str:
    return f"({who}.kind = 'invoice' AND {who}.settled_on IS NULL)"


SQLITE_TRIGGERS = {
    # a new open invoice adds to its (customer, currency) row: no re-aggregation of the customer
    "worklistopen_insert": (
        f"AFTER INSERT ON invoice WHEN {_open('NEW')} BEGIN "
        "INSERT INTO worklistopen (customer_id, currency, open_amount, open_invoices) "
        "VALUES (NEW.customer_id, NEW.currency, NEW.open_amount, 1) "
        "ON CONFLICT (customer_id, currency) DO UPDATE SET "
        "open_amount = open_amount + excluded.open_amount, open_invoices = open_invoices + 1; END"),
    "worklistopen_update": (
        f"AFTER UPDATE ON invoice WHEN ({_open('OLD')} OR {_open('NEW')}) AND ("
        "OLD.open_amount IS NOT NEW.open_amount OR OLD.settled_on IS NOT NEW.settled_on "
        "OR OLD.kind IS NOT NEW.kind OR OLD.customer_id IS NOT NEW.customer_id "
        f"OR OLD.currency IS NOT NEW.currency) BEGIN {_sqlite_recompute('OLD')} "
        f"{_sqlite_recompute('NEW')} END"),
    "worklistopen_delete": f"AFTER DELETE ON invoice WHEN {_open('OLD')} "
                           f"BEGIN {_sqlite_recompute('OLD')} END",
}


def upgrade() -> None:
    op.create_table(
        "worklistopen",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("open_amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("open_invoices", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "currency"),
    )
    op.create_index("ix_worklistopen_rank", "worklistopen", ["currency", "open_amount", "customer_id"])
    op.execute("INSERT INTO worklistopen (customer_id, currency, open_amount, open_invoices) "
               f"SELECT customer_id, currency, sum(open_amount), count(*) FROM invoice WHERE {OPEN} "
               "GROUP BY customer_id, currency")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for name, when in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION worklistopen_apply()")
        op.execute("CREATE TRIGGER worklistopen_truncate AFTER TRUNCATE ON invoice "
                   "FOR EACH STATEMENT EXECUTE FUNCTION worklistopen_apply()")
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in [*PG_TRIGGERS, "worklistopen_truncate"]:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON invoice")
        op.execute("DROP FUNCTION IF EXISTS worklistopen_apply()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_worklistopen_rank", table_name="worklistopen")
    op.drop_table("worklistopen")

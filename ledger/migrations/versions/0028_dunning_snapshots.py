"""dunning snapshots: the effectiveness of each closed month's reminders, forgotten by triggers

Revision ID: 0028
Revises: 0027

`dunningsnapshot` keeps, per month of sending and scope (every customer, or one segment), what
`ledger.kpis.dunning_effectiveness` counts for the reminders sent that month (state sent, posted or
delivered, on invoices not settled before the send date): per step, channel, tone and invoice
currency, how many, and how many were settled within 7, 14 and 30 days of the send date. Once 30
days have passed after the month's end, those counts no longer depend on the report's date, only
on rows the triggers below watch; a marker row (currency "") says a month is complete.

What a month's counts read, and the trigger that forgets them (PostgreSQL: one per statement,
with transition tables; SQLite: one per row):
- a reminder (dunningaction) inserted, deleted, or changed in its state, send date, step,
  channel, tone or invoice, when it is (or was) sent: every month from its send date on;
- an invoice's settlement date changing from or to S (a payment, a credit note, a replay): only
  reminders sent in [S − 30, …] can count differently (before that, the invoice is counted as not
  settled within 30 days either way), so every month ending on or after S − 30 days;
- an invoice's currency, customer or id changing, an invoice deleted, a table truncated: all;
- a customer's segment changing: the segment scopes.
The SQL is written out here, as a migration must not change when the code does (the 30 is the
longest window, `ledger.kpi_receivables.WINDOWS`).
"""
import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"  # linear history: … → 0025 → 0026 → 0027 → 0028 (this)
branch_labels = None
depends_on = None

SENT = "('sent', 'posted', 'delivered')"
ACTION_COLUMNS = ("state", "send_on", "step", "channel", "tone", "invoice_id")

PG_FORGET = """
CREATE FUNCTION dunningsnapshot_forget(since date) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF since IS NOT NULL THEN
        -- a separate statement: the DELETE's snapshot is taken after any filler has committed
        LOCK TABLE dunningsnapshot IN ROW EXCLUSIVE MODE;
        DELETE FROM dunningsnapshot WHERE month_end >= since;
    END IF;
END $$;
"""


def _changed(columns, old="o", new="n"):
    return " OR ".join(f"{old}.{c} IS DISTINCT FROM {new}.{c}" for c in columns)


def _pg_statements():
    action_update = (f"SELECT min(least(o.send_on, n.send_on)) FROM old_rows o JOIN new_rows n ON n.id = o.id "
                     f"WHERE (o.state IN {SENT} OR n.state IN {SENT}) AND ({_changed(ACTION_COLUMNS)})")
    invoice_update = ("SELECT min(CASE WHEN o.invoice_id IS NULL OR n.invoice_id IS NULL "
                      "OR o.currency IS DISTINCT FROM n.currency OR o.customer_id IS DISTINCT FROM n.customer_id "
                      "THEN DATE '0001-01-01' ELSE least(o.settled_on, n.settled_on) - 30 END) "
                      "FROM old_rows o FULL JOIN new_rows n ON n.invoice_id = o.invoice_id "
                      "WHERE o.invoice_id IS NULL OR n.invoice_id IS NULL "
                      "OR " + _changed(("settled_on", "currency", "customer_id")))
    bodies = {
        ("dunningaction", "INSERT", "NEW TABLE AS new_rows"):
            f"SELECT min(send_on) FROM new_rows WHERE state IN {SENT}",
        ("dunningaction", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"): action_update,
        ("dunningaction", "DELETE", "OLD TABLE AS old_rows"):
            f"SELECT min(send_on) FROM old_rows WHERE state IN {SENT}",
        ("invoice", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"): invoice_update,
        ("invoice", "DELETE", "OLD TABLE AS old_rows"):
            "SELECT DATE '0001-01-01' FROM old_rows LIMIT 1",
    }
    yield PG_FORGET
    for (table, event, transition), query in bodies.items():
        name = f"dunningsnapshot_{table}_{event.lower()}"
        yield (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               f"PERFORM dunningsnapshot_forget(({query})); RETURN NULL; END $$")
        yield (f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transition} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    yield ("CREATE FUNCTION dunningsnapshot_forget_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "DELETE FROM dunningsnapshot; RETURN NULL; END $$")
    for table in ("invoice", "dunningaction"):
        yield (f"CREATE TRIGGER dunningsnapshot_{table}_truncate AFTER TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION dunningsnapshot_forget_all()")
    yield ("CREATE FUNCTION dunningsnapshot_segment() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.customer_id = o.customer_id "
           "WHERE o.segment IS DISTINCT FROM n.segment) THEN "
           "DELETE FROM dunningsnapshot WHERE scope <> '*'; END IF; RETURN NULL; END $$")
    yield ("CREATE TRIGGER dunningsnapshot_segment AFTER UPDATE ON customer "
           "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
           "FOR EACH STATEMENT EXECUTE FUNCTION dunningsnapshot_segment()")


def _sqlite_statements():
    forget = "DELETE FROM dunningsnapshot WHERE month_end >= {};"
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ACTION_COLUMNS)
    yield (f"CREATE TRIGGER dunningsnapshot_dunningaction_insert AFTER INSERT ON dunningaction "
           f"WHEN NEW.state IN {SENT} BEGIN {forget.format('NEW.send_on')} END")
    yield (f"CREATE TRIGGER dunningsnapshot_dunningaction_update AFTER UPDATE ON dunningaction "
           f"WHEN (OLD.state IN {SENT} OR NEW.state IN {SENT}) AND ({changed}) "
           f"BEGIN {forget.format('min(OLD.send_on, NEW.send_on)')} END")
    yield (f"CREATE TRIGGER dunningsnapshot_dunningaction_delete AFTER DELETE ON dunningaction "
           f"WHEN OLD.state IN {SENT} BEGIN {forget.format('OLD.send_on')} END")
    # SQLite's min() of a NULL is NULL: each side stands in for a missing other
    earliest = "date(min(COALESCE(OLD.settled_on, NEW.settled_on), COALESCE(NEW.settled_on, OLD.settled_on)), '-30 days')"
    yield (f"CREATE TRIGGER dunningsnapshot_invoice_settled AFTER UPDATE OF settled_on ON invoice "
           f"WHEN OLD.settled_on IS NOT NEW.settled_on BEGIN {forget.format(earliest)} END")
    yield ("CREATE TRIGGER dunningsnapshot_invoice_update AFTER UPDATE OF invoice_id, currency, customer_id "
           "ON invoice WHEN OLD.invoice_id IS NOT NEW.invoice_id OR OLD.currency IS NOT NEW.currency "
           "OR OLD.customer_id IS NOT NEW.customer_id BEGIN DELETE FROM dunningsnapshot; END")
    yield ("CREATE TRIGGER dunningsnapshot_invoice_delete AFTER DELETE ON invoice "
           "BEGIN DELETE FROM dunningsnapshot; END")
    yield ("CREATE TRIGGER dunningsnapshot_segment AFTER UPDATE OF segment ON customer "
           "WHEN OLD.segment IS NOT NEW.segment BEGIN DELETE FROM dunningsnapshot WHERE scope <> '*'; END")


PG_TRIGGERS = [("dunningaction", e) for e in ("insert", "update", "delete")] + [("invoice", e) for e in ("update", "delete")]
SQLITE_TRIGGERS = ["dunningsnapshot_dunningaction_insert", "dunningsnapshot_dunningaction_update",
                   "dunningsnapshot_dunningaction_delete", "dunningsnapshot_invoice_settled",
                   "dunningsnapshot_invoice_update", "dunningsnapshot_invoice_delete", "dunningsnapshot_segment"]


def upgrade() -> None:
    op.create_table(
        "dunningsnapshot",
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=96), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("tone", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("settled_7", sa.Integer(), nullable=False),
        sa.Column("settled_14", sa.Integer(), nullable=False),
        sa.Column("settled_30", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month_end", "scope", "step", "channel", "tone", "currency"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in (_pg_statements() if postgres else _sqlite_statements()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, event in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS dunningsnapshot_{table}_{event} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS dunningsnapshot_{table}_{event}()")
        for table in ("invoice", "dunningaction"):
            op.execute(f"DROP TRIGGER IF EXISTS dunningsnapshot_{table}_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS dunningsnapshot_segment ON customer")
        op.execute("DROP FUNCTION IF EXISTS dunningsnapshot_segment()")
        op.execute("DROP FUNCTION IF EXISTS dunningsnapshot_forget_all()")
        op.execute("DROP FUNCTION IF EXISTS dunningsnapshot_forget(date)")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("dunningsnapshot")

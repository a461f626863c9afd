"""Ledger invariants: what must hold of the money whatever was ingested, in whatever order.

- a payment or a credit note is never allocated beyond its amount (Σ allocations ≤ amount);
- an invoice's open amount stays between 0 and its amount;
- an allocation joins an invoice and a payment or credit note of one and the same customer.

`check_ledger` reads them in SQL (a few grouped queries, any ledger size) and returns every
violation; `relance check` prints them, the test suites run it on every database they used.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

LIMIT = 1000  # violations reported per rule: enough to act on, bounded on a broken ledger


@dataclass(frozen=True)
class Violation:
    rule: str  # over_allocated | open_out_of_range | cross_customer
    record: str  # "payment P1", "invoice F1", "allocation 12"
    detail: dict[str, str]

    def sentence(self, language: str = "fr") -> str:
        d = self.detail
        if self.rule == "over_allocated":
            return (f"{self.record} : {d['allocated']} alloués pour un montant de {d['amount']}"
                    if language == "fr" else
                    f"{self.record}: {d['allocated']} allocated against an amount of {d['amount']}")
        if self.rule == "open_out_of_range":
            return (f"{self.record} : reste dû {d['open']} hors de [0, {d['amount']}]"
                    if language == "fr" else
                    f"{self.record}: open amount {d['open']} outside [0, {d['amount']}]")
        return (f"{self.record} : relie la facture {d['invoice']} (client {d['invoice_customer']}) "
                f"à {d['source']} (client {d['source_customer']})"
                if language == "fr" else
                f"{self.record}: joins invoice {d['invoice']} (customer {d['invoice_customer']}) "
                f"to {d['source']} (customer {d['source_customer']})")


# sums rounded to the cent: SQLite adds NUMERIC values as binary floats (456.96000000000004)
_OVER_ALLOCATED = {
    "payment": """
        SELECT p.payment_id, p.amount, SUM(a.amount) FROM payment p
        JOIN allocation a ON a.source_kind = 'payment' AND a.source_id = p.payment_id
        GROUP BY p.payment_id, p.amount HAVING ROUND(SUM(a.amount), 2) > ROUND(p.amount, 2)
        ORDER BY p.payment_id LIMIT :limit""",
    "credit note": """
        SELECT c.invoice_id, c.amount, SUM(a.amount) FROM invoice c
        JOIN allocation a ON a.source_kind = 'credit_note' AND a.source_id = c.invoice_id
        WHERE c.kind = 'credit_note'
        GROUP BY c.invoice_id, c.amount HAVING ROUND(SUM(a.amount), 2) > ROUND(c.amount, 2)
        ORDER BY c.invoice_id LIMIT :limit""",
}
_OPEN_OUT_OF_RANGE = """
    SELECT invoice_id, open_amount, amount FROM invoice
    WHERE kind = 'invoice' AND (open_amount < 0 OR open_amount > amount)
    ORDER BY invoice_id LIMIT :limit"""
# an allocation whose source is missing is a violation too: its money comes from nowhere
_CROSS_CUSTOMER = """
    SELECT a.id, a.customer_id, a.invoice_id, i.customer_id, a.source_kind, a.source_id,
           COALESCE(p.customer_id, c.customer_id)
    FROM allocation a
    JOIN invoice i ON i.invoice_id = a.invoice_id
    LEFT JOIN payment p ON a.source_kind = 'payment' AND p.payment_id = a.source_id
    LEFT JOIN invoice c ON a.source_kind = 'credit_note' AND c.invoice_id = a.source_id
    WHERE i.customer_id <> a.customer_id
       OR COALESCE(p.customer_id, c.customer_id) IS NULL
       OR COALESCE(p.customer_id, c.customer_id) <> i.customer_id
    ORDER BY a.id LIMIT :limit"""


def _money(value) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def check_connection(connection: Connection, *, limit: int = LIMIT) -> list[Violation]:
    found: list[Violation] = []
    for kind, sql in _OVER_ALLOCATED.items():
        for record_id, amount, allocated in connection.execute(text(sql), {"limit": limit}):
            found.append(Violation("over_allocated", f"{kind} {record_id}",
                                   {"amount": _money(amount), "allocated": _money(allocated)}))
    for invoice_id, open_amount, amount in connection.execute(text(_OPEN_OUT_OF_RANGE), {"limit": limit}):
        found.append(Violation("open_out_of_range", f"invoice {invoice_id}",
                               {"open": _money(open_amount), "amount": _money(amount)}))
    for (allocation_id, _customer, invoice_id, invoice_customer, source_kind, source_id,
         source_customer) in connection.execute(text(_CROSS_CUSTOMER), {"limit": limit}):
        source = "payment" if source_kind == "payment" else "credit note"
        found.append(Violation("cross_customer", f"allocation {allocation_id}",
                               {"invoice": invoice_id, "invoice_customer": invoice_customer,
                                "source": f"{source} {source_id}",
                                "source_customer": source_customer or "?"}))
    return found


def check_ledger(engine: Engine, *, limit: int = LIMIT) -> list[Violation]:
    """Every violation of the ledger's invariants (at most `limit` per rule); [] when it holds."""
    with engine.connect() as connection:
        return check_connection(connection, limit=limit)

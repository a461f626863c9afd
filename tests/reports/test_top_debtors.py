"""Top debtors: the ranking the database cuts for a one-currency lens (PostgreSQL) is the one the
general path computes in Python, ties included (overdue, then open, then the id's code points)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlmodel import Session

from ledger import kpis
from ledger.ingest import ingest
from ledger.schemas import IngestBatch

AS_OF = dt.date(2025, 6, 30)


def test_one_currency_ranking_equals_the_general_one(db):
    # overdue: b = B = a1 = 300 (open 300, 300, 400), Z 50, c 0 (not due); GBP's G1 is left out in EUR
    invoices = [("b", "b1", "2025-05-01", "300"), ("B", "B1", "2025-05-01", "300"),
                ("a1", "a11", "2025-05-01", "300"), ("a1", "a12", "2025-07-31", "100"),
                ("Z", "Z1", "2025-06-01", "50"), ("c", "c1", "2025-07-15", "900")]
    body = {"customers": [{"customer_id": c, "name": c.upper()} for c in ("b", "B", "a1", "Z", "c")]
            + [{"customer_id": "G1", "name": "G", "currency": "GBP"}],
            "invoices": [{"invoice_id": i, "customer_id": c, "issue_date": "2025-04-01", "due_date": due,
                          "amount": amount} for c, i, due, amount in invoices]
            + [{"invoice_id": "g1", "customer_id": "G1", "currency": "GBP", "issue_date": "2025-04-01",
                "due_date": "2025-05-01", "amount": "5000"}]}
    with Session(db) as session:
        ingest(session=session, batch=IngestBatch.model_validate(body), actor="test")
        session.commit()
    with Session(db) as session:
        one = kpis.top_debtors(session=session, as_of=AS_OF, lens=kpis.Lens.only("EUR"), limit=4)
        # a lens over two currencies takes the general path; GBP at 0 weighs nothing in the order
        general = kpis.top_debtors(session=session, as_of=AS_OF, limit=4,
                                   lens=kpis.Lens(currency="EUR", rates={"EUR": Decimal(1), "XXX": Decimal(2)}))
    assert [d.customer_id for d in one] == ["a1", "B", "b", "Z"]
    assert one == general
    assert one[0].open_balance == Decimal("400.00") and one[0].overdue_balance == Decimal("300.00")
    assert one[0].open_invoices == 2 and one[0].max_days_past_due == 60 and one[0].name == "A1"

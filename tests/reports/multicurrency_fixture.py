"""A hand-built ledger in five currencies, with hand-picked ECB rates, whose reports are worked
out by hand in tests/reports/test_currencies.py.

Rates dated 2026-06-29 (1 EUR = …): GBP 0.80 (1 GBP = 1.25 EUR), USD 1.25 (1 USD = 0.80 EUR),
CHF 0.96 (960 CHF = 1000 EUR). MAD has no rate: it is reported, never converted.

Open at 2026-06-30 (days past due):
    EI1 E1 1000 EUR           due 05-31  30  → 1–30      1000.00 EUR
    EI2 E1  500 EUR           due 07-15  −15 → not due    500.00 EUR
    GI1 G1  800 − 300 paid 06-10 = 500 GBP  due 05-01  60 → 31–60   625.00 EUR
    GI2 G1  400 GBP           due 07-01  −1  → not due    500.00 EUR
    UI1 U1 1250 USD           due 03-31  91  → 91–180    1000.00 EUR
    SI1 S1  960 CHF           due 06-20  10  → 1–30      1000.00 EUR
    MI1 M1 1000 MAD           due 06-30   0  → not due   (no rate)
Settled: UI2 U1 250 USD, due 06-09, paid 06-20 (11 days late).
Disputes: DG on GI1 (price, opened 06-01, no amount: the invoice's 800 GBP), DM on MI1 (quality).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlmodel import Session

from ledger import fx
from ledger.effects import ingest_and_apply
from ledger.schemas import IngestBatch

AS_OF = dt.date(2026, 6, 30)
RATE_DAY = dt.date(2026, 6, 29)
RATES = {"GBP": Decimal("0.80"), "USD": Decimal("1.25"), "CHF": Decimal("0.96")}


def _invoice(invoice_id, customer_id, currency, issue, due, amount):
    return {"invoice_id": invoice_id, "customer_id": customer_id, "currency": currency,
            "issue_date": issue, "due_date": due, "amount": amount}


def build_ledger(session: Session, *, rates: bool = True) -> None:
    customers = [("E1", "EUR", "Euro SARL"), ("G1", "GBP", "Pound Ltd"), ("U1", "USD", "Dollar Inc"),
                 ("S1", "CHF", "Franc AG"), ("M1", "MAD", "Dirham SA")]
    batch = IngestBatch.model_validate({
        "customers": [{"customer_id": c, "currency": cur, "name": name, "segment": "pme"}
                      for c, cur, name in customers],
        "invoices": [
            _invoice("EI1", "E1", "EUR", "2026-05-01", "2026-05-31", "1000"),
            _invoice("EI2", "E1", "EUR", "2026-06-15", "2026-07-15", "500"),
            _invoice("GI1", "G1", "GBP", "2026-04-01", "2026-05-01", "800"),
            _invoice("GI2", "G1", "GBP", "2026-06-01", "2026-07-01", "400"),
            _invoice("UI1", "U1", "USD", "2026-03-01", "2026-03-31", "1250"),
            _invoice("UI2", "U1", "USD", "2026-05-10", "2026-06-09", "250"),
            _invoice("SI1", "S1", "CHF", "2026-06-01", "2026-06-20", "960"),
            _invoice("MI1", "M1", "MAD", "2026-06-01", "2026-06-30", "1000"),
        ],
        "payments": [
            {"payment_id": "PG1", "customer_id": "G1", "currency": "GBP", "paid_on": "2026-06-10",
             "amount": "300", "invoice_id": "GI1"},
            {"payment_id": "PU2", "customer_id": "U1", "currency": "USD", "paid_on": "2026-06-20",
             "amount": "250", "invoice_id": "UI2"},
        ],
        "disputes": [
            {"dispute_id": "DG", "invoice_id": "GI1", "opened_on": "2026-06-01", "reason": "price"},
            {"dispute_id": "DM", "invoice_id": "MI1", "opened_on": "2026-06-20", "reason": "quality"},
        ],
    })
    ingest_and_apply(today=dt.date.today(), session=session, batch=batch, actor="test")
    if rates:
        fx.store_rates(session=session, rates=[fx.RateIn(currency=c, rate_date=RATE_DAY, rate=r)
                                               for c, r in RATES.items()])
    session.commit()

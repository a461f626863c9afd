"""The stored open amounts the worklist ranks its candidates by (`WorklistOpen`, kept by
triggers on `invoice`) always equal the aggregate of the open invoices computed now: after random
ingests (new invoices, payments, re-sent invoices, credit notes, a bulk load large enough for
the COPY / load-table path) and after writes that bypass ingestion (SQL updates and deletes);
and the worklist's page over several currencies, with and without a rate, equals scoring every
candidate."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import delete, func, update
from sqlmodel import Session, select

from ledger.ingest import ingest
from ledger.schemas import IngestBatch
from ledger.tables import Customer, ExchangeRate, Invoice
from ledger.worklist import fresh_open, stored_open, worklist, worklist_full

TODAY = dt.date(2025, 6, 30)
CURRENCIES = ["EUR", "EUR", "EUR", "GBP", "USD"]


def _agree(session: Session, step: object) -> None:
    assert stored_open(session) == fresh_open(session), step


def _invoice(rng: random.Random, invoice_id: str, customer_id: str) -> dict:
    issued = TODAY - dt.timedelta(days=rng.randint(0, 200))
    return {"invoice_id": invoice_id, "customer_id": customer_id, "issue_date": issued,
            "due_date": issued + dt.timedelta(days=30),
            "amount": Decimal(rng.randint(100, 900_000)) / 100, "currency": rng.choice(CURRENCIES)}


def _random_batch(rng: random.Random, session: Session, step: int, customers: list[str]) -> dict:
    batch: dict = {"customers": [], "invoices": [], "payments": []}
    for customer_id in rng.sample(customers, rng.randint(1, 3)):
        open_rows = session.exec(select(Invoice).where(Invoice.customer_id == customer_id,
                                                       Invoice.settled_on.is_(None),
                                                       Invoice.kind == "invoice")).all()
        move = rng.choice(["invoice", "invoice", "payment", "resend", "credit"] if open_rows else ["invoice"])
        if move == "invoice":
            batch["invoices"].append(_invoice(rng, f"N{step}-{customer_id}", customer_id))
        elif move == "payment":
            target = rng.choice(open_rows)
            share = Decimal(rng.choice(["0.3", "1"]))
            batch["payments"].append({"payment_id": f"P{step}-{customer_id}", "customer_id": customer_id,
                                      "paid_on": TODAY, "currency": target.currency,
                                      "amount": (target.open_amount * share).quantize(Decimal("0.01")),
                                      "invoice_id": target.invoice_id})
        elif move == "resend":  # the same invoice sent again, its amount corrected
            target = rng.choice(open_rows)
            batch["invoices"].append({"invoice_id": target.invoice_id, "customer_id": customer_id,
                                      "issue_date": target.issue_date, "due_date": target.due_date,
                                      "amount": target.amount + Decimal("12.34"),
                                      "currency": target.currency})
        else:
            target = rng.choice(open_rows)
            batch["invoices"].append({"invoice_id": f"CN{step}-{customer_id}", "customer_id": customer_id,
                                      "issue_date": TODAY, "due_date": TODAY, "kind": "credit_note",
                                      "amount": (target.open_amount / 2).quantize(Decimal("0.01")),
                                      "currency": target.currency, "applies_to": target.invoice_id})
    return batch


def test_the_stored_open_amounts_equal_the_open_invoices_after_any_writes(db):
    rng = random.Random(25)
    customers = [f"W{c:03d}" for c in range(40)]
    with Session(db) as session:
        # a first load large enough for the bulk path (COPY on PostgreSQL, a load table on SQLite)
        bulk = [_invoice(rng, f"B{k:05d}", rng.choice(customers)) for k in range(2_500)]
        ingest(session=session, batch=IngestBatch.model_validate({
            "customers": [{"customer_id": c, "name": c} for c in customers], "invoices": bulk}),
            actor="test", source="test")
        session.commit()
        _agree(session, "bulk load")
        for step in range(60):
            batch = _random_batch(rng, session, step, customers)
            ingest(session=session, batch=IngestBatch.model_validate(batch), actor="test", source="test")
            session.commit()
            _agree(session, (step, batch))
            if step % 10 == 5:  # writes that bypass ingestion: the database keeps the sums still
                chosen = rng.sample(customers, 3)
                session.execute(update(Invoice).where(Invoice.customer_id == chosen[0],
                                                      Invoice.kind == "invoice")
                                .values(open_amount=func.round(Invoice.open_amount / 2, 2)))
                session.execute(update(Invoice).where(Invoice.customer_id == chosen[1],
                                                      ~Invoice.invoice_id.in_(_referenced(session)))
                                .values(customer_id=chosen[2]))
                victims = list(session.exec(select(Invoice.invoice_id).where(
                    Invoice.settled_on.is_(None)).limit(5)).all())
                session.execute(delete(Invoice).where(Invoice.invoice_id.in_(victims),
                                                      ~Invoice.invoice_id.in_(_referenced(session))))
                session.commit()
                _agree(session, (step, "sql"))
        assert len(stored_open(session)) > 40  # several currencies per customer, many customers
        session.execute(update(Invoice).values(settled_on=TODAY))
        session.commit()
        assert stored_open(session) == {}


def _referenced(session: Session):
    """Invoices something else points at (allocations, credit notes): left where they are."""
    from ledger.tables import Allocation

    credited = select(Invoice.applies_to).where(Invoice.applies_to.is_not(None))
    return select(Allocation.invoice_id).union(credited)


def test_the_page_over_several_currencies_equals_scoring_every_candidate(db):
    rng = random.Random(7)
    customers = [f"M{c:03d}" for c in range(150)]
    with Session(db) as session:
        invoices = [_invoice(rng, f"I{k:04d}", rng.choice(customers)) for k in range(600)]
        ingest(session=session, batch=IngestBatch.model_validate({
            "customers": [{"customer_id": c, "name": c, "segment": ("pme", "ge")[i % 2]}
                          for i, c in enumerate(customers)],
            "invoices": invoices}), actor="test", source="test")
        for agent in range(3):  # portfolios are assigned, not ingested
            session.execute(update(Customer).where(Customer.customer_id.in_(customers[agent::3]))
                            .values(assigned_agent=f"a{agent}"))
        session.commit()
        cases = [{"limit": 1}, {"limit": 10}, {"limit": 7, "offset": 9}, {"limit": 50},
                 {"limit": 10, "agent": "a2"}, {"limit": 10, "bucket": "1-30"},
                 {"limit": 10, "currency": "EUR", "segment": "ge"}, {"limit": 200}]
        for rates in ([], [("GBP", "0.85")], [("GBP", "0.85"), ("USD", "1.08")]):
            for code, rate in rates:
                session.merge(ExchangeRate(currency=code, rate_date=TODAY, rate=Decimal(rate)))
            session.commit()
            for case in cases:
                fast = worklist(session=session, today=TODAY, **case)
                full = worklist_full(session=session, today=TODAY, **case)
                assert [r.model_dump() for r in fast] == [r.model_dump() for r in full], (rates, case)
                assert fast, case

"""Ingestion on a real database (SQLite, and PostgreSQL when configured): idempotent upserts,
allocation, all-or-nothing on bad input."""
import datetime as dt
from decimal import Decimal as D

import pytest
from sqlmodel import Session, func, select

from ledger.effects import ingest_and_apply
from ledger.errors import LedgerValidationError
from ledger.ingest import ingest
from ledger.schemas import IngestBatch
from ledger.tables import Allocation, AuditLog, Customer, Invoice, Payment

BATCH = {
    "customers": [{"customer_id": "C1", "name": "Dupont SARL", "country": "FR"},
                  {"customer_id": "C2", "name": "Acme Ltd", "country": "GB", "language": "en"}],
    "invoices": [
        {"invoice_id": "F1", "customer_id": "C1", "issue_date": "2024-01-01", "due_date": "2024-01-31", "amount": "100.10"},
        {"invoice_id": "F2", "customer_id": "C1", "issue_date": "2024-01-15", "due_date": "2024-02-14", "amount": "50.00"},
        {"invoice_id": "AV1", "customer_id": "C1", "issue_date": "2024-02-01", "due_date": "2024-02-01", "amount": "10.00", "kind": "credit_note"},
        {"invoice_id": "F3", "customer_id": "C2", "issue_date": "2024-01-01", "due_date": "2024-03-01", "amount": "999.99"},
    ],
    "payments": [
        {"payment_id": "P1", "customer_id": "C1", "paid_on": "2024-02-10", "amount": "120.00"},
        {"payment_id": "P2", "customer_id": "C2", "paid_on": "2024-03-05", "amount": "1000.00", "invoice_id": "F3"},
    ],
}


def run(session: Session, body: dict, actor: str = "test"):
    result = ingest(session=session, batch=IngestBatch.model_validate(body), actor=actor)
    session.commit()
    return result


def test_balances_are_derived_from_allocations(session):
    run(session, BATCH)
    f1, f2, f3 = (session.get(Invoice, i) for i in ("F1", "F2", "F3"))
    assert (f1.open_amount, f1.settled_on) == (D("0"), dt.date(2024, 2, 10))
    # F2: 50 − credit note 10 − the 19.90 left of P1
    assert f2.open_amount == D("20.10") and f2.settled_on is None
    assert (f3.open_amount, f3.settled_on) == (D("0"), dt.date(2024, 3, 5))
    assert session.get(Customer, "C2").credit_balance == D("0.01")
    assert session.get(Payment, "P2").unallocated_amount == D("0.01")


def test_same_batch_twice_leaves_one_copy(session):
    first = run(session, BATCH)
    second = run(session, BATCH)
    assert first.invoices["created"] == 4
    assert second.invoices == {"created": 0, "updated": 0, "unchanged": 4}
    assert session.exec(select(func.count()).select_from(Invoice)).one() == 4
    assert session.exec(select(func.count()).select_from(Payment)).one() == 2
    assert session.exec(select(func.sum(Payment.amount))).one() == D("1120.00")
    allocated = session.exec(select(func.sum(Allocation.amount))).one()
    # payments and the credit note, but for C2's 0.01 of credit
    assert allocated == D("1120.00") + D("10.00") - D("0.01")


def test_a_correction_replays_the_allocation(session):
    run(session, BATCH)
    corrected = {"invoices": [dict(BATCH["invoices"][0], amount="130.00")]}
    result = run(session, corrected)
    assert result.invoices["updated"] == 1
    f1, f2 = session.get(Invoice, "F1"), session.get(Invoice, "F2")
    session.refresh(f1), session.refresh(f2)
    # the credit note now goes to F1 (oldest due), and P1 no longer reaches F2
    assert f1.open_amount == D("0") and f1.settled_on == dt.date(2024, 2, 10)
    assert f2.open_amount == D("50.00") and f2.settled_on is None


def test_payment_arriving_before_a_later_batch_of_invoices_pays_them(session):
    run(session, {"customers": [{"customer_id": "C9"}],
                  "payments": [{"payment_id": "PX", "customer_id": "C9", "paid_on": "2024-01-05", "amount": "40"}]})
    assert session.get(Customer, "C9").credit_balance == D("40")
    run(session, {"invoices": [{"invoice_id": "FX", "customer_id": "C9", "issue_date": "2024-01-10",
                                "due_date": "2024-02-10", "amount": "40"}]})
    assert session.get(Invoice, "FX").settled_on == dt.date(2024, 1, 10)
    customer = session.get(Customer, "C9")
    session.refresh(customer)
    assert customer.credit_balance == D("0")


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b["invoices"][0].update(customer_id="NOPE"), "invoices[0].customer_id"),
    (lambda b: b["payments"][0].update(invoice_id="NOPE"), "payments[0].invoice_id"),
    (lambda b: b["payments"][1].update(invoice_id="F1"), "payments[1].invoice_id"),
])
def test_bad_references_store_nothing(session, mutate, field):
    import copy

    body = copy.deepcopy(BATCH)
    mutate(body)
    with pytest.raises(LedgerValidationError) as raised:
        run(session, body)
    session.rollback()
    assert field in [e.field for e in raised.value.errors]
    assert session.exec(select(func.count()).select_from(Customer)).one() == 0
    assert session.exec(select(func.count()).select_from(Invoice)).one() == 0


def test_every_ingestion_is_audited(session):
    run(session, BATCH, actor="billing:erp")
    entries = session.exec(select(AuditLog).where(AuditLog.action == "ingest")).all()
    assert len(entries) == 1
    assert entries[0].actor == "billing:erp"
    assert entries[0].after["invoices"]["created"] == 4


def test_a_credit_note_naming_its_invoice_reduces_that_one(session):
    body = {"customers": [{"customer_id": "C1"}], "invoices": [
        {"invoice_id": "A", "customer_id": "C1", "issue_date": "2024-01-01", "due_date": "2024-01-31", "amount": "100"},
        {"invoice_id": "B", "customer_id": "C1", "issue_date": "2024-01-02", "due_date": "2024-02-01", "amount": "40"},
        {"invoice_id": "AV", "customer_id": "C1", "issue_date": "2024-01-10", "due_date": "2024-01-10",
         "amount": "40", "kind": "credit_note", "applies_to": "B"}]}
    run(session, body)
    assert session.get(Invoice, "A").open_amount == D("100")
    assert session.get(Invoice, "B").settled_on == dt.date(2024, 1, 10)
    body["invoices"][2]["applies_to"] = "NOPE"
    with pytest.raises(LedgerValidationError) as raised:
        run(session, body)
    assert raised.value.errors[0].field == "invoices[2].applies_to"


def test_a_payment_cancels_the_reminders_planned_for_its_invoice(session):
    from ledger.tables import DunningAction

    run(session, BATCH)
    session.add(DunningAction(customer_id="C1", invoice_id="F2", step="d+3", action="email",
                              channel="email", send_on=dt.date(2024, 2, 17)))
    session.commit()
    batch = IngestBatch.model_validate({"payments": [{"payment_id": "P9", "customer_id": "C1",
                                                      "paid_on": "2024-02-20", "amount": "5.00", "invoice_id": "F2"}]})
    # the ingestion's effects (ledger.effects) cancel it, as the API, the importers and the CLI do
    ingest_and_apply(session=session, batch=batch, actor="test", today=dt.date(2024, 2, 20))
    session.commit()
    action = session.exec(select(DunningAction)).one()
    session.refresh(action)
    assert action.state == "cancelled"

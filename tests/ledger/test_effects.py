"""Ingestion's side effects made explicit: `ingest` says what changed and sets nothing off;
`ledger.effects` cancels what is no longer due and re-evaluates promises as of the date it is
given. Dispute statuses outside the workflow are refused (422 over HTTP, a line of the import
report for files). Hand-built ledgers, answers worked out by hand."""
import datetime as dt
from decimal import Decimal as D

import pytest
from sqlmodel import select

from ledger.effects import apply_ingest_effects, ingest_and_apply
from ledger.errors import LedgerValidationError
from ledger.importers import import_ledger_dir
from ledger.ingest import ingest
from ledger.schemas import IngestBatch
from ledger.tables import DunningAction, Promise, PromiseInvoice

TODAY = dt.date(2025, 3, 10)
LEDGER = {
    "customers": [{"customer_id": "C1", "name": "Dupont SARL"}, {"customer_id": "C2", "name": "Acme"}],
    "invoices": [
        {"invoice_id": "F1", "customer_id": "C1", "issue_date": "2025-01-01", "due_date": "2025-01-31", "amount": "100.00"},
        {"invoice_id": "F2", "customer_id": "C1", "issue_date": "2025-01-10", "due_date": "2025-02-09", "amount": "50.00"},
        {"invoice_id": "F3", "customer_id": "C2", "issue_date": "2025-01-05", "due_date": "2025-02-04", "amount": "80.00"},
    ],
}


def _planned(session, invoice_id: str, step: str = "first") -> None:
    session.add(DunningAction(customer_id="C2" if invoice_id == "F3" else "C1",
                              invoice_id=invoice_id, step=step, action="email", channel="email",
                              send_on=TODAY, run_date=TODAY))


def _states(session) -> dict[str, str]:
    return {a.invoice_id: a.state for a in session.exec(select(DunningAction))}


@pytest.fixture
def planned(session):
    """The ledger above, and a reminder planned on each of its three invoices."""
    ingest_and_apply(session=session, batch=IngestBatch.model_validate(LEDGER), actor="test", today=TODAY)
    for invoice_id in ("F1", "F2", "F3"):
        _planned(session, invoice_id)
    session.commit()
    return session


def test_ingest_says_what_changed_and_sets_nothing_off(planned):
    # 100 pays F1 in full (oldest first); F3 is disputed; C2 is put on hold
    result = ingest(session=planned, actor="test", batch=IngestBatch.model_validate({
        "customers": [{"customer_id": "C2", "name": "Acme", "on_hold": True}],
        "payments": [{"payment_id": "P1", "customer_id": "C1", "paid_on": "2025-03-05", "amount": "100.00"}],
        "disputes": [{"dispute_id": "D1", "invoice_id": "F3", "opened_on": "2025-03-06", "reason": "price"}]}))
    changes = result.changes
    assert changes.paid_invoices == ["F1"]
    assert changes.disputed_invoices == ["F3"]
    assert changes.stopped_customers == ["C2"]
    assert changes.customers == ["C1", "C2"]
    assert changes.promise_customers == ["C1", "C2"]  # the batch paid: every customer it touched
    assert changes.reallocated_customers == ["C1"]
    # nothing was cancelled yet: that is the effects' job
    assert set(_states(planned).values()) == {"planned"}
    # and the client's answer (and the audit row) stay as they were: no `changes` in them
    assert "changes" not in result.model_dump()

    effects = apply_ingest_effects(planned, changes, today=TODAY, actor="test")
    # F1 paid and F3 disputed (C2's hold would cancel F3 too, but it is cancelled once)
    assert effects.actions_cancelled == 2
    assert _states(planned) == {"F1": "cancelled", "F2": "planned", "F3": "cancelled"}


def test_effects_evaluate_promises_as_of_the_date_given(planned):
    # C1 promised 50 on F2 for 2025-03-15; it pays 50 on 2025-03-12
    planned.add(Promise(promise_id="PR1", customer_id="C1", amount=D("50.00"),
                        promised_date=dt.date(2025, 3, 15), created_on=TODAY))
    planned.add(PromiseInvoice(promise_id="PR1", invoice_id="F2"))
    planned.commit()
    batch = IngestBatch.model_validate({"payments": [
        {"payment_id": "P2", "customer_id": "C1", "paid_on": "2025-03-12", "amount": "50.00"}]})
    result = ingest(session=planned, batch=batch, actor="test")
    # as of the 11th the payment has not arrived yet: the promise stays open
    early = apply_ingest_effects(planned, result.changes, today=dt.date(2025, 3, 11), actor="test")
    assert early.promises is not None and early.promises.kept == []
    assert planned.get(Promise, "PR1").status == "open"
    # as of the 13th it has: kept
    late = apply_ingest_effects(planned, result.changes, today=dt.date(2025, 3, 13), actor="test")
    assert late.promises is not None and late.promises.kept == ["PR1"]
    assert planned.get(Promise, "PR1").status == "kept"


def test_a_dispute_status_outside_the_workflow_is_refused(session):
    batch = {**LEDGER, "disputes": [{"dispute_id": "D1", "invoice_id": "F3", "opened_on": "2025-03-06",
                                     "status": "resolved"}]}
    with pytest.raises(ValueError, match="resolved_rejected"):
        IngestBatch.model_validate(batch)
    batch["disputes"][0]["status"] = "resolved_credit_note"
    assert IngestBatch.model_validate(batch).disputes[0].status == "resolved_credit_note"


def test_the_api_answers_422_naming_the_status(client, keys):
    body = {**LEDGER, "disputes": [{"dispute_id": "D1", "invoice_id": "F3", "opened_on": "2025-03-06",
                                    "status": "closed"}]}
    response = client.post("/api/v1/ingest", json=body, headers=keys["billing"])
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["disputes[0].status"]
    assert "in_review" in errors[0]["message"]


def test_an_import_reports_the_file_line_and_column(session, tmp_path):
    (tmp_path / "customers.csv").write_text("customer_id,name\nC1,Dupont\n")
    (tmp_path / "invoices.csv").write_text(
        "invoice_id,customer_id,issue_date,due_date,amount\nF1,C1,2025-01-01,2025-01-31,100.00\n")
    (tmp_path / "payments.csv").write_text("payment_id,customer_id,paid_on,amount\n")
    (tmp_path / "disputes.csv").write_text(
        "dispute_id,invoice_id,opened_on,reason,status\nD1,F1,2025-02-01,price,open\nD2,F1,2025-02-02,price,resolved\n")
    with pytest.raises(LedgerValidationError) as raised:
        import_ledger_dir(session=session, directory=tmp_path, actor="test", today=TODAY)
    assert [e.field for e in raised.value.errors] == ["disputes.csv line 3, column status"]

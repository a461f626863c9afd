"""Dispute workflow through the API: opening on several invoices, pausing dunning, validated
transitions (illegal → 409 with a sentence), comments, credit note resolution."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session, select

from ledger.pauses import paused_invoice_ids
from ledger.tables import Event, Invoice
from ledger.workflow import TRANSITIONS
from tests.collections.conftest import API, TODAY, invoice


def open_on_b(client, keys, **extra):
    body = {"invoices": [{"invoice_id": "B3", "amount": "1200.00"}, {"invoice_id": "B4"}],
            "reason": "price", "assignee": "bob", "comment": "Tarif 2024 appliqué"} | extra
    response = client.post(f"{API}/disputes", json=body, headers=keys["agent"])
    assert response.status_code == 201, response.text
    return response.json()


def test_reason_codes_have_french_and_english_labels(client, keys):
    reasons = client.get(f"{API}/disputes/reasons", headers=keys["agent"]).json()
    codes = [r["code"] for r in reasons]
    assert codes == ["price", "quantity", "quality", "not_delivered", "duplicate_invoice",
                     "already_paid", "other"]
    duplicate = reasons[codes.index("duplicate_invoice")]
    assert duplicate["label"] == duplicate["fr"] == "Facture en double"
    english = client.get(f"{API}/disputes/reasons?lang=en", headers=keys["agent"]).json()
    assert english[codes.index("duplicate_invoice")]["label"] == "Duplicate invoice"


def test_open_dispute_on_two_invoices_pauses_their_dunning(client, keys, ledger, db):
    dispute = open_on_b(client, keys)
    assert dispute["dispute_id"].startswith("DSP-")
    assert dispute["customer_id"] == "B" and dispute["status"] == "open"
    assert {(i["invoice_id"], i["amount"]) for i in dispute["invoices"]} == {("B3", "1200.00"), ("B4", "1000.00")}
    assert dispute["amount"] == "2200.00" and dispute["age_days"] == 0
    assert dispute["comments"][0]["body"] == "Tarif 2024 appliqué"
    assert dispute["opened_by"] == "agent:test-agent"
    with Session(db) as session:
        assert paused_invoice_ids(session=session, today=TODAY) == {"B3", "B4"}
        assert paused_invoice_ids(session=session, today=TODAY, customer_ids=["A"]) == set()
        events = session.exec(select(Event).where(Event.type == "dispute.opened")).all()
    assert [e.entity_id for e in events] == [dispute["dispute_id"]]
    assert events[0].payload["invoice_ids"] == ["B3", "B4"]


def test_invalid_disputes_name_the_field(client, keys, ledger):
    mixed = {"invoices": [{"invoice_id": "A3"}, {"invoice_id": "B3"}], "reason": "price"}
    response = client.post(f"{API}/disputes", json=mixed, headers=keys["agent"])
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "invoices"
    too_much = {"invoices": [{"invoice_id": "A3", "amount": "1000.01"}], "reason": "price"}
    response = client.post(f"{API}/disputes", json=too_much, headers=keys["agent"])
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "invoices[0].amount"
    unknown = {"invoices": [{"invoice_id": "A3"}], "reason": "mood"}
    assert client.post(f"{API}/disputes", json=unknown, headers=keys["agent"]).status_code == 422
    missing = {"invoices": [{"invoice_id": "NOPE"}], "reason": "other"}
    # to an agent an unknown invoice is one outside their portfolio: 404, as for any id
    assert client.post(f"{API}/disputes", json=missing, headers=keys["agent"]).status_code == 404
    response = client.post(f"{API}/disputes", json=missing, headers=keys["admin"])
    assert response.json()["errors"][0]["field"] == "invoices[0].invoice_id"


def test_workflow_and_illegal_transitions_are_409_with_a_sentence(client, keys, ledger, app):
    dispute_id = open_on_b(client, keys, dispute_id="D-1")["dispute_id"]
    assert dispute_id == "D-1"
    patch = lambda body: client.patch(f"{API}/disputes/D-1", json=body, headers=keys["agent"])  # noqa: E731
    moved = patch({"status": "in_review", "assignee": "alice"}).json()
    assert moved["status"] == "in_review" and moved["assignee"] == "alice"
    assert set(moved["allowed_transitions"]) == set(TRANSITIONS["in_review"])
    back = patch({"status": "open"})
    assert back.status_code == 409
    assert back.json()["detail"] == ("A dispute cannot go from in_review to open: it can only go to "
                                     "proposed_credit_note, resolved_credit_note, resolved_rejected, "
                                     "withdrawn.")
    same = patch({"status": "in_review"})
    assert same.status_code == 409 and "already in_review" in same.json()["detail"]
    from datetime import timedelta
    app.state.today = TODAY + timedelta(days=12)
    done = patch({"status": "resolved_rejected", "comment": "Tarif contractuel confirmé"}).json()
    assert done["status"] == "resolved_rejected" and done["age_days"] == 12
    assert done["resolved_on"] == "2025-07-12" and done["status_changed_at"] is not None
    final = patch({"status": "withdrawn"})
    assert final.status_code == 409 and "its status is final" in final.json()["detail"]


@pytest.mark.parametrize("target", ["resolved_rejected", "withdrawn", "resolved_credit_note"])
def test_open_goes_straight_to_a_resolution_and_dunning_resumes(client, keys, ledger, db, target):
    open_on_b(client, keys, dispute_id="D-2")
    # a credit note writes money off: an analyst resolves with one, an agent the others
    role = "analyst" if target == "resolved_credit_note" else "agent"
    response = client.patch(f"{API}/disputes/D-2", json={"status": target}, headers=keys[role])
    assert response.status_code == 200, response.text
    with Session(db) as session:
        assert paused_invoice_ids(session=session, today=TODAY) == set()


def test_credit_note_resolution_lowers_the_balance(client, keys, ledger, db):
    before = client.get(f"{API}/customers/B", headers=keys["agent"]).json()["open_balance"]
    open_on_b(client, keys, dispute_id="D-3")
    response = client.patch(f"{API}/disputes/D-3", json={"status": "resolved_credit_note",
                                                         "credit_amount": "700.00"}, headers=keys["analyst"])
    assert response.status_code == 200, response.text
    credit_note_id = response.json()["credit_note_id"]
    # drawn by the server, not derived from the dispute id a client chose
    assert credit_note_id.startswith("CN-") and "D-3" not in credit_note_id
    after = client.get(f"{API}/customers/B", headers=keys["agent"]).json()["open_balance"]
    assert Decimal(before) - Decimal(after) == Decimal("700.00")
    with Session(db) as session:
        note = session.get(Invoice, credit_note_id)
        assert note.kind == "credit_note" and note.amount == Decimal("700.00")
        assert note.customer_id == "B" and note.open_amount == Decimal("0")
    over = client.post(f"{API}/disputes", json={"dispute_id": "D-4", "invoices": [{"invoice_id": "A3", "amount": "10"}],
                                                "reason": "quality"}, headers=keys["agent"])
    assert over.status_code == 201
    too_much = client.patch(f"{API}/disputes/D-4", json={"status": "resolved_credit_note", "credit_amount": "11"},
                            headers=keys["analyst"])
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "credit_amount"
    assert client.get(f"{API}/disputes/D-4", headers=keys["agent"]).json()["status"] == "open"


def test_an_agent_proposes_a_credit_note_an_analyst_approves_it(client, keys, ledger, db):
    open_on_b(client, keys, dispute_id="D-6")
    denied = client.patch(f"{API}/disputes/D-6", json={"status": "resolved_credit_note"}, headers=keys["agent"])
    assert denied.status_code == 403 and "proposed_credit_note" in denied.json()["detail"]
    with Session(db) as session:
        assert session.exec(select(Invoice).where(Invoice.kind == "credit_note")).all() == []
    proposed = client.patch(f"{API}/disputes/D-6", json={"status": "proposed_credit_note", "credit_amount": "250.00"},
                            headers=keys["agent"])
    assert proposed.status_code == 200, proposed.text
    body = proposed.json()
    assert body["status"] == "proposed_credit_note" and body["proposed_credit_amount"] == "250.00"
    assert body["proposed_by"] == "agent:test-agent" and body["credit_note_id"] is None
    with Session(db) as session:  # still pausing dunning while it waits for approval
        assert paused_invoice_ids(session=session, today=TODAY) == {"B3", "B4"}
    approved = client.patch(f"{API}/disputes/D-6", json={"status": "resolved_credit_note"}, headers=keys["analyst"])
    assert approved.status_code == 200, approved.text
    with Session(db) as session:
        note = session.get(Invoice, approved.json()["credit_note_id"])
        assert note.amount == Decimal("250.00") and note.customer_id == "B"


def test_a_credit_note_never_replaces_an_existing_record(client, keys, ledger, db):
    # another customer's credit note under the id the old code derived from the dispute id
    taken = {"invoices": [invoice("CN-D-7", "A", "2025-06-01", "2025-06-01", "5.00", kind="credit_note")]}
    assert client.post(f"{API}/ingest", json=taken, headers=keys["billing"]).status_code == 200
    open_on_b(client, keys, dispute_id="D-7")
    response = client.patch(f"{API}/disputes/D-7", json={"status": "resolved_credit_note"}, headers=keys["analyst"])
    assert response.status_code == 200, response.text
    assert response.json()["credit_note_id"] != "CN-D-7"
    with Session(db) as session:
        kept = session.get(Invoice, "CN-D-7")
        assert (kept.customer_id, kept.amount) == ("A", Decimal("5.00"))


def test_comments_and_listing(client, keys, ledger):
    open_on_b(client, keys, dispute_id="D-5")
    response = client.post(f"{API}/disputes/D-5/comments", json={"body": "Client rappelé"}, headers=keys["agent"])
    assert [c["body"] for c in response.json()["comments"]] == ["Tarif 2024 appliqué", "Client rappelé"]
    assert [d["dispute_id"] for d in client.get(f"{API}/disputes?invoice_id=B4", headers=keys["analyst"]).json()] == ["D-5"]
    assert client.get(f"{API}/disputes?customer_id=A", headers=keys["analyst"]).json() == []
    assert len(client.get(f"{API}/disputes?status=active", headers=keys["analyst"]).json()) == 1
    assert client.get(f"{API}/disputes/NOPE", headers=keys["agent"]).status_code == 404


def test_opening_a_dispute_cancels_reminders_already_planned(client, keys, ledger, db):
    import datetime as dt

    from ledger.tables import DunningAction

    with Session(db) as session:
        for invoice_id in ("B3", "A3"):
            session.add(DunningAction(customer_id=invoice_id[0], invoice_id=invoice_id, run_date=TODAY,
                                      step="s1", action="email", channel="email",
                                      send_on=TODAY + dt.timedelta(days=1), state="planned"))
        session.commit()
    open_on_b(client, keys)
    with Session(db) as session:
        states = dict(session.exec(select(DunningAction.invoice_id, DunningAction.state)).all())
    assert states == {"B3": "cancelled", "A3": "planned"}

"""A stored record never silently changes customer or kind (409 naming its customer), even when
two clients send it at once; the ledger's invariants (`relance check`) catch what would break."""
from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from ledger.errors import LedgerConflictError
from ledger.ingest import ingest
from ledger.invariants import check_ledger
from ledger.schemas import IngestBatch
from ledger.tables import Allocation, Invoice, Payment
from tests.ledger.test_ingest import BATCH, run
from tests.server import running


def test_a_payment_sent_again_under_another_customer_is_refused(session, db):
    run(session, BATCH)
    moved = {"payments": [{"payment_id": "P1", "customer_id": "C2", "paid_on": "2024-02-10",
                           "amount": "120.00"}]}
    with pytest.raises(LedgerConflictError) as caught:
        ingest(session=session, batch=IngestBatch.model_validate(moved), actor="test")
    session.rollback()
    error = caught.value.errors[0]
    assert error.field == "payments[0].customer_id"
    assert "'P1' belongs to customer 'C1'" in error.message and "'C2'" in error.message
    # nothing moved: P1 still settles C1's invoices only, C2's F3 is paid by P2 alone
    assert session.get(Payment, "P1").customer_id == "C1"
    assert session.exec(select(func.sum(Allocation.amount)).where(Allocation.source_id == "P1")).one() == D("120.00")
    assert check_ledger(db) == []


def test_an_invoice_never_changes_customer_nor_kind(session):
    run(session, BATCH)
    body = copy.deepcopy(BATCH)
    body["invoices"][0]["customer_id"] = "C2"  # F1 of C1, now said to be C2's
    body["invoices"][2]["kind"] = "invoice"  # AV1, a credit note, now said to be an invoice
    with pytest.raises(LedgerConflictError) as caught:
        ingest(session=session, batch=IngestBatch.model_validate(body), actor="test")
    session.rollback()
    fields = {e.field: e.message for e in caught.value.errors}
    assert "invoice 'F1' belongs to customer 'C1'" in fields["invoices[0].customer_id"]
    assert "stored as 'credit_note'" in fields["invoices[2].kind"]
    assert session.get(Invoice, "F1").customer_id == "C1"
    assert session.get(Invoice, "AV1").kind == "credit_note"


def test_the_api_answers_409_naming_the_record_and_its_customer(client, keys):
    assert client.post("/api/v1/ingest", json=BATCH, headers=keys["billing"]).status_code == 200
    moved = copy.deepcopy(BATCH)
    moved["payments"][1]["customer_id"] = "C1"
    moved["payments"][1]["invoice_id"] = None
    response = client.post("/api/v1/ingest", json=moved, headers=keys["billing"])
    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0]["field"] == "payments[1].customer_id"
    assert "payment 'P2' belongs to customer 'C2'" in body["detail"]


def _batch(customer: str, n: int) -> dict:
    # the same new payment ids, each client saying they are another customer's
    return {"customers": [{"customer_id": customer}],
            "invoices": [{"invoice_id": f"{customer}-F{i}", "customer_id": customer,
                          "issue_date": "2024-01-01", "due_date": "2024-01-31", "amount": "100.00"}
                         for i in range(n)],
            "payments": [{"payment_id": f"PAY{i}", "customer_id": customer, "paid_on": "2024-02-01",
                          "amount": "100.00"} for i in range(n)]}


def test_two_clients_creating_one_payment_for_two_customers_at_once(app, keys, db):
    with running(app) as url:
        def send(body):
            with httpx.Client(base_url=url, headers=keys["billing"], timeout=60) as http:
                return http.post("/api/v1/ingest", json=body).status_code

        rounds = []
        for round_ in range(3):
            a, b = _batch(f"A{round_}", 20), _batch(f"B{round_}", 20)
            for p in a["payments"] + b["payments"]:
                p["payment_id"] = f"R{round_}-{p['payment_id']}"
            with ThreadPoolExecutor(2) as pool:
                rounds.append(sorted(pool.map(send, [a, b])))
    # each time exactly one client wins and the other is told the payments are taken
    assert rounds == [[200, 409]] * 3
    with Session(db) as session:
        assert session.exec(select(func.count()).select_from(Payment)).one() == 60
        # every payment settles one invoice, never one of each customer
        assert session.exec(select(func.sum(Allocation.amount))).one() == D("6000.00")
        settled = session.exec(select(func.count()).select_from(Invoice)
                               .where(Invoice.open_amount == 0)).one()
        assert settled == 60
    assert check_ledger(db) == []


# --- the invariants themselves ---------------------------------------------------------------

def _break(connection) -> None:
    """A hand-built broken ledger: P1 (100.00) allocated 120.00; F2 open −5.00; an allocation
    joining C2's invoice F3 to C1's payment P1."""
    connection.execute(text("DELETE FROM allocation"))
    connection.execute(text(
        "INSERT INTO allocation (customer_id, invoice_id, source_kind, source_id, amount, allocated_on) "
        "VALUES ('C1', 'F1', 'payment', 'P1', 60, '2024-02-10'), "
        "('C1', 'F2', 'payment', 'P1', 60, '2024-02-10'), "
        "('C2', 'F3', 'payment', 'P1', 1, '2024-02-10')"))
    connection.execute(text("UPDATE payment SET amount = 100 WHERE payment_id = 'P1'"))
    connection.execute(text("UPDATE invoice SET open_amount = -5 WHERE invoice_id = 'F2'"))


def _repair(session: Session) -> None:
    session.rollback()
    session.execute(text("DELETE FROM allocation"))
    session.execute(text("DELETE FROM payment"))
    session.execute(text("UPDATE invoice SET open_amount = amount"))
    session.commit()


def test_check_ledger_lists_each_violation(session, db):
    run(session, BATCH)
    assert check_ledger(db) == []
    with db.begin() as connection:
        _break(connection)
    try:
        found = {(v.rule, v.record) for v in check_ledger(db)}
        cross = next(v for v in check_ledger(db) if v.rule == "cross_customer")
        assert found == {("over_allocated", "payment P1"), ("open_out_of_range", "invoice F2"),
                         ("cross_customer", cross.record)}
        # P1: 60 + 60 + 1 allocated against 100
        over = next(v for v in check_ledger(db) if v.rule == "over_allocated")
        assert over.detail == {"amount": "100.00", "allocated": "121.00"}
        assert "facture F3 (client C2)" in cross.sentence("fr") and "payment P1 (client C1)" in cross.sentence("fr")
    finally:
        _repair(session)


def _cli(monkeypatch, tmp_path, lang: str | None = None):
    from ledger.config import get_settings
    from ledger.db import get_engine
    from serving.cli import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'check.db'}")
    if lang:
        monkeypatch.setenv("RELANCE_LANG", lang)
    get_settings.cache_clear(), get_engine.cache_clear()
    try:
        return CliRunner().invoke(app, ["check"])
    finally:
        get_settings.cache_clear(), get_engine.cache_clear()


def test_relance_check_exits_1_with_the_list(monkeypatch, tmp_path):
    from ledger.db import make_engine

    ok = _cli(monkeypatch, tmp_path)
    assert ok.exit_code == 0, ok.output
    assert "Grand livre cohérent" in ok.output
    engine = make_engine(f"sqlite:///{tmp_path / 'check.db'}")
    with Session(engine) as session:
        run(session, BATCH)
    with engine.begin() as connection:
        _break(connection)
    try:
        french = _cli(monkeypatch, tmp_path)
        assert french.exit_code == 1
        assert "3 violation(s)" in french.output and "payment P1 : 121.00 alloués" in french.output
        english = _cli(monkeypatch, tmp_path, "en")
        assert english.exit_code == 1
        assert "invoice F2: open amount -5.00 outside [0, 50.00]" in english.output
    finally:
        with Session(engine) as session:
            _repair(session)
        engine.dispose()
    assert _cli(monkeypatch, tmp_path, "en").output.startswith("Ledger consistent")

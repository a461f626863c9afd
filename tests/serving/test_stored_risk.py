"""Stored risk answers: after any sequence of ingests (refreshed after some, not after others),
days passing and a model swap, every answer read from the store equals the same answer computed
from the ledger now; and the open balance is per currency, worked out by hand."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from sqlmodel import Session

from features.synth import generate
from ledger.frames import write_ledger_dir
from ledger.fx import RateIn, store_rates
from ledger.importers import import_ledger_dir
from ledger.ingest import ingest
from ledger.schemas import IngestBatch
from ledger.tables import StoredCustomerRisk
from model.dataset import labelled_rows
from model.train import TrainConfig, fit_bundle
from serving.risk import RiskService
from serving.stored_risk import compute, invoice_risks, refresh

TODAY = dt.date(2026, 3, 16)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    frames = generate(customers=12, months=10, seed=7, start="2025-05-01")
    frames.invoices = frames.invoices[frames.invoices["issue_date"] <= pd_ts(TODAY)]
    frames.payments = frames.payments[frames.payments["paid_on"] <= pd_ts(TODAY)]
    path = tmp_path_factory.mktemp("ledger")
    write_ledger_dir(frames, path)
    bundle = fit_bundle(labelled_rows(frames), config=TrainConfig(num_boost_round=25,
                                                                  early_stopping_rounds=10))
    return path, frames, bundle.save(tmp_path_factory.mktemp("bundle") / "bundle")


def pd_ts(day: dt.date):
    import pandas as pd

    return pd.Timestamp(day)


def _service(bundle_path, served: bool) -> RiskService:
    service = RiskService(str(bundle_path))
    if served:
        service.reload()
        assert service.state.status == "loaded"
    return service


def _random_batch(rng, session, customers: list[str], today: dt.date, step: int) -> IngestBatch:
    """A new invoice (sometimes in another currency), a partial or full payment of an open
    invoice, or a dispute, for one or two random customers."""
    from sqlmodel import select

    from ledger.tables import Invoice

    batch: dict = {"customers": [], "invoices": [], "payments": [], "disputes": []}
    for customer_id in rng.choice(customers, size=int(rng.integers(1, 3)), replace=False):
        open_rows = session.exec(select(Invoice).where(Invoice.customer_id == customer_id,
                                                       Invoice.settled_on.is_(None),
                                                       Invoice.kind == "invoice")).all()
        kind = rng.choice(["invoice", "payment", "dispute"] if open_rows else ["invoice"])
        if kind == "invoice":
            issued = today - dt.timedelta(days=int(rng.integers(0, 50)))
            batch["invoices"].append({
                "invoice_id": f"R{step}-{customer_id}", "customer_id": str(customer_id),
                "issue_date": issued, "due_date": issued + dt.timedelta(days=30),
                "amount": Decimal(int(rng.integers(100, 5000))),
                "currency": str(rng.choice(["EUR", "EUR", "GBP"]))})
        elif kind == "payment":
            target = open_rows[int(rng.integers(len(open_rows)))]
            share = Decimal(str(rng.choice([0.3, 1.0])))
            batch["payments"].append({
                "payment_id": f"RP{step}-{customer_id}", "customer_id": str(customer_id),
                "paid_on": today, "amount": (target.open_amount * share).quantize(Decimal("0.01")),
                "currency": target.currency, "invoice_id": target.invoice_id})
        else:
            target = open_rows[int(rng.integers(len(open_rows)))]
            batch["disputes"].append({"dispute_id": f"RD{step}-{customer_id}",
                                      "invoice_id": target.invoice_id, "opened_on": today})
    return IngestBatch.model_validate(batch)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_stored_answer_always_equals_a_fresh_computation(db, synthetic, seed):
    path, frames, bundle_path = synthetic
    rng = np.random.default_rng(seed)
    customers = sorted(frames.customers["customer_id"])
    served = bool(seed % 2)  # seeds 1 and 3 with the model, 2 with the rules
    service = _service(bundle_path, served)
    today = TODAY
    with Session(db) as session:
        import_ledger_dir(session=session, directory=path, actor="test", today=dt.date.today())
        refresh(service, session, customers, today)  # the nightly refresh
        session.commit()
        for step in range(8):
            move = rng.choice(["ingest", "ingest", "ingest", "day", "model"])
            if move == "ingest":
                batch = _random_batch(rng, session, customers, today, step)
                ingest(session=session, batch=batch, actor="test", source="test")
                session.commit()
                if rng.random() < 0.5:  # the refresh after an ingest, sometimes not run
                    touched = {i.customer_id for i in batch.invoices} | {
                        p.customer_id for p in batch.payments}
                    refresh(service, session, sorted(touched), today)
                    session.commit()
            elif move == "day":
                today += dt.timedelta(days=int(rng.integers(1, 9)))
            else:  # a model reloaded or dropped: stored answers of the other one are stale
                service = _service(bundle_path, not service.state.predictor)
            for customer_id in rng.choice(customers, size=4, replace=False):
                language = str(rng.choice(["fr", "en"]))
                stored = service.customer_risk(session=session, customer_id=customer_id,
                                               today=today, language=language)
                fresh = service.fresh_customer_risk(session=session, customer_id=customer_id,
                                                    today=today, language=language)
                assert stored == fresh, (step, move, customer_id)
            _invoices_agree(service, session, customers, today)


def _invoices_agree(service, session, customers: list[str], today: dt.date) -> None:
    _, fresh = compute(service, session, customers, today)
    stored = invoice_risks(service, session, [row["invoice_id"] for row in fresh], today)
    session.commit()
    assert {row["invoice_id"]: row for row in fresh} == stored


def test_the_open_amount_is_the_customers_currency_and_the_others_stay_apart(db):
    day = dt.date(2026, 3, 2)
    batch = IngestBatch.model_validate({
        "customers": [{"customer_id": "G", "name": "Gamma Ltd", "currency": "GBP"}],
        "invoices": [
            {"invoice_id": "G1", "customer_id": "G", "issue_date": day, "due_date": day,
             "amount": Decimal("1000.00"), "currency": "GBP"},
            {"invoice_id": "G2", "customer_id": "G", "issue_date": day, "due_date": day,
             "amount": Decimal("250.10"), "currency": "GBP"},
            {"invoice_id": "G3", "customer_id": "G", "issue_date": day, "due_date": day,
             "amount": Decimal("400.00"), "currency": "EUR"}],
        "payments": [{"payment_id": "GP1", "customer_id": "G", "paid_on": day,
                      "amount": Decimal("300.00"), "currency": "GBP", "invoice_id": "G1"}]})
    service = RiskService()  # rules
    with Session(db) as session:
        ingest(session=session, batch=batch, actor="test", source="test")
        session.commit()
        answer = service.customer_risk(session=session, customer_id="G", today=TODAY)
        # GBP: 1000 − 300 paid + 250.10 = 950.10; no EUR rate: the 400 EUR are left out, named
        assert answer["currency"] == "GBP" and answer["open_amount"] == 950.10
        assert answer["unconverted"] == ["EUR"] and answer["rate_date"] is None
        assert answer["open_invoices"] == 3
        assert answer["by_currency"] == [
            {"currency": "EUR", "open_amount": 400.0, "open_invoices": 1},
            {"currency": "GBP", "open_amount": 950.10, "open_invoices": 2}]
        # stored once, then read back by key: the same answer
        stored = session.get(StoredCustomerRisk, "G")
        assert stored is not None and stored.open_amount == Decimal("950.10")
        assert service.customer_risk(session=session, customer_id="G", today=TODAY) == answer
        # with the day's rate (1 EUR = 0.8500 GBP): 400 EUR = 340.00 GBP, added after conversion
        store_rates(session=session, rates=[RateIn("GBP", TODAY - dt.timedelta(days=1),
                                                   Decimal("0.8500"))])
        session.commit()
        converted = service.customer_risk(session=session, customer_id="G", today=TODAY)
        assert converted["open_amount"] == 1290.10 and converted["unconverted"] == []
        assert converted["rate_date"] == TODAY - dt.timedelta(days=1)


@pytest.mark.parametrize("seed", [4, 5])
def test_a_stored_next_action_always_equals_the_decision_path_now(db, synthetic, seed):
    """Stored next actions (computed in bulk by `decide_customers`) against `next_action` for one
    invoice, after random ingests (refreshed or not), days passing and model swaps."""
    from sqlmodel import select

    from ledger.tables import Invoice
    from serving import stored_actions
    from serving.decisions import next_action

    path, frames, bundle_path = synthetic
    rng = np.random.default_rng(seed)
    customers = sorted(frames.customers["customer_id"])
    service = _service(bundle_path, bool(seed % 2))
    today = TODAY
    with Session(db) as session:
        import_ledger_dir(session=session, directory=path, actor="test")
        session.commit()
        refresh(service, session, customers, today)
        stored_actions.refresh(service, session, customers, today)  # the nightly refresh
        session.commit()
        for step in range(6):
            move = rng.choice(["ingest", "ingest", "day", "model"])
            if move == "ingest":
                batch = _random_batch(rng, session, customers, today, step)
                ingest(session=session, batch=batch, actor="test", source="test")
                session.commit()
                if rng.random() < 0.5:
                    touched = sorted({i.customer_id for i in batch.invoices}
                                     | {p.customer_id for p in batch.payments})
                    stored_actions.refresh(service, session, touched, today)
                    session.commit()
            elif move == "day":
                today += dt.timedelta(days=int(rng.integers(1, 9)))
            else:
                service = _service(bundle_path, not service.state.predictor)
            chosen = list(rng.choice(customers, size=3, replace=False))
            open_rows = session.exec(select(Invoice).where(Invoice.customer_id.in_(chosen),
                                                           Invoice.settled_on.is_(None))).all()
            assert open_rows
            for invoice in open_rows:
                stored = stored_actions.stored_next_action(service, session, invoice, today)
                fresh = next_action(session=session, invoice=invoice, today=today,
                                    risk_for=stored_actions.provider_of(service))
                assert stored == fresh, (step, move, invoice.invoice_id)
        # a dispute opened on an overdue invoice, not refreshed: the stored answer must follow
        overdue = session.exec(select(Invoice).where(Invoice.settled_on.is_(None),
                                                     Invoice.kind == "invoice",
                                                     Invoice.due_date < today)).first()
        before = stored_actions.stored_next_action(service, session, overdue, today)
        ingest(session=session, batch=IngestBatch.model_validate({"disputes": [{
            "dispute_id": "D-last", "invoice_id": overdue.invoice_id, "opened_on": today}]}),
            actor="test", source="test")
        session.commit()
        after = stored_actions.stored_next_action(service, session, overdue, today)
        assert after == next_action(session=session, invoice=overdue, today=today,
                                    risk_for=stored_actions.provider_of(service))
        assert after.decision != before.decision  # a disputed invoice is not chased

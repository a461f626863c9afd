"""Risk answers computed in bulk, stored, and read back by key (`ledger/stored_risk.py` holds
the tables and the freshness rule; docs/model.md, "Stored answers").

`refresh` scores many customers at once — one read of their ledger, one feature matrix, one
booster call — and stores each customer's score, grade, probabilities and open balances, and
each open invoice's answers. The API's risk and next-action routes, `/predictions` on stored
invoices and the dunning run read them by key; a customer whose stored answer is not fresh (its
ledger changed, another model is served, or the date moved) is recomputed on the way and stored
again. Reasons are not stored: they are told on demand from the stored feature row (model) or
the payer's counts (rules), in the reader's language.

`fresh_customer_answer` computes the same answer without reading or writing the store: the
reference a stored answer must always equal (tests/serving/test_stored_risk.py).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from features.labels import SEVERE_DAYS
from ledger import stored_risk as table
from ledger.errors import NotFoundError
from ledger.store import read_frames
from ledger.tables import Customer, Invoice
from serving.policy import Risk

if TYPE_CHECKING:
    from serving.risk import RiskService

log = logging.getLogger(__name__)
CHUNK = 2000  # customers scored per ledger read: bounds memory on a nightly run
COLD_START = {"amount": 1000.0, "terms": 30}  # a customer with no invoice at all


def refresh(service: RiskService, session: Session, customer_ids: Sequence[str],
            today: dt.date) -> dict[str, dict]:
    """Score these customers in bulk and store the answers in the caller's transaction;
    returns each customer's stored row (as a dict)."""
    ids = sorted(set(_known(session, customer_ids)))
    out: dict[str, dict] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        # fingerprints first: a write landing while we compute makes the row stale, never wrong
        prints = table.fingerprints(session, chunk)
        customers, invoices = compute(service, session, chunk, today)
        for row in customers:
            row["fingerprint"] = prints[row["customer_id"]]
        table.store(session, customers, invoices)
        out.update({row["customer_id"]: row for row in customers})
    return out


def refresh_all(service: RiskService, engine, today: dt.date) -> int:
    """The nightly refresh: every customer whose stored answer is not fresh (the date moved:
    all of them, but those the day's dunning run already refreshed), committed chunk by chunk;
    returns how many were refreshed."""
    from serving import stored_actions

    with Session(engine) as session:
        ids = list(session.execute(select(Customer.customer_id).order_by(Customer.customer_id)).scalars())
    refreshed = 0
    for start in range(0, len(ids), CHUNK):
        with Session(engine) as session:
            stale = _stale(service, session, ids[start:start + CHUNK], today)
            refresh(service, session, stale, today)
            session.commit()
            stored_actions.refresh(service, session, stale, today)
            session.commit()
            refreshed += len(stale)
    return refreshed


def refresh_after_ingest(app, batch, today: dt.date) -> None:
    """After an ingest (a background task, once the answer is sent): the customers the batch
    touched. A failure only leaves their answers to be recomputed on first read."""
    service = getattr(app.state, "risk", None)
    if service is None:
        return
    touched = ({c.customer_id for c in batch.customers} | {i.customer_id for i in batch.invoices}
               | {p.customer_id for p in batch.payments})
    if batch.disputes:
        with Session(app.state.engine) as session:
            touched |= set(_owners(session, [d.invoice_id for d in batch.disputes]).values())
    refresh_quietly(service, app.state.engine, sorted(touched), today)


def refresh_quietly(service: RiskService, engine, customer_ids: Sequence[str],
                    today: dt.date) -> None:
    """Refresh risks and next actions and commit; a failure only leaves the answers to be
    recomputed on first read."""
    from serving import stored_actions

    try:
        with Session(engine) as session:
            refresh(service, session, customer_ids, today)
            session.commit()
            stored_actions.refresh(service, session, customer_ids, today)
            session.commit()
    except Exception:  # noqa: BLE001  (the store is a cache of computable answers)
        log.exception("stored risks of %d customer(s) not refreshed", len(customer_ids))


def stored_customer_row(service: RiskService, session: Session, customer_id: str,
                        today: dt.date) -> tuple[dict | None, str | None, str]:
    """(the customer's stored row when fresh, else None; its language; its fingerprint) in two
    indexed reads on one connection of its own: the fingerprint, which also says whether the
    customer exists and how it reads (NotFoundError if not), and the stored row. No write, no
    computation."""
    print_, exists, language, stored = table.customer_print_and_row(session, customer_id)
    if not exists:
        raise NotFoundError("customer", customer_id)
    fresh = stored is not None and table.is_fresh_row(
        stored, today=today, model_version=service.state.version, fingerprint=print_)
    return (stored if fresh else None), language, print_


def customer_row(service: RiskService, session: Session, customer_id: str,
                 today: dt.date) -> tuple[dict, str | None]:
    """(the customer's stored row, recomputed and kept first when stale; its language): two
    reads when fresh (`stored_customer_row`)."""
    stored, language, print_ = stored_customer_row(service, session, customer_id, today)
    if stored is not None:
        return stored, language
    return recompute_customer(service, session, customer_id, today, print_), language


def recompute_customer(service: RiskService, session: Session, customer_id: str,
                       today: dt.date, print_: str) -> dict:
    """The customer's row computed now from the ledger `print_` names, and stored."""
    return _recompute(service, session, [customer_id], today, {customer_id: print_},
                      write=True)[customer_id]


def fresh_rows(service: RiskService, session: Session, customer_ids: Sequence[str],
               today: dt.date, *, write: bool) -> dict[str, dict]:
    """The stored row of each customer, recomputed first where stale. `write`: keep what was
    recomputed (committed apart; on a write conflict the answer is still given)."""
    ids = list(dict.fromkeys(customer_ids))
    prints = table.fingerprints(session, ids)
    stored = table.read_customers(session, ids)
    version = service.state.version
    rows = {c: _as_dict(r) for c, r in stored.items()
            if table.is_fresh(r, today=today, model_version=version, fingerprint=prints[c])}
    stale = [c for c in ids if c not in rows]
    if stale:
        rows.update(_recompute(service, session, stale, today, prints, write=write))
    return rows


def _recompute(service: RiskService, session: Session, ids: list[str], today: dt.date,
               prints: dict[str, str], *, write: bool) -> dict[str, dict]:
    customers, invoices = compute(service, session, ids, today)
    for row in customers:
        row["fingerprint"] = prints[row["customer_id"]]
    if write:
        try:
            table.store(session, customers, invoices)
            session.commit()
        except DBAPIError:  # e.g. SQLite busy under a concurrent ingest: answer anyway
            session.rollback()
    return {row["customer_id"]: {**row, "_invoices": [i for i in invoices
                                                       if i["customer_id"] == row["customer_id"]]}
            for row in customers}


def invoice_risks(service: RiskService, session: Session, invoice_ids: Sequence[str],
                  today: dt.date, *, owners: dict[str, str] | None = None) -> dict[str, dict]:
    """Stored answers of these open invoices (their customers refreshed first where stale, in
    the caller's transaction); an invoice with no stored answer (settled, not issued yet) is
    absent. `owners` (invoice → customer), when the caller has read them, saves that read.

    Set-based for a batch: one fingerprint statement for all the batch's customers, their stored
    heads and the invoices' stored rows read as columns (one statement each on PostgreSQL), the
    stale customers recomputed together (one ledger read, one booster call) and stored."""
    if owners is None:
        owners = _owners(session, invoice_ids)
    customers = sorted(set(owners.values()))
    if not customers:
        return {}
    prints = table.fingerprints(session, customers)
    heads = table.read_heads(session, customers)
    version = service.state.version
    stale = [c for c in customers if not table.is_fresh(
        heads.get(c), today=today, model_version=version, fingerprint=prints[c])]
    recomputed: dict[str, dict] = {}
    if stale:
        rows, invoices = compute(service, session, stale, today)
        for row in rows:
            row["fingerprint"] = prints[row["customer_id"]]
        table.store(session, rows, invoices)
        recomputed = {i["invoice_id"]: i for i in invoices}
    stale_set = set(stale)
    wanted = [i for i, c in owners.items() if c not in stale_set]
    found = table.read_invoice_rows(session, wanted)
    found.update({i: recomputed[i] for i in owners if i in recomputed})
    return found


def as_risk(row: dict) -> Risk:
    return Risk(p_late=row["p_late"], p_severe=row["p_severe"],
                expected_days_late=row["expected_days_late"], grade=row["grade"],
                source=row["basis"], p_unpaid_30=row["p_unpaid_30"],
                p_unpaid_90=row["p_unpaid_90"], expected_pay_date=row["expected_pay_date"])


# --- the bulk computation ----------------------------------------------------------------------

def compute(service: RiskService, session: Session, customer_ids: Sequence[str],
            today: dt.date) -> tuple[list[dict], list[dict]]:
    """(customer rows, open-invoice rows) of these customers, as stored, without fingerprints."""
    from model.score import customer_scores, grade, invoice_risk, risk_to_score

    frames = read_frames(session=session, as_of=today, customer_ids=list(customer_ids))
    as_of = pd.Timestamp(today) + pd.Timedelta(days=1)
    targets = _targets(frames, customer_ids, as_of)
    scored, features = service._answers(frames, targets, as_of)
    scored["amount"] = targets["amount"].to_numpy(float)
    scored["open_amount"] = targets["open_amount"].to_numpy(float)
    scored["expected"] = targets["expected"].to_numpy(bool)
    summary = customer_scores(scored).set_index("customer_id")
    invoice_scores = risk_to_score(invoice_risk(scored))
    grades = grade(invoice_scores)
    basis = "rules" if features is None else "model"
    common = {"as_of": today, "model_version": service.state.version, "basis": basis}
    open_rows = ~scored["expected"].to_numpy(bool)
    invoices = [{**common, "invoice_id": r.invoice_id, "customer_id": r.customer_id,
                 "p_late": float(r.p_late), "p_severe": float(r.p_severe),
                 "expected_days_late": float(r.expected_days_late),
                 "p_unpaid_30": float(r.p_unpaid_30), "p_unpaid_90": float(r.p_unpaid_90),
                 "expected_pay_date": r.expected_pay_date, "pay_date_low": r.pay_date_low,
                 "pay_date_high": r.pay_date_high, "score": int(s), "grade": str(g)}
                for r, s, g, keep in zip(scored.itertuples(index=False), invoice_scores, grades,
                                         open_rows) if keep]
    balances = _balances(frames, targets)
    reasons = _reason_data(service, frames, features, targets)
    customers = []
    for customer_id in customer_ids:
        s = summary.loc[customer_id]
        currency, open_amount, by_currency = balances[customer_id]
        customers.append({
            **common, "customer_id": customer_id, "score": int(s["score"]),
            "grade": str(s["grade"]), "p_late": round(float(s["p_late"]), 4),
            "p_severe": round(float(s["p_severe"]), 4),
            "expected_days_late": round(float(s["expected_days_late"]), 1),
            "p_unpaid_30": round(float(s["p_unpaid_30"]), 4),
            "p_unpaid_90": round(float(s["p_unpaid_90"]), 4),
            "open_invoices": int(s["open_invoices"]), "currency": currency,
            "open_amount": open_amount, "by_currency": by_currency,
            "reason_data": reasons[customer_id]})
    return customers, invoices


def _targets(frames, customer_ids: Sequence[str], as_of: pd.Timestamp) -> pd.DataFrame:
    """Open invoices, then each customer's expected next invoice (a typical one for a customer
    with no history), in the order the answers are read back."""
    from model.score import expected_invoices

    invoices = frames.invoices
    open_invoices = invoices[(invoices["kind"] == "invoice") & invoices["settled_date"].isna()]
    expected = expected_invoices(frames, as_of=as_of)
    missing = [c for c in customer_ids if c not in set(expected["customer_id"])]
    if missing:  # no history at all: a cold start scored on a typical new invoice
        expected = pd.concat([expected, pd.DataFrame({
            "invoice_id": [f"expected-new-{c}" for c in missing], "customer_id": missing,
            "issue_date": as_of, "due_date": as_of + pd.Timedelta(days=COLD_START["terms"]),
            "amount": COLD_START["amount"]})], ignore_index=True)
    columns = ["invoice_id", "customer_id", "issue_date", "due_date", "amount", "open_amount",
               "currency"]
    return pd.concat([open_invoices[columns].assign(expected=False),
                      expected.assign(open_amount=0.0, currency=None, expected=True)],
                     ignore_index=True)


def _balances(frames, targets: pd.DataFrame) -> dict[str, tuple[str, Decimal, list[dict]]]:
    """(customer's currency, its open balance in it, every currency's open balance and count)."""
    currencies = dict(zip(frames.customers["customer_id"], frames.customers["currency"]))
    owed: dict[str, dict[str, list]] = {c: {} for c in targets["customer_id"].unique()}
    for row in targets[~targets["expected"]].itertuples(index=False):
        entry = owed[row.customer_id].setdefault(row.currency, [Decimal("0.00"), 0])
        entry[0] += Decimal(f"{row.open_amount:.2f}")  # per invoice to the cent, then added
        entry[1] += 1
    out = {}
    for customer_id, by in owed.items():
        own = currencies.get(customer_id) or "EUR"
        listed = [{"currency": cur, "open_amount": str(amount), "open_invoices": n}
                  for cur, (amount, n) in sorted(by.items())]
        out[customer_id] = (own, by.get(own, [Decimal("0.00")])[0], listed)
    return out


def _reason_data(service: RiskService, frames, features: pd.DataFrame | None,
                 targets: pd.DataFrame) -> dict[str, dict]:
    """What each customer's reasons are told from: its expected invoice's feature row (model),
    the payer's settled and late counts (rules)."""
    if features is None:
        history = _history(frames)
        return {c: ({"settled": int(history.loc[c, "settled"]), "late": int(history.loc[c, "late"])}
                    if c in history.index else {"settled": 0, "late": 0})
                for c in targets["customer_id"].unique()}
    predictor = service.state.predictor
    expected = targets.index[targets["expected"].to_numpy(bool)]
    return {targets.at[i, "customer_id"]: predictor.reason_row(features, int(i)) for i in expected}


# --- reading -----------------------------------------------------------------------------------

def _stale(service: RiskService, session: Session, customer_ids: list[str],
           today: dt.date) -> list[str]:
    if not customer_ids:
        return []
    prints = table.fingerprints(session, customer_ids)
    stored = table.read_customers(session, customer_ids)
    version = service.state.version
    return [c for c in customer_ids if not table.is_fresh(
        stored.get(c), today=today, model_version=version, fingerprint=prints[c])]


def _owners(session: Session, invoice_ids: Sequence[str]) -> dict[str, str]:
    ids = list(dict.fromkeys(invoice_ids))
    owners: dict[str, str] = {}
    for start in range(0, len(ids), 900):
        owners.update(session.execute(select(Invoice.invoice_id, Invoice.customer_id).where(
            Invoice.invoice_id.in_(ids[start:start + 900]))).all())
    return owners


def _known(session: Session, customer_ids: Sequence[str]) -> list[str]:
    ids = list(dict.fromkeys(customer_ids))
    found: list[str] = []
    for start in range(0, len(ids), 900):
        found += session.execute(select(Customer.customer_id).where(
            Customer.customer_id.in_(ids[start:start + 900]))).scalars().all()
    return found


def _as_dict(row) -> dict:
    return {name: getattr(row, name) for name in row.__class__.model_fields}


def _history(frames) -> pd.DataFrame:
    """Per payer: settled invoices, how many late, how many severely, the mean days late."""
    invoices = frames.invoices
    settled = invoices[(invoices["kind"] == "invoice") & invoices["settled_date"].notna()]
    days = (settled["settled_date"] - settled["due_date"]).dt.days.clip(lower=0)
    return settled.assign(days_late=days).groupby("customer_id").agg(
        settled=("days_late", "size"), late=("days_late", lambda d: int((d > 0).sum())),
        severe=("days_late", lambda d: int((d > SEVERE_DAYS).sum())), mean_days=("days_late", "mean"))

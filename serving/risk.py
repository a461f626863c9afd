"""Risk for the API, the dunning run and the worklist: the champion model when there is one,
the payer's own history (rules) when there is none. A broken model never takes the API down.

Features are computed point in time from the ledger (`ledger.store.read_frames` → features),
as of the start of tomorrow, so that today's payments count.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from ledger.models import Customer, Dispute, Invoice, Payment
from ledger.store import dated_in_range, read_frames
from serving.policy import Risk

if TYPE_CHECKING:
    from model.predict import Predictor

# model/ and features/ (LightGBM, scikit-learn) are imported when first used, not with the app:
# an API that answers with rules, or a test that never scores, starts seconds sooner

log = logging.getLogger(__name__)
SEVERE_DAYS = 30
SCORABLE = dated_in_range(Invoice.issue_date, Invoice.due_date, Invoice.settled_on)
CACHE_SIZE = 4096  # customers' risks kept; a few hundred bytes each


@dataclass
class ModelState:
    predictor: Predictor | None
    status: str  # loaded | no_model | broken
    detail: str | None = None

    @property
    def version(self) -> str | None:
        return self.predictor.version if self.predictor else None


class RiskService:
    """Holds the served model; `reload()` swaps it atomically."""

    def __init__(self, source: str | None = None) -> None:
        self.source = source
        self._lock = threading.Lock()
        self.state = ModelState(None, "no_model", "not loaded yet")
        self._generation = 0  # bumped by reload(): cached risks of an older model are never served
        self._cache: OrderedDict[tuple, dict] = OrderedDict()

    def reload(self) -> ModelState:
        from model.errors import NoModelError
        from model.predict import Predictor

        try:
            state = ModelState(Predictor.load(self.source), "loaded")
        except NoModelError as exc:
            state = ModelState(None, "no_model", str(exc))
        except Exception as exc:  # noqa: BLE001  (a corrupt bundle must leave the API answering)
            log.exception("model could not be loaded; answering with rules")
            state = ModelState(None, "broken", f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.state = state
            self._generation += 1
            self._cache.clear()
        return state

    # --- scoring -----------------------------------------------------------------------------

    def score_invoices(self, *, session: Session, invoice_ids: Sequence[str] = (),
                       inline: pd.DataFrame | None = None, today: dt.date | None = None,
                       explain: int = 0, language: str = "fr") -> pd.DataFrame:
        """One row per invoice: p_late, p_severe, expected_days_late, basis, reasons."""
        today = today or dt.date.today()
        stored = _stored_invoices(session, invoice_ids)
        customers = sorted(set(stored["customer_id"]) | set(inline["customer_id"] if inline is not None else []))
        if not customers:
            return _empty_scores()
        frames = read_frames(session=session, as_of=today, customer_ids=customers)
        targets = pd.concat([t for t in (stored, inline) if t is not None and len(t)], ignore_index=True)
        as_of = pd.Timestamp(today) + pd.Timedelta(days=1)
        scores, features = self._answers(frames, targets, as_of, session)
        if explain and features is not None:
            scores["reasons"] = self.state.predictor.explain(features, top=explain,
                                                             language=language)
        return scores

    def _answers(self, frames, targets: pd.DataFrame, as_of: pd.Timestamp,
                 session: Session) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """(answers of each target, its features when the model answered)."""
        predictor = self.state.predictor
        if predictor is None:
            from ledger.collections import rules_prior  # the worklist's prior: one rules answer

            prior = rules_prior(session, (as_of - pd.Timedelta(days=1)).date())
            return _rules_scores(frames, targets, as_of, prior), None
        from features.pipeline import build_features

        features = build_features(frames, invoices=_unsettled_view(targets), as_of=as_of)
        scores = pd.concat([features[["invoice_id", "customer_id"]], predictor.predict(features)],
                           axis=1)
        scores["basis"] = "model"
        scores["reasons"] = [[] for _ in range(len(scores))]
        return scores, features

    def risk_for(self, session: Session, invoice_ids: list[str], today: dt.date) -> dict[str, Risk]:
        """The provider the dunning run and the worklist take (`app.state.risk_for`).

        Answers for every invoice asked that is in the ledger: the model when one is served, the
        payer's history (rules) otherwise; never an empty answer for known invoices.
        """
        if not invoice_ids:
            return {}
        from model.score import grade, invoice_risk, risk_to_score

        scores = self.score_invoices(session=session, invoice_ids=invoice_ids, today=today)
        grades = grade(risk_to_score(invoice_risk(scores)))
        return {row.invoice_id: Risk(p_late=float(row.p_late), p_severe=float(row.p_severe),
                                     expected_days_late=float(row.expected_days_late),
                                     grade=str(g), source=row.basis,
                                     p_unpaid_30=float(row.p_unpaid_30),
                                     p_unpaid_90=float(row.p_unpaid_90),
                                     expected_pay_date=row.expected_pay_date)
                for row, g in zip(scores.itertuples(index=False), grades)}

    def cash_predictions(self, session: Session, as_of: dt.date) -> pd.DataFrame | None:
        """Open invoices' payment-date distributions for the cash-in forecast: P(paid in week
        k | unpaid at as_of) as w1 … w13 and `later` (None: the forecast's rules)."""
        predictor = self.state.predictor
        if predictor is None:
            return None
        from features.pipeline import build_features
        from ledger.forecast import WEEKS
        from model.survival import weekly_mass

        open_ids = list(session.execute(select(Invoice.invoice_id).where(
            Invoice.kind == "invoice", Invoice.settled_on.is_(None),
            Invoice.issue_date <= as_of, SCORABLE)).scalars())
        if not open_ids:
            return None
        targets = _stored_invoices(session, open_ids)
        frames = read_frames(session=session, as_of=as_of,
                             customer_ids=sorted(set(targets["customer_id"])))
        features = build_features(frames, invoices=_unsettled_view(targets),
                                  as_of=pd.Timestamp(as_of) + pd.Timedelta(days=1))
        mass = weekly_mass(predictor.hazards(features), features["days_overdue"].to_numpy(float),
                           WEEKS, features["terms_days"].to_numpy(float))
        answers = predictor.predict(features)
        out = pd.DataFrame(mass[:, :WEEKS], columns=[f"w{k}" for k in range(1, WEEKS + 1)])
        out.insert(0, "invoice_id", features["invoice_id"].to_numpy())
        out["later"] = mass[:, WEEKS]
        out["expected_days_late"] = answers["expected_days_late"].to_numpy(float)
        out["p_late"] = answers["p_late"].to_numpy(float)
        return out

    def customer_risk(self, *, session: Session, customer_id: str, today: dt.date | None = None,
                      language: str = "fr", top: int = 3) -> dict:
        """Score 0–1000, grade, probabilities and the reasons, for one customer.

        Cached (LRU) per customer, day, model, language and a fingerprint of the customer's
        ledger rows: any new or changed invoice, payment or dispute gives a new key.
        """
        today = today or dt.date.today()
        key = (customer_id, today, self._generation, language, top,
               _fingerprint(session, customer_id))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None:
            cached = self._customer_risk(session=session, customer_id=customer_id, today=today,
                                         language=language, top=top)
            with self._lock:
                self._cache[key] = cached
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        # a copy: callers may change what they get without touching the cache
        return {**cached, "reasons": [dict(r) for r in cached["reasons"]]}

    def _customer_risk(self, *, session: Session, customer_id: str, today: dt.date,
                       language: str, top: int) -> dict:
        from model.score import customer_scores, expected_invoices

        frames = read_frames(session=session, as_of=today, customer_ids=[customer_id])
        as_of = pd.Timestamp(today) + pd.Timedelta(days=1)
        open_invoices = frames.invoices[(frames.invoices["kind"] == "invoice")
                                        & frames.invoices["settled_date"].isna()]
        expected = expected_invoices(frames, as_of=as_of)
        if expected.empty:  # no history at all: a cold start scored on a typical new invoice
            expected = pd.DataFrame({"invoice_id": ["expected-new"], "customer_id": [customer_id],
                                     "issue_date": [as_of], "due_date": [as_of + pd.Timedelta(days=30)],
                                     "amount": [1000.0]})
        targets = pd.concat([open_invoices[["invoice_id", "customer_id", "issue_date", "due_date",
                                            "amount", "open_amount"]],
                             expected.assign(open_amount=0.0)], ignore_index=True)
        scored, features = self._answers(frames, targets, as_of, session)
        if features is None:
            reasons = _rules_reasons(frames, language)
        else:
            # the reasons describe the payer: they are those of its expected next invoice
            reasons = self.state.predictor.explain(features.iloc[[-1]], top=top,
                                                   language=language)[0]
        scored["amount"] = targets["amount"].to_numpy(float)
        # the balance still owed (partial payments and credit notes deducted), as on the customer
        scored["open_amount"] = targets["open_amount"].to_numpy(float)
        scored["expected"] = scored["invoice_id"].str.startswith("expected-")
        summary = customer_scores(scored).iloc[0]
        return {
            "customer_id": customer_id, "score": int(summary["score"]), "grade": str(summary["grade"]),
            "p_late": round(float(summary["p_late"]), 4), "p_severe": round(float(summary["p_severe"]), 4),
            "expected_days_late": round(float(summary["expected_days_late"]), 1),
            "p_unpaid_30": round(float(summary["p_unpaid_30"]), 4),
            "p_unpaid_90": round(float(summary["p_unpaid_90"]), 4),
            "open_invoices": int(summary["open_invoices"]), "open_amount": float(summary["open_amount"]),
            "reasons": [dict(r) for r in reasons],
            "basis": "rules" if features is None else "model",
            "model_version": self.state.version, "as_of": today.isoformat(),
        }


# --- helpers -------------------------------------------------------------------------------------

def _fingerprint(session: Session, customer_id: str) -> tuple:
    """Cheap aggregate queries whose answer changes whenever anything the customer's risk reads does."""
    invoices = select(func.count(), func.max(Invoice.updated_at), func.sum(Invoice.open_amount),
                      func.count(Invoice.settled_on), func.max(Invoice.settled_on)
                      ).where(Invoice.customer_id == customer_id)
    payments = select(func.count(), func.sum(Payment.amount), func.max(Payment.paid_on)
                      ).where(Payment.customer_id == customer_id)
    disputes = select(func.count(), func.max(Dispute.updated_at), func.count(Dispute.resolved_on)
                      ).join(Invoice, Invoice.invoice_id == Dispute.invoice_id
                             ).where(Invoice.customer_id == customer_id)
    customer = select(Customer.updated_at).where(Customer.customer_id == customer_id)
    return (tuple(session.execute(invoices).one()), tuple(session.execute(payments).one()),
            tuple(session.execute(disputes).one()), session.execute(customer).scalar())


def _stored_invoices(session: Session, invoice_ids: Sequence[str]) -> pd.DataFrame:
    rows = []
    ids = list(dict.fromkeys(invoice_ids))
    for start in range(0, len(ids), 900):
        rows += session.execute(select(Invoice.invoice_id, Invoice.customer_id, Invoice.issue_date,
                                       Invoice.due_date, Invoice.amount, Invoice.settled_on)
                                .where(Invoice.invoice_id.in_(ids[start:start + 900]),
                                       # a row stored before the date bounds cannot be scored;
                                       # the others are (its callers fall back to rules for it)
                                       SCORABLE)).all()
    frame = pd.DataFrame(rows, columns=["invoice_id", "customer_id", "issue_date", "due_date", "amount", "settled_on"])
    frame["amount"] = frame["amount"].astype(float)
    for column in ("issue_date", "due_date", "settled_on"):
        frame[column] = pd.to_datetime(frame[column])
    order = {invoice_id: i for i, invoice_id in enumerate(ids)}
    return frame.sort_values("invoice_id", key=lambda s: s.map(order)).reset_index(drop=True)


def _unsettled_view(targets: pd.DataFrame) -> pd.DataFrame:
    # a settled invoice is scored as it stood before settling: features never see its own outcome
    return targets.drop(columns=["settled_on"], errors="ignore")


def _empty_scores() -> pd.DataFrame:
    return pd.DataFrame(columns=["invoice_id", "customer_id", "p_late", "p_severe",
                                 "expected_days_late", "p_unpaid_30", "p_unpaid_90",
                                 "expected_pay_date", "pay_date_low", "pay_date_high", "basis",
                                 "reasons"])


def _history(frames) -> pd.DataFrame:
    invoices = frames.invoices
    settled = invoices[(invoices["kind"] == "invoice") & invoices["settled_date"].notna()]
    days = (settled["settled_date"] - settled["due_date"]).dt.days.clip(lower=0)
    return settled.assign(days_late=days).groupby("customer_id").agg(
        settled=("days_late", "size"), late=("days_late", lambda d: int((d > 0).sum())),
        severe=("days_late", lambda d: int((d > SEVERE_DAYS).sum())), mean_days=("days_late", "mean"))


def _rules_scores(frames, targets: pd.DataFrame, as_of: pd.Timestamp,
                  prior: np.ndarray | None = None) -> pd.DataFrame:
    """Without a model: time-to-payment hazards from the payer's own history
    (:func:`model.survival.rules_hazards`, a shrunk Kaplan–Meier), read like the model's."""
    from model.survival import rules_hazards, summarise

    today = as_of - pd.Timedelta(days=1)
    hazards = rules_hazards(frames.invoices, targets["customer_id"].to_numpy(), as_of, prior)
    answers = summarise(hazards, *_age(targets, today))
    answers.insert(0, "invoice_id", targets["invoice_id"].to_numpy())
    answers.insert(1, "customer_id", targets["customer_id"].to_numpy())
    answers["basis"] = "rules"
    answers["reasons"] = [[] for _ in range(len(targets))]
    return answers


def _age(targets: pd.DataFrame, today: pd.Timestamp) -> tuple[np.ndarray, pd.Series, pd.Timestamp,
                                                               np.ndarray]:
    """(days late so far, due dates, today, terms) of each target, unpaid at the end of today."""
    due = pd.to_datetime(targets["due_date"])
    issue = pd.to_datetime(targets["issue_date"])
    age = (today - due).dt.days.to_numpy(float)
    return age, due, today, (due - issue).dt.days.to_numpy(float)


def _rules_reasons(frames, language: str) -> list[dict]:
    history = _history(frames)
    if history.empty:
        text = {"fr": "Aucun historique de paiement : client nouveau", "en": "No payment history: new customer"}
        return [{"feature": "hist_settled_count", "family": "history", "value": 0.0, "effect": 0.0,
                 "sentence": text.get(language, text["fr"])}]
    row = history.iloc[0]
    fr = f"{int(row['late'])} facture(s) payée(s) en retard sur {int(row['settled'])} réglée(s)"
    en = f"{int(row['late'])} of {int(row['settled'])} settled invoices paid late"
    return [{"feature": "hist_share_late", "family": "history", "value": float(row["late"] / row["settled"]),
             "effect": 0.0, "sentence": en if language == "en" else fr}]

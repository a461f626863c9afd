"""Risk for the API, the dunning run and the worklist: the champion model when there is one,
the payer's own history (rules) when there is none. A broken model never takes the API down.

Features are computed point in time from the ledger (`ledger.store.read_frames` → features),
as of the start of tomorrow, so that today's payments count.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from ledger.store import dated_in_range, read_frames
from ledger.tables import Invoice
from serving.policy import Risk

if TYPE_CHECKING:
    from model.predict import Predictor

# model/ and features/ (LightGBM, scikit-learn) are imported when first used, not with the app:
# an API that answers with rules, or a test that never scores, starts seconds sooner

log = logging.getLogger(__name__)
SEVERE_DAYS = 30
SCORABLE = dated_in_range(Invoice.issue_date, Invoice.due_date, Invoice.settled_on)


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
        return state

    # --- scoring -----------------------------------------------------------------------------

    def score_invoices(self, *, session: Session, invoice_ids: Sequence[str] = (),
                       inline: pd.DataFrame | None = None, today: dt.date,
                       explain: int = 0, language: str = "fr") -> pd.DataFrame:
        """One row per invoice as of `today`: p_late, p_severe, expected_days_late, basis, reasons."""
        stored = _stored_invoices(session, invoice_ids)
        customers = sorted(set(stored["customer_id"]) | set(inline["customer_id"] if inline is not None else []))
        if not customers:
            return _empty_scores()
        frames = read_frames(session=session, as_of=today, customer_ids=customers)
        targets = pd.concat([t for t in (stored, inline) if t is not None and len(t)], ignore_index=True)
        as_of = pd.Timestamp(today) + pd.Timedelta(days=1)
        scores, features = self._answers(frames, targets, as_of)
        if explain and features is not None:
            scores["reasons"] = self.state.predictor.explain(features, top=explain,
                                                             language=language)
        return scores

    def _answers(self, frames, targets: pd.DataFrame,
                 as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """(answers of each target, its features when the model answered)."""
        predictor = self.state.predictor
        if predictor is None:
            return _rules_scores(frames, targets, as_of), None
        from features.pipeline import build_features

        features = build_features(frames, invoices=_unsettled_view(targets), as_of=as_of)
        scores = pd.concat([features[["invoice_id", "customer_id"]], predictor.predict(features)],
                           axis=1)
        scores["basis"] = "model"
        scores["reasons"] = [[] for _ in range(len(scores))]
        return scores, features

    def risk_for(self, session: Session, invoice_ids: list[str], today: dt.date) -> dict[str, Risk]:
        """The provider the dunning run and the worklist take (`app.state.risk_for`).

        Answers for every invoice asked that is in the ledger: the stored answer of an open
        invoice (its customer refreshed first where stale, in the caller's transaction), else
        computed here (settled ones, as they stood before settling); the model when one is
        served, the payer's history (rules) otherwise; never an empty answer for known invoices.
        """
        if not invoice_ids:
            return {}
        from model.score import grade, invoice_risk, risk_to_score
        from serving.stored_risk import as_risk, invoice_risks

        stored = invoice_risks(self, session, invoice_ids, today)
        answers = {invoice_id: as_risk(row) for invoice_id, row in stored.items()}
        rest = [i for i in dict.fromkeys(invoice_ids) if i not in answers]
        if not rest:
            return answers
        scores = self.score_invoices(session=session, invoice_ids=rest, today=today)
        grades = grade(risk_to_score(invoice_risk(scores)))
        answers.update({row.invoice_id: Risk(
            p_late=float(row.p_late), p_severe=float(row.p_severe),
            expected_days_late=float(row.expected_days_late), grade=str(g), source=row.basis,
            p_unpaid_30=float(row.p_unpaid_30), p_unpaid_90=float(row.p_unpaid_90),
            expected_pay_date=row.expected_pay_date)
            for row, g in zip(scores.itertuples(index=False), grades)})
        return answers

    def cash_predictions(self, session: Session, as_of: dt.date) -> pd.DataFrame | None:
        """Open invoices' payment-date distributions for the cash-in forecast: P(paid in week
        k | unpaid at as_of) as w1 … w13 and `later` (None: the forecast's rules)."""
        predictor = self.state.predictor
        if predictor is None:
            return None
        from features.pipeline import build_features
        from ledger.forecast import WEEKS
        from model.forecast_interval import WeekInterval
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
        # the weekly 80 % interval's multipliers of the independent-invoice sd, calibrated on the
        # model's own past forecasts (model.forecast_interval); ∓1.2816 for an older bundle
        interval = WeekInterval.from_dict(predictor.bundle.meta.get("forecast_interval"))
        out["interval_low"], out["interval_high"] = interval.low, interval.high
        return out

    def customer_risk(self, *, session: Session, customer_id: str, today: dt.date,
                      language: str = "fr", top: int = 3) -> dict:
        """Score 0–1000, grade, probabilities, open balances and the reasons, for one customer:
        its stored answer (recomputed and stored again when stale), reasons told on demand."""
        from serving.stored_risk import fresh_rows

        row = fresh_rows(self, session, [customer_id], today, write=True)[customer_id]
        return self.answer(row, session=session, language=language, top=top)

    def fresh_customer_risk(self, *, session: Session, customer_id: str, today: dt.date,
                            language: str = "fr", top: int = 3) -> dict:
        """The same answer computed from the ledger now, without reading or writing the store."""
        from serving.stored_risk import compute

        [row], _ = compute(self, session, [customer_id], today)
        return self.answer(row, session=session, language=language, top=top)

    def answer(self, row: dict, *, session: Session, language: str, top: int) -> dict:
        """A stored row as the API gives it, with its reasons in `language` (none for top=0)."""
        fields = ("customer_id", "score", "grade", "p_late", "p_severe", "expected_days_late",
                  "p_unpaid_30", "p_unpaid_90", "open_invoices", "currency", "basis",
                  "model_version")
        out = {name: row[name] for name in fields}
        out |= _open_balance(session, row)
        out["as_of"] = row["as_of"].isoformat()
        out["reasons"] = self.reasons(row, language=language, top=top) if top else []
        return out

    def reasons(self, row: dict, *, language: str, top: int) -> list[dict]:
        data, predictor = row["reason_data"], self.state.predictor
        if row["basis"] == "model" and predictor is not None:
            # the reasons describe the payer: those of its expected next invoice
            return [dict(r) for r in predictor.explain_row(data, top=top, language=language)]
        return _rules_reasons(data.get("settled", 0), data.get("late", 0), language)


# --- helpers -------------------------------------------------------------------------------------

def _open_balance(session: Session, row: dict) -> dict:
    """The open balance as the customer record gives it: in the customer's currency, another
    currency's balance converted at the rates of the day (`rate_date`: the oldest used) or named
    in `unconverted` and left out; `by_currency` each in its own currency."""
    from ledger import fx

    own, parts = row["currency"], row["by_currency"]
    total = Decimal(row["open_amount"])  # the customer's own currency
    unconverted, rate_dates = [], []
    others = [p for p in parts if p["currency"] != own]
    if others:  # read the rates only when there is something to convert
        rates = fx.rates_on(session, row["as_of"], [own] + [p["currency"] for p in others])
        for part in others:
            converted = rates.convert(Decimal(part["open_amount"]), part["currency"], own)
            if converted is None:
                unconverted.append(part["currency"])
                continue
            total += converted.amount
            if converted.rate_date is not None:
                rate_dates.append(converted.rate_date)
    return {"open_amount": float(total), "rate_date": min(rate_dates) if rate_dates else None,
            "unconverted": unconverted,
            "by_currency": [{**p, "open_amount": float(p["open_amount"])} for p in parts]}


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


def _rules_scores(frames, targets: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Without a model: time-to-payment hazards from the payer's own history
    (:func:`model.survival.rules_hazards`, a shrunk Kaplan–Meier), read like the model's."""
    from model.survival import N_BINS, rules_hazards, summarise

    today = as_of - pd.Timedelta(days=1)
    # each payer pooled with itself only: its answer never depends on who else is scored with
    # it (one customer's risk, a chunk of the dunning run, a nightly refresh agree)
    hazards = np.empty((len(targets), N_BINS))
    invoices = dict(tuple(frames.invoices.groupby("customer_id", sort=False)))
    owners = targets["customer_id"].to_numpy()
    for customer_id in pd.unique(owners):
        rows = owners == customer_id
        own = invoices.get(customer_id, frames.invoices.iloc[:0])
        hazards[rows] = rules_hazards(own, owners[rows], as_of)
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


def _rules_reasons(settled: int, late: int, language: str) -> list[dict]:
    if not settled:
        text = {"fr": "Aucun historique de paiement : client nouveau", "en": "No payment history: new customer"}
        return [{"feature": "hist_settled_count", "family": "history", "value": 0.0, "effect": 0.0,
                 "sentence": text.get(language, text["fr"])}]
    fr = f"{late} facture(s) payée(s) en retard sur {settled} réglée(s)"
    en = f"{late} of {settled} settled invoices paid late"
    return [{"feature": "hist_share_late", "family": "history", "value": float(late / settled),
             "effect": 0.0, "sentence": en if language == "en" else fr}]

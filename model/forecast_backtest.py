"""The 13-week cash forecast, replayed on the past: the model's against the rules' and a naive one.

At each forecast origin (the split date, then every ``STEP_DAYS`` while 13 weeks still fit in the
ledger) the book is the invoices issued before it and unpaid then. Each forecast spreads that
book over 13 weeks (week w = origin + 7w … origin + 7w + 6); the actual is what settled in each
week. Amounts are invoice amounts (the frames carry no history of partial balances).

- **model**: Σ amount × P(paid in week w | unpaid at the origin), from the hazards; the share
  P(not paid within 13 weeks) is the doubtful part, kept apart;
- **rules**: :mod:`ledger.forecast` — each invoice on one date from the payer's Normal(μ, σ) of
  days late (what `GET /reports/cash-forecast` shows without a model);
- **naive**: each invoice on due + the payer's mean days late (tomorrow when that has passed).

WAPE = Σ|forecast − actual| / Σ actual over every origin and week. Coverage: how often the
week's actual falls inside the model's 80 % interval, and how often an invoice settles inside its
own 80 % pay-date interval (among invoices whose outcome is known at the end of the ledger).

The weekly interval is split conformal (:mod:`model.forecast_interval`): the forecast at origin o
is widened (and shifted) by the scores of the same booster's forecasts made earlier — at origins
every ``STEP_DAYS`` back from the split while after the booster's early-stopping date, and the
evaluated origins before o — **whose week had ended by o**. The weeks evaluated at o are never
among them. `interval_coverage_independent` keeps the ± 1.2816 sd interval of a sum of
independent invoices beside it (what the forecast showed before). The served model's multipliers
(``served_interval``) use every score, all out of time for it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.pipeline import build_features
from ledger.forecast import rules_days
from ledger.frames import LedgerFrames
from model import forecast_interval
from model.predict import Predictor
from model.survival import quantile_days, weekly_mass

WEEKS = 13
STEP_DAYS = 28
NOMINAL = forecast_interval.NOMINAL
Z80 = forecast_interval.Z80


@dataclass
class _Origin:
    origin: pd.Timestamp
    mean: np.ndarray  # (WEEKS,) the model's forecast
    sd: np.ndarray  # (WEEKS,) its standard deviation as a sum of independent invoices
    actual: np.ndarray  # (WEEKS,) what settled (weeks after the ledger's end: not known)
    book: pd.DataFrame
    hazards: np.ndarray
    age: np.ndarray
    terms: np.ndarray
    mass: np.ndarray

    def known_scores(self, by: pd.Timestamp) -> np.ndarray:
        """Scores of the weeks that had ended by ``by`` (a week ends at origin + 7 (w + 1))."""
        ended = self.origin + pd.to_timedelta(7 * (np.arange(WEEKS) + 1), unit="D") <= by
        return forecast_interval.scores(self.actual[ended], self.mean[ended], self.sd[ended])


def forecast_backtest(frames: LedgerFrames, predictor: Predictor, *,
                      split: pd.Timestamp) -> dict:
    end = frames.as_of + pd.Timedelta(days=1)
    split = pd.Timestamp(split)
    origins = []
    origin = split
    while origin + pd.Timedelta(days=7 * WEEKS) <= end:
        origins.append(origin)
        origin += pd.Timedelta(days=STEP_DAYS)
    if not origins:
        return {"origins": 0, "wape_13w": None, "rules_wape_13w": None, "naive_wape_13w": None,
                "interval_coverage": None, "nominal_coverage": NOMINAL}
    # forecasts before the split made by the booster after its early-stopping date: it never
    # learnt a payment of their weeks (only their weeks ended by the split count)
    valid_from = pd.Timestamp(predictor.bundle.meta.get("valid_from", split))
    earlier = []
    origin = split - pd.Timedelta(days=STEP_DAYS)
    while origin >= valid_from:
        earlier.append(_forecast(frames, predictor, origin))
        origin -= pd.Timedelta(days=STEP_DAYS)
    errors = {"model": 0.0, "rules": 0.0, "naive": 0.0}
    actual_total, weeks = 0.0, 0
    covered = covered_independent = 0
    inv_hits = inv_known = 0
    doubtful, widths, evaluated = [], [], []
    independent = forecast_interval.WeekInterval()
    for origin in origins:
        found = _forecast(frames, predictor, origin)
        if found.book.empty:
            continue
        book, actual, model, sd = found.book, found.actual, found.mean, found.sd
        amount = book["amount"].to_numpy(float)
        doubtful.append(float((found.mass[:, WEEKS] * amount).sum() / amount.sum()))
        rules = _weekly(book["amount"], _days_to_weeks(rules_days(
            book, _history(frames, origin), origin - pd.Timedelta(days=1))))
        naive = _weekly(book["amount"], _days_to_weeks(_naive_days(frames, book, origin)))
        for name, values in (("model", model), ("rules", rules), ("naive", naive)):
            errors[name] += float(np.abs(values - actual).sum())
        actual_total += float(actual.sum())
        # calibrated on weeks that had ended by this origin, never on the weeks evaluated here
        interval = forecast_interval.conformal(np.concatenate(
            [f.known_scores(origin) for f in earlier + evaluated] or [np.array([])]))
        widths.append(interval.high - interval.low)
        for which, counter in ((interval, "covered"), (independent, "independent")):
            low, high = which.bounds(model, sd)
            hits = int(((actual >= low) & (actual <= high)).sum())
            if counter == "covered":
                covered += hits
            else:
                covered_independent += hits
        weeks += WEEKS
        hits, known = _invoice_coverage(found.hazards, found.age, found.terms, book, origin, end)
        inv_hits += hits
        inv_known += known
        evaluated.append(found)
    wape = {name: round(value / actual_total, 4) if actual_total else None
            for name, value in errors.items()}
    served = forecast_interval.conformal(np.concatenate(
        [f.known_scores(end) for f in earlier + evaluated] or [np.array([])]))
    return {
        "origins": len(origins),
        "wape_13w": wape["model"], "rules_wape_13w": wape["rules"],
        "naive_wape_13w": wape["naive"],
        "interval_coverage": round(covered / weeks, 4) if weeks else None,
        "interval_coverage_independent": round(covered_independent / weeks, 4) if weeks else None,
        "interval_method": "split-conformal",
        "interval_width_sd": round(float(np.mean(widths)), 3) if widths else None,
        "calibration_origins": len(earlier),
        "served_interval": served.to_dict(),
        "invoice_interval_coverage": round(inv_hits / inv_known, 4) if inv_known else None,
        "nominal_coverage": NOMINAL,
        "doubtful_share": round(float(np.mean(doubtful)), 4) if doubtful else None,
    }


def _forecast(frames: LedgerFrames, predictor: Predictor, origin: pd.Timestamp) -> _Origin:
    """The model's 13-week forecast of the book open at ``origin``, and what came in."""
    book = _book(frames, origin)
    if book.empty:
        zeros = np.zeros(WEEKS)
        return _Origin(origin, zeros, zeros, zeros, book, np.zeros((0, 0)), zeros[:0],
                       zeros[:0], np.zeros((0, WEEKS + 1)))
    actual = _weekly(book["amount"], _week_of(book["settled_date"], origin))
    features = build_features(frames, invoices=book.assign(scored_at=origin))
    hazards = predictor.hazards(features)
    age = features["days_overdue"].to_numpy(float)
    terms = features["terms_days"].to_numpy(float)
    mass = weekly_mass(hazards, age, WEEKS, terms)
    amount = book["amount"].to_numpy(float)
    mean = (mass[:, :WEEKS] * amount[:, None]).sum(axis=0)
    sd = np.sqrt((mass[:, :WEEKS] * (1 - mass[:, :WEEKS]) * amount[:, None] ** 2).sum(axis=0))
    return _Origin(origin, mean, sd, actual, book, hazards, age, terms, mass)


def _book(frames: LedgerFrames, origin: pd.Timestamp) -> pd.DataFrame:
    invoices = frames.invoices
    if "kind" in invoices:
        invoices = invoices[invoices["kind"].fillna("invoice") == "invoice"]
    open_then = invoices["settled_date"].isna() | (invoices["settled_date"] >= origin)
    book = invoices[(invoices["issue_date"] < origin) & open_then]
    return book[["invoice_id", "customer_id", "issue_date", "due_date", "amount",
                 "settled_date"]].reset_index(drop=True)


def _week_of(dates: pd.Series, origin: pd.Timestamp) -> np.ndarray:
    days = (dates - origin).dt.days.to_numpy(float)
    return np.where(np.isnan(days), WEEKS, np.floor(days / 7)).astype(int)


def _days_to_weeks(days_from_today: np.ndarray) -> np.ndarray:
    """Days after 'today' (1 = tomorrow = the origin) → week index."""
    return ((np.asarray(days_from_today, float) - 1) // 7).astype(int)


def _weekly(amount: pd.Series, week: np.ndarray) -> np.ndarray:
    week = np.asarray(week)
    inside = (week >= 0) & (week < WEEKS)
    return np.bincount(week[inside], weights=amount.to_numpy(float)[inside], minlength=WEEKS)


def _history(frames: LedgerFrames, origin: pd.Timestamp) -> pd.DataFrame:
    """Invoices settled in the year before the origin (what the rules' forecast reads)."""
    invoices = frames.invoices
    settled = invoices[(invoices["kind"].fillna("invoice") == "invoice")
                       & (invoices["settled_date"] < origin)
                       & (invoices["settled_date"] >= origin - pd.Timedelta(days=365))]
    return settled[["customer_id", "due_date", "settled_date"]]


def _naive_days(frames: LedgerFrames, book: pd.DataFrame, origin: pd.Timestamp) -> np.ndarray:
    """Due + the payer's mean days late (all settled before the origin); tomorrow if passed."""
    invoices = frames.invoices
    settled = invoices[(invoices["kind"].fillna("invoice") == "invoice")
                       & (invoices["settled_date"] < origin)]
    delay = (settled["settled_date"] - settled["due_date"]).dt.days
    mean = delay.groupby(settled["customer_id"]).mean()
    overall = float(delay.mean()) if len(delay) else 0.0
    expected = book["due_date"] + pd.to_timedelta(
        book["customer_id"].map(mean).fillna(overall).to_numpy(), unit="D")
    days = (expected - (origin - pd.Timedelta(days=1))).dt.days.to_numpy(float)
    return np.clip(np.ceil(days), 1, None)


def _invoice_coverage(hazards: np.ndarray, age: np.ndarray, terms: np.ndarray,
                      book: pd.DataFrame, origin: pd.Timestamp,
                      end: pd.Timestamp) -> tuple[int, int]:
    low = quantile_days(hazards, age, (1 - NOMINAL) / 2, terms)
    high = quantile_days(hazards, age, 1 - (1 - NOMINAL) / 2, terms)
    due = book["due_date"]
    settled_late = (book["settled_date"] - due).dt.days.to_numpy(float)
    last_known = (end - pd.Timedelta(days=1) - due).dt.days.to_numpy(float)
    paid = ~np.isnan(settled_late)
    # the earliest money still to come is the origin itself (age + 1)
    low = np.where(np.isnan(low), np.inf, np.maximum(low, age + 1))
    inside_paid = paid & (settled_late >= low) & (np.isnan(high) | (settled_late <= high))
    # unpaid at the end: a miss once the interval has closed, unknown while it runs
    closed_unpaid = ~paid & ~np.isnan(high) & (high <= last_known)
    known = paid | closed_unpaid
    return int(inside_paid.sum()), int(known.sum())


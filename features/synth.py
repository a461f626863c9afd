"""Synthetic ledger: customers with documented payer behaviours, and the truth behind them.

Every invoice draws "late or not" from a probability the generator knows, written to the extra
``true_p_late`` column, so a backtest can compare the model with the best possible. That
probability is what is knowable *at issue*: disputes and defaults are drawn afterwards but are
averaged into it. Reminders are the generator's own dunning (steps 7, 21, 35 and 50 days after
due); they change *when* a late payer pays (e.g. ``after_first_reminder`` pays within days of the
first one), never *whether* an invoice is late, so ``true_p_late`` stays exact.

Everything is vectorised with numpy: 10,000 customers over 36 months is ~1M invoices.

Behaviours (``customers.behaviour``, documentation only, never a feature):

on_time               pays on or a few days before the due date; rarely late.
fixed_day             pays on a fixed day of the month (5, 10, ...) after the due date minus a week,
                      so lateness depends on where the due date falls in the month.
late_habit            usually 5 to 40 days late.
seasonal              fine most of the year, late in a cash squeeze (July, August, December dues).
deteriorating         lateness grows month after month, then some invoices are never paid.
disputes_often        opens disputes on a third of the invoices; disputed invoices are paid late.
large_slow            large company (segment enterprise), 60-day terms, large amounts, slow.
after_first_reminder  waits for the first reminder (due + 7) and pays a few days after it.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ledger.frames import LedgerFrames

BEHAVIOURS: dict[str, float] = {
    "on_time": 0.30,
    "fixed_day": 0.10,
    "late_habit": 0.14,
    "seasonal": 0.10,
    "deteriorating": 0.07,
    "disputes_often": 0.08,
    "large_slow": 0.09,
    "after_first_reminder": 0.12,
}
COUNTRIES = np.array(["FR", "BE", "CH", "DE", "ES", "IT", "GB", "US"])
COUNTRY_WEIGHTS = np.array([0.70, 0.07, 0.03, 0.06, 0.04, 0.04, 0.04, 0.02])
CURRENCY = {"GB": "GBP", "US": "USD", "CH": "CHF"}
FRENCH_SPEAKING = {"FR", "BE", "CH"}
STREETS = ("rue de la République", "avenue Jean Jaurès", "boulevard Victor Hugo", "rue Pasteur",
           "place de la Mairie", "chemin des Vignes", "rue du Commerce")
CITIES = (("69003", "Lyon"), ("75011", "Paris"), ("33000", "Bordeaux"), ("59000", "Lille"),
          ("44000", "Nantes"), ("31000", "Toulouse"), ("13001", "Marseille"), ("67000", "Strasbourg"))
SEGMENTS = np.array(["sme", "mid_market", "public", "enterprise"])
# invoices per month and median amount (EUR) by segment
SEGMENT_RATE = np.array([1.0, 2.5, 1.5, 4.0])
SEGMENT_AMOUNT = np.array([800.0, 3000.0, 2000.0, 15000.0])
# the generator's own dunning: (days after due, channel)
REMINDER_STEPS = [(7, "email"), (21, "email"), (35, "letter"), (50, "formal_notice")]
DISPUTE_REASONS = np.array(["pricing", "quality", "delivery", "missing_po"])
NAME_PREFIX = np.array(["Atelier", "Boulangerie", "Transports", "Cabinet", "Garage", "Société",
                        "Imprimerie", "Menuiserie", "Pharmacie", "Hôtel", "Groupe", "Laboratoire"])
NAME_SUFFIX = np.array(["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit",
                        "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel"])


def months_ending(today: date, months: int) -> date:
    """The first day of a period of `months` calendar months whose last month is `today`'s.

    Calendar months, not 31-day blocks: 24 months ending in November 2026 start on 2024-12-01,
    so a history generated from there ends with the current month filled up to today."""
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    index = today.year * 12 + (today.month - 1) - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


def generate(
    *,
    customers: int = 500,
    months: int = 24,
    seed: int = 0,
    start: date | str = "2024-01-01",
    as_of: date | str | pd.Timestamp | None = None,
) -> LedgerFrames:
    """A synthetic ledger, identical for identical arguments.

    ``as_of`` defaults to the last day of the period; events after it are not in the frames and
    invoices still unpaid then have ``settled_date`` NaT.
    """
    if customers < 1 or months < 1:
        raise ValueError(f"customers and months must be >= 1, got {customers} and {months}")
    rng = np.random.default_rng(seed)
    start_month = np.datetime64(pd.Timestamp(start).date(), "M")
    end_day = _day((start_month + months).astype("datetime64[D]")) - 1
    as_of_day = end_day if as_of is None else _day(np.datetime64(pd.Timestamp(as_of).date(), "D"))

    cust = _customers(rng, customers, months)
    inv = _invoices(rng, cust, months, start_month)
    _payment_behaviour(rng, cust, inv, start_month)
    frames = _events(rng, cust, inv, as_of_day)
    return LedgerFrames(as_of=pd.Timestamp(_to_datetime(np.array([as_of_day]))[0]), **frames)


# ---------------------------------------------------------------------------------- customers


def _customers(rng: np.random.Generator, n: int, months: int) -> dict[str, np.ndarray]:
    names = np.array(list(BEHAVIOURS))
    weights = np.array(list(BEHAVIOURS.values()))
    behaviour = rng.choice(names, size=n, p=weights / weights.sum())
    segment = rng.choice(4, size=n, p=[0.55, 0.25, 0.12, 0.08])
    segment[behaviour == "large_slow"] = 3
    # terms: 0 = 30 days, 1 = 45 days end of month, 2 = 60 days
    terms = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    terms[behaviour == "large_slow"] = rng.choice([1, 2], size=(behaviour == "large_slow").sum(),
                                                  p=[0.2, 0.8])
    # 60 % are customers from the start; the others join during the period (cold starts)
    joins = np.where(rng.random(n) < 0.6, 0, rng.integers(0, max(months - 1, 1), size=n))
    return {
        "behaviour": behaviour,
        "segment": segment,
        "terms": terms,
        "country": rng.choice(COUNTRIES, size=n, p=COUNTRY_WEIGHTS),
        "join_month": joins,
        "fixed_day": rng.choice([5, 10, 15, 20, 25], size=n),
        # deteriorating payers start sliding somewhere in the period
        "slide_month": rng.integers(0, max(months, 1), size=n),
        "dispute_rate": np.where(behaviour == "disputes_often", 0.35, 0.02),
        "amount_scale": SEGMENT_AMOUNT[segment] * rng.lognormal(0.0, 0.5, size=n),
    }


def _customer_frame(rng: np.random.Generator, cust: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(cust["behaviour"])
    ids = _ids("C", n, 6)
    country = cust["country"]
    terms_days = np.array([30, 45, 60])[cust["terms"]]
    name = (pd.Series(rng.choice(NAME_PREFIX, size=n)) + " "
            + pd.Series(rng.choice(NAME_SUFFIX, size=n)) + " " + pd.Series(ids).str[1:])
    return pd.DataFrame({
        "customer_id": ids,
        "name": name,
        "country": country,
        "language": np.where(np.isin(country, list(FRENCH_SPEAKING)), "fr", "en"),
        "segment": SEGMENTS[cust["segment"]],
        "email": "compta+" + pd.Series(ids).str.lower() + "@example.com",
        "phone": "+33 1 " + pd.Series(rng.integers(10_000_000, 99_999_999, size=n)).astype(str),
        "payment_terms_days": terms_days,
        "credit_limit": np.round(cust["amount_scale"] * 10, -2),
        "currency": pd.Series(country).map(CURRENCY).fillna("EUR").to_numpy(),
        # key accounts (enterprise) on the gentle scenario: a name that exists (ingestion checks)
        "dunning_scenario": np.where(cust["segment"] == 3, "gentle", "standard"),
        # postal addresses for letters, derived from the index: the random stream stays as it was
        "address": [f"{1 + (i * 37) % 180} {STREETS[i % len(STREETS)]}" for i in range(n)],
        "postal_code": [CITIES[i % len(CITIES)][0] for i in range(n)],
        "city": [CITIES[i % len(CITIES)][1] for i in range(n)],
        # extra columns, preserved by the ledger directory format
        "terms_end_of_month": cust["terms"] == 1,
        "behaviour": cust["behaviour"],
    })


# ----------------------------------------------------------------------------------- invoices


def _invoices(rng: np.random.Generator, cust: dict[str, np.ndarray], months: int,
              start_month: np.datetime64) -> dict[str, np.ndarray]:
    n = len(cust["behaviour"])
    month = np.arange(months)
    rate = SEGMENT_RATE[cust["segment"]][:, None] * np.ones((1, months))
    counts = rng.poisson(rate) * (month[None, :] >= cust["join_month"][:, None])
    c_idx = np.repeat(np.repeat(np.arange(n), months), counts.ravel())
    m_idx = np.repeat(np.tile(month, n), counts.ravel())
    month_start = _day((start_month + m_idx).astype("datetime64[D]"))
    month_len = _day((start_month + m_idx + 1).astype("datetime64[D]")) - month_start
    issue = month_start + (rng.random(len(c_idx)) * month_len).astype(np.int64)
    order = np.lexsort((c_idx, issue))  # ids follow issue order, as a billing system would
    c_idx, m_idx, issue = c_idx[order], m_idx[order], issue[order]

    terms = cust["terms"][c_idx]
    due = np.where(terms == 0, issue + 30, issue + 60)
    due = np.where(terms == 1, _end_of_month(issue + 45), due)
    amount = np.round(cust["amount_scale"][c_idx] * rng.lognormal(0.0, 0.6, size=len(c_idx)), 2)
    return {"c": c_idx, "month": m_idx, "issue": issue, "due": due,
            "amount": np.maximum(amount, 10.0)}


def _payment_behaviour(rng: np.random.Generator, cust: dict[str, np.ndarray],
                       inv: dict[str, np.ndarray], start_month: np.datetime64) -> None:
    """Adds true_p_late, disputed, days_late and defaulted to ``inv`` (in place)."""
    c, due, issue = inv["c"], inv["due"], inv["issue"]
    size = len(c)
    behaviour = cust["behaviour"][c]
    due_month = _month_of(due) % 12 + 1

    p_clean = np.full(size, 0.15)  # probability late when there is no dispute
    late_days = 1 + rng.gamma(2.0, 6.0, size=size)  # days late when late
    early_days = rng.integers(0, 6, size=size)  # days before due when on time

    def rule(name: str, p: np.ndarray | float, days: np.ndarray | None = None) -> None:
        mask = behaviour == name
        p_clean[mask] = np.broadcast_to(p, size)[mask]
        if days is not None:
            late_days[mask] = days[mask]

    rule("on_time", 0.04, 1 + rng.geometric(0.35, size=size))
    rule("late_habit", 0.80, 5 + rng.gamma(2.0, 8.0, size=size))
    squeeze = np.isin(due_month, [7, 8, 12])
    rule("seasonal", np.where(squeeze, 0.75, 0.08),
         np.where(squeeze, 8 + rng.gamma(2.0, 10.0, size=size), 1 + rng.gamma(1.5, 3.0, size)))
    slide = np.clip((inv["month"] - cust["slide_month"][c]) / 12.0, 0.0, 1.0)
    rule("deteriorating", 0.08 + 0.87 * slide, 3 + rng.gamma(2.0, 4.0 + 30.0 * slide, size=size))
    rule("large_slow", 0.75, 10 + rng.gamma(2.0, 12.0, size=size))
    # after_first_reminder: the first reminder goes out at due + 7, they pay 1 to 5 days later
    rule("after_first_reminder", 0.90, 7 + rng.integers(1, 6, size=size).astype(float))

    # fixed_day: 90 % of the time pays on the first fixed day of the month on or after due - 7,
    # otherwise on time
    fixed = _next_day_of_month(due - 7, cust["fixed_day"][c])
    follows = rng.random(size) < 0.9
    mask = behaviour == "fixed_day"
    p_clean[mask] = 0.0

    q = cust["dispute_rate"][c]
    p_disputed = 0.85
    disputed = rng.random(size) < q
    late = rng.random(size) < np.where(disputed, p_disputed, p_clean)
    late_days = np.where(disputed, 10 + rng.gamma(2.0, 10.0, size=size), late_days)
    days_late = np.where(late, np.maximum(np.round(late_days), 1), -early_days).astype(np.int64)
    # fixed-day payers who follow their habit pay exactly on the fixed day, late or not
    on_rule = mask & follows & ~disputed
    days_late = np.where(on_rule, fixed - due, days_late)
    late = np.where(on_rule, fixed > due, late)

    # reminders change when late payers pay: a third of those heading past the second reminder
    # (due + 21) pay within days of it instead
    nudged = late & (days_late > 21) & (rng.random(size) < 0.35) & (behaviour != "deteriorating")
    days_late = np.where(nudged, 21 + rng.integers(1, 6, size=size), days_late)

    # deteriorating payers end up never paying some invoices (late, so inside true_p_late)
    defaulted = (behaviour == "deteriorating") & late & (rng.random(size) < 0.6 * slide)

    inv["true_p_late"] = np.where(mask, 0.9 * (fixed > due) * (1 - q) + q * p_disputed,
                                  q * p_disputed + (1 - q) * p_clean)
    inv["late"] = late
    inv["disputed"] = disputed
    # never settled before issue (a 30-day invoice paid 5 days early is fine, terms are long)
    inv["settle"] = np.maximum(due + days_late, issue)
    inv["defaulted"] = defaulted


# ------------------------------------------------------------------------------------- events


def _events(rng: np.random.Generator, cust: dict[str, np.ndarray], inv: dict[str, np.ndarray],
            as_of: int) -> dict[str, pd.DataFrame]:
    customers = _customer_frame(rng, cust)
    customer_ids = customers["customer_id"].to_numpy()
    currency = customers["currency"].to_numpy()
    keep = inv["issue"] <= as_of
    inv = {k: v[keep] for k, v in inv.items()}
    size = len(inv["c"])
    c, issue, due, amount = inv["c"], inv["issue"], inv["due"], inv["amount"]
    never = np.iinfo(np.int64).max // 4
    settle = np.where(inv["defaulted"], never, inv["settle"])
    settled_known = settle <= as_of
    invoice_ids = _ids("F", size, 8)

    # credit notes on 3 % of invoices, issued soon after the invoice and before it settles
    has_cn = rng.random(size) < 0.03
    cn_day = np.minimum(issue + rng.integers(1, 16, size=size), settle)
    has_cn &= cn_day <= as_of
    cn_amount = np.round(amount * rng.uniform(0.05, 0.5, size=size), 2)
    due_by_payments = np.where(has_cn, amount - cn_amount, amount)

    # partial payments on 10 % of invoices: a first instalment between issue and settlement
    partial = rng.random(size) < 0.10
    first_day = issue + ((np.minimum(settle, as_of) - issue) * rng.uniform(0.2, 0.8, size)).astype(
        np.int64)
    partial &= first_day <= as_of
    first_amount = np.round(due_by_payments * rng.uniform(0.3, 0.7, size=size), 2)

    pay_inv = np.concatenate([np.flatnonzero(partial), np.flatnonzero(settled_known)])
    pay_day = np.concatenate([first_day[partial], settle[settled_known]])
    pay_amount = np.concatenate([
        first_amount[partial],
        np.where(partial, due_by_payments - first_amount, due_by_payments)[settled_known],
    ])
    # on-account payments: 2 % of customers send a small unallocated amount (customer credit)
    extra_c = np.flatnonzero(rng.random(len(customer_ids)) < 0.02)
    extra_day = np.minimum(as_of, rng.integers(as_of - 300, as_of + 1, size=len(extra_c)))
    order = np.lexsort((pay_inv, pay_day))
    pay_inv, pay_day, pay_amount = pay_inv[order], pay_day[order], pay_amount[order]
    payments = pd.DataFrame({
        "customer_id": np.concatenate([customer_ids[c[pay_inv]], customer_ids[extra_c]]),
        "paid_on": _to_datetime(np.concatenate([pay_day, extra_day])),
        "amount": np.round(np.concatenate([pay_amount, rng.uniform(50, 500, len(extra_c))]), 2),
        "currency": np.concatenate([currency[c[pay_inv]], currency[extra_c]]),
        "invoice_id": np.concatenate([invoice_ids[pay_inv],
                                      np.full(len(extra_c), None, dtype=object)]),
    })
    payments.insert(0, "payment_id", _ids("P", len(payments), 8))

    settled_or_nat = np.where(settled_known, settle, np.nan)
    invoices = pd.DataFrame({
        "invoice_id": invoice_ids,
        "customer_id": customer_ids[c],
        "issue_date": _to_datetime(issue),
        "due_date": _to_datetime(due),
        "amount": amount,
        "currency": currency[c],
        "kind": "invoice",
        "settled_date": _to_datetime(settled_or_nat),
        "true_p_late": inv["true_p_late"],
        "applies_to": None,
    })
    cn = np.flatnonzero(has_cn)
    credit_notes = pd.DataFrame({
        "invoice_id": _ids("A", len(cn), 8),
        "customer_id": customer_ids[c[cn]],
        "issue_date": _to_datetime(cn_day[cn]),
        "due_date": _to_datetime(cn_day[cn]),
        "amount": cn_amount[cn],
        "currency": currency[c[cn]],
        "kind": "credit_note",
        "settled_date": _to_datetime(cn_day[cn]),
        "true_p_late": np.nan,
        # extra column: the invoice the credit note reduces
        "applies_to": invoice_ids[cn],
    })
    invoices = pd.concat([invoices, credit_notes], ignore_index=True)

    return {
        "customers": customers,
        "invoices": invoices,
        "payments": payments,
        "disputes": _disputes(rng, inv, invoice_ids, settle, as_of),
        "reminders": _reminders(inv, invoice_ids, customer_ids, settle, as_of),
        "promises": _promises(rng, inv, invoice_ids, customer_ids, settle, as_of),
    }


def _disputes(rng: np.random.Generator, inv: dict[str, np.ndarray], invoice_ids: np.ndarray,
              settle: np.ndarray, as_of: int) -> pd.DataFrame:
    issue, due = inv["issue"], inv["due"]
    opened = issue + (rng.random(len(issue)) * (due - issue + 5)).astype(np.int64) + 1
    idx = np.flatnonzero(inv["disputed"] & (opened <= as_of))
    resolved = np.maximum(settle - rng.integers(0, 4, size=len(issue)), opened)
    is_resolved = resolved[idx] <= as_of
    return pd.DataFrame({
        "dispute_id": _ids("D", len(idx), 7),
        "invoice_id": invoice_ids[idx],
        "opened_on": _to_datetime(opened[idx]),
        "reason": rng.choice(DISPUTE_REASONS, size=len(idx)),
        # a state of the dispute workflow (ledger.workflow): the invoice is then paid in full,
        # so the dispute was rejected (no credit note)
        "status": np.where(is_resolved, "resolved_rejected", "open"),
        "resolved_on": _to_datetime(np.where(is_resolved, resolved[idx], np.nan)),
    })


def _reminders(inv: dict[str, np.ndarray], invoice_ids: np.ndarray, customer_ids: np.ndarray,
               settle: np.ndarray, as_of: int) -> pd.DataFrame:
    parts = []
    for step, (offset, channel) in enumerate(REMINDER_STEPS, start=1):
        sent = inv["due"] + offset
        idx = np.flatnonzero((sent < settle) & (sent <= as_of))
        parts.append(pd.DataFrame({
            "invoice_id": invoice_ids[idx],
            "customer_id": customer_ids[inv["c"][idx]],
            "sent_on": _to_datetime(sent[idx]),
            "channel": channel,
            "step": step,
        }))
    reminders = pd.concat(parts, ignore_index=True).sort_values(
        ["sent_on", "invoice_id"], kind="stable", ignore_index=True)
    reminders.insert(0, "reminder_id", _ids("R", len(reminders), 8))
    return reminders


def _promises(rng: np.random.Generator, inv: dict[str, np.ndarray], invoice_ids: np.ndarray,
              customer_ids: np.ndarray, settle: np.ndarray, as_of: int) -> pd.DataFrame:
    """A quarter of the invoices late by more than 10 days get a promise after the 1st reminder."""
    created = inv["due"] + 8
    idx = np.flatnonzero((settle - inv["due"] > 10) & (created <= as_of)
                         & (rng.random(len(created)) < 0.25))
    promised = created[idx] + rng.integers(3, 15, size=len(idx))
    kept = settle[idx] <= promised
    closed = np.where(kept, settle[idx], promised + 1)
    status = np.where(kept, "kept", "broken")
    is_closed = closed <= as_of
    return pd.DataFrame({
        "promise_id": _ids("PR", len(idx), 7),
        "customer_id": customer_ids[inv["c"][idx]],
        "invoice_id": invoice_ids[idx],
        "created_on": _to_datetime(created[idx]),
        "promised_date": _to_datetime(promised),
        "amount": inv["amount"][idx],
        "status": np.where(is_closed, status, "open"),
        "closed_on": _to_datetime(np.where(is_closed, closed, np.nan)),
    })


# ------------------------------------------------------------------------------------ helpers


def _day(values: np.ndarray | np.datetime64) -> np.ndarray:
    """Days since 1970-01-01 as int64."""
    return np.asarray(values).astype("datetime64[D]").astype(np.int64)


def _month_of(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 as int64 (so ``% 12 + 1`` is the calendar month)."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _end_of_month(days: np.ndarray) -> np.ndarray:
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return _day((months + 1).astype("datetime64[D]")) - 1


def _next_day_of_month(days: np.ndarray, day_of_month: np.ndarray) -> np.ndarray:
    """First date on or after ``days`` whose day of month is ``day_of_month`` (<= 28)."""
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    candidate = _day(months.astype("datetime64[D]")) + day_of_month - 1
    later = _day((months + 1).astype("datetime64[D]")) + day_of_month - 1
    return np.where(candidate >= days, candidate, later)


def _to_datetime(days: np.ndarray) -> np.ndarray:
    """Day numbers (NaN for missing) to datetime64[ns]."""
    days = np.asarray(days, dtype=np.float64)
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(days)
    out[ok] = days[ok].astype(np.int64).astype("datetime64[D]").astype("datetime64[ns]")
    return out


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return (prefix + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(width)).to_numpy()

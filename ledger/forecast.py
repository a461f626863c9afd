"""Cash-in forecast (prévision d'encaissements): expected cash per week for the next 13 weeks.

Each invoice open at `as_of` is expected on one date, with an early and a late date around it:

- with `predicted` carrying the time-to-payment model's weekly distribution (invoice_id and
  `w1` … `w13`, `later`: P(paid in week k | unpaid today) and P(not within the 13 weeks)), each
  week expects Σ open × P(paid that week), its 80 % interval is that + `interval_low` …
  `interval_high` standard deviations of a sum of independent invoices (multipliers calibrated on
  the model's own past forecasts, model.forecast_interval; ∓ 1.2816 when `predicted` has none),
  and `later` is the part unlikely to be collected within the horizon, shown apart rather than
  crammed into week 1;
- with `predicted` giving only expected_days_late (an older model), the expected date is
  due + expected_days_late, the spread is the payer's (see below);
- without it (rules), days late D of a payer ~ Normal(μ, σ) fitted on the payer's invoices settled
  in the 365 days up to `as_of` (μ = mean, σ = standard deviation of settled − due); fewer than 2 settled
  invoices → the global μ, σ of all payers; no history at all → μ = 0, σ = 15 days.
  * not yet due: expected = due + μ, early/late = due + μ ∓ 1.2816 σ (the 10th and 90th percentiles);
  * already o days past due and unpaid: D > o is known, so the payer's mean remaining delay is
    E[D − o | D > o] (truncated normal), expected = as_of + that; early/late = the 10th/90th
    percentiles of D − o given D > o.
  A date on or before `as_of` is moved to the day after (what was paid by `as_of` is already
  netted off the open amount, so money still to come comes tomorrow at the earliest).
- per week the interval is the lowest and highest of the three scenarios (every invoice at its
  early, expected or late date): a range of plausible weekly totals, not a statistical interval.

`forecast_accuracy` replays the rules as of a past date (only data ≤ that date) and compares each
week with the payments actually allocated in it to the invoices that were open then.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
from scipy.stats import norm
from sqlalchemy import text
from sqlmodel import Session

from ledger.kpi_receivables import ZERO, Lens, ReportError, _fast_plans, _money, _open_at, _sql, _to_date, default_lens
from ledger.schemas import MAX_DATE, MIN_DATE

WEEKS = 13
Z90 = float(norm.ppf(0.9))
DEFAULT_SIGMA = 15.0
MIN_SIGMA = 1.0
HISTORY_DAYS = 365


@dataclass
class ForecastWeek:
    week: int
    start: dt.date
    end: dt.date
    expected: Decimal
    low: Decimal
    high: Decimal


@dataclass
class Forecast:
    as_of: dt.date
    segment: str | None
    source: str  # rules | model
    open_receivables: Decimal
    weeks: list[ForecastWeek]
    later: Decimal  # expected after the 13 weeks
    currency: str = "EUR"

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([w.__dict__ for w in self.weeks])


# --- data ----------------------------------------------------------------------------------------

def _spread(history: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    """Per-payer μ, σ (payers with ≥ 2 settled invoices) and the global μ, σ."""
    n, s, ss = history["n"].sum(), history["s"].sum(), history["ss"].sum()
    if n >= 2:
        mu_all = s / n
        sigma_all = max(math.sqrt(max(ss / n - mu_all ** 2, 0.0) * n / (n - 1)), MIN_SIGMA)
    else:
        mu_all, sigma_all = (s / n if n else 0.0), DEFAULT_SIGMA
    known = history[history["n"] >= 2].copy()
    known["mu"] = known["s"] / known["n"]
    var = (known["ss"] / known["n"] - known["mu"] ** 2).clip(lower=0) * known["n"] / (known["n"] - 1)
    known["sigma"] = np.sqrt(var).clip(lower=MIN_SIGMA)
    return known[["customer_id", "mu", "sigma"]], mu_all, sigma_all


# --- expected dates ------------------------------------------------------------------------------

def _expected_days(open_: pd.DataFrame, payers: pd.DataFrame, mu_all: float, sigma_all: float,
                   as_of: dt.date, predicted: pd.DataFrame | None) -> pd.DataFrame:
    """Days from `as_of` to the early, expected and late payment date of each open invoice."""
    frame = open_.merge(payers, on="customer_id", how="left")
    frame["mu"] = frame["mu"].fillna(mu_all)
    frame["sigma"] = frame["sigma"].fillna(sigma_all)
    if predicted is not None and len(predicted):
        model = predicted.set_index("invoice_id")["expected_days_late"].astype(float)
        override = frame["invoice_id"].map(model)
        frame["mu"] = override.fillna(frame["mu"])
    as_of_ts = pd.Timestamp(as_of)
    overdue = ((as_of_ts - frame["due_date"]).dt.days).clip(lower=0).astype(float)
    until_due = (frame["due_date"] - as_of_ts).dt.days.astype(float)
    mu, sigma = frame["mu"].to_numpy(float), frame["sigma"].to_numpy(float)

    # not yet due: the payer's days late, as they are
    early_nd = until_due + mu - Z90 * sigma
    expected_nd = until_due + mu
    late_nd = until_due + mu + Z90 * sigma

    # past due by o days: D > o is known, take the distribution of D − o given that
    o = overdue.to_numpy(float)
    alpha = (o - mu) / sigma
    tail = np.clip(norm.sf(alpha), 1e-12, None)
    mean_remaining = mu - o + sigma * norm.pdf(alpha) / tail
    lower_cdf = norm.cdf(alpha)

    def remaining_quantile(q: float) -> np.ndarray:
        return mu + sigma * norm.ppf(np.clip(lower_cdf + q * (1 - lower_cdf), 0, 1 - 1e-12)) - o

    is_overdue = o > 0
    frame["early"] = np.where(is_overdue, remaining_quantile(0.1), early_nd)
    frame["expected"] = np.where(is_overdue, mean_remaining, expected_nd)
    frame["late"] = np.where(is_overdue, remaining_quantile(0.9), late_nd)
    for column in ("early", "expected", "late"):
        # what was due by as_of is already netted off: the earliest cash still to come is tomorrow
        frame[column] = np.ceil(np.nan_to_num(frame[column].to_numpy(float), nan=1.0)).clip(min=1)
    return frame


def rules_days(open_: pd.DataFrame, settled: pd.DataFrame, as_of: dt.date | pd.Timestamp
               ) -> np.ndarray:
    """Days from `as_of` to each open invoice's expected payment under the rules, from frames
    (the model's backtest replays the rules with this): `open_` has invoice_id, customer_id,
    due_date; `settled` the invoices settled in the year before (customer_id, due_date,
    settled_date)."""
    late = (settled["settled_date"] - settled["due_date"]).dt.days.astype(float)
    history = late.groupby(settled["customer_id"]).agg(["count", "sum"]).rename(
        columns={"count": "n", "sum": "s"})
    history["ss"] = (late ** 2).groupby(settled["customer_id"]).sum()
    history = history.reset_index().rename(columns={"index": "customer_id"})
    payers, mu_all, sigma_all = _spread(history.astype({"n": float, "s": float, "ss": float}))
    frame = _expected_days(open_[["invoice_id", "customer_id", "due_date"]].reset_index(drop=True),
                           payers, mu_all, sigma_all, pd.Timestamp(as_of).date(), None)
    return frame["expected"].to_numpy(float)


def _weekly(frame: pd.DataFrame, column: str, weeks: int, lens: Lens) -> list[Decimal]:
    """Open amounts expected in each week (the last: later), each currency converted by `lens`:
    integer cents summed per week and currency (exact), then converted."""
    week = np.minimum((frame[column].to_numpy(float) - 1) // 7, weeks).astype(np.int64)
    cents = frame["cents"].to_numpy(np.int64)
    currencies = frame["currency"].to_numpy(object)
    per: dict[int, dict[str, Decimal]] = {}
    for currency in pd.unique(currencies):
        inside = currencies == currency
        sums = np.zeros(weeks + 1, dtype=np.int64)
        np.add.at(sums, week[inside], cents[inside])
        for k in np.flatnonzero(np.bincount(week[inside], minlength=weeks + 1)):
            per.setdefault(int(k), {})[currency] = Decimal(int(sums[k])) / 100
    return [lens.money(per.get(k, {})) for k in range(weeks + 1)]


def _totals(frame: pd.DataFrame) -> dict[str, Decimal]:
    """{currency: open amount}, from the integer cents."""
    sums = frame.groupby("currency", sort=False)["cents"].sum()
    return {currency: Decimal(int(cents)) / 100 for currency, cents in sums.items()}


def cash_forecast(*, session: Session, as_of: dt.date, predicted: pd.DataFrame | None = None,
                  segment: str | None = None, weeks: int = WEEKS, lens: Lens | None = None) -> Forecast:
    """Expected cash-in per week (week k = as_of + 7k + 1 … as_of + 7k + 7) for `weeks` weeks."""
    if not isinstance(as_of, dt.date):
        raise ReportError("as_of", f"expected a date, got {as_of!r}")
    if predicted is not None:
        missing = {"invoice_id", "expected_days_late"} - set(predicted.columns)
        if missing:
            raise ReportError("predicted", f"missing columns: {', '.join(sorted(missing))}")
    lens = lens or default_lens(session, as_of, segment)
    # the payers' delays are in days, whatever the currency: one history for all lenses
    frame = lens.memo(("forecast", as_of, segment, id(predicted)), lambda: _frame(session, as_of, segment, predicted))
    if predicted is not None and f"w{weeks}" in predicted.columns:
        by = _distribution(frame, predicted, weeks, lens)
    else:
        by = {c: _weekly(frame, c, weeks, lens) for c in ("early", "expected", "late")}
    rows = []
    for k in range(weeks):
        start = as_of + dt.timedelta(days=7 * k + 1)
        values = [by[c][k] for c in ("early", "expected", "late")]
        rows.append(ForecastWeek(week=k + 1, start=start, end=start + dt.timedelta(days=6),
                                 expected=by["expected"][k], low=min(values), high=max(values)))
    return Forecast(as_of=as_of, segment=segment, source="model" if predicted is not None else "rules",
                    open_receivables=lens.money(_totals(frame)), weeks=rows, later=by["expected"][weeks],
                    currency=lens.currency)


def _distribution(frame: pd.DataFrame, predicted: pd.DataFrame, weeks: int,
                  lens: Lens) -> dict[str, list[Decimal]]:
    """Weekly expected cash, its 80 % interval (low = "early", high = "late") and, last, the part
    not expected within `weeks`, from each invoice's P(paid in week k); an open invoice the model
    did not score keeps the rules' single date."""
    columns = [f"w{k}" for k in range(1, weeks + 1)]
    mass = frame[["invoice_id"]].merge(predicted[["invoice_id", *columns, "later"]],
                                       on="invoice_id", how="left")
    scored = mass[columns[0]].notna().to_numpy()
    # the interval's multipliers of the sd: calibrated on the model's past forecasts when the
    # model carries them (model.forecast_interval), else ∓1.2816 (independent invoices)
    z_low = float(predicted["interval_low"].iloc[0]) if "interval_low" in predicted else -Z90
    z_high = float(predicted["interval_high"].iloc[0]) if "interval_high" in predicted else Z90
    p = mass[columns].to_numpy(float)
    later = mass["later"].to_numpy(float)
    out: dict[str, list[Decimal]] = {c: [] for c in ("early", "expected", "late")}
    rules = {c: _weekly(frame[~scored], c, weeks, lens) if (~scored).any() else
             [ZERO] * (weeks + 1) for c in ("early", "expected", "late")}
    for k in range(weeks + 1):
        expected: dict[str, Decimal] = {}
        low: dict[str, Decimal] = {}
        high: dict[str, Decimal] = {}
        for currency in frame["currency"].unique():
            inside = scored & (frame["currency"] == currency).to_numpy()
            amount = frame["cents"].to_numpy(np.int64)[inside] / 100
            share = later[inside] if k == weeks else p[inside, k]
            mean = float((amount * share).sum())
            sd = float(np.sqrt((amount ** 2 * share * (1 - share)).sum()))
            expected[currency] = Decimal(str(round(mean, 2)))
            low[currency] = Decimal(str(round(max(mean + z_low * sd, 0.0), 2)))
            high[currency] = Decimal(str(round(max(mean + z_high * sd, 0.0), 2)))
        out["expected"].append(lens.money(expected) + rules["expected"][k])
        out["early"].append(lens.money(low) + rules["early"][k])
        out["late"].append(lens.money(high) + rules["late"][k])
    return out


def _frame(session: Session, as_of: dt.date, segment: str | None, predicted: pd.DataFrame | None) -> pd.DataFrame:
    """The open invoices (open amount in integer `cents`) with their payer's μ, σ and expected
    days: one query brings each open
    invoice with its payer's n, Σ, Σ² of days late (the 50,000 payer histories stay in the
    database), another the ledger's; μ and σ are then what `_spread` makes of the same sums."""
    _fast_plans(session)
    sql = _sql(session)
    [(cte, params)] = _open_at(session, [as_of], segment)
    late = sql.days("h.settled_on", "h.due_date")
    settled = (f"h.kind = 'invoice' AND h.settled_on > {sql.date('since')} AND h.settled_on <= {sql.date('as_of')}"
               f"{sql.segment('h', segment)}")
    params = params | {"as_of": sql.param(as_of), "since": sql.param(as_of - dt.timedelta(days=HISTORY_DAYS)),
                       "low": sql.param(MIN_DATE), "high": sql.param(MAX_DATE)}
    if segment is not None:
        params["segment"] = segment
    result = session.execute(text(f"""WITH {cte},
    history AS {sql.materialized()}(
        SELECT h.customer_id, COUNT(*) AS n, SUM({late}) AS s, SUM({late} * {late}) AS ss
        FROM invoice h WHERE {settled} GROUP BY h.customer_id),
    ledger AS (SELECT CAST(SUM(n) AS BIGINT) AS n, CAST(SUM(s) AS BIGINT) AS s,
                      CAST(SUM(ss) AS BIGINT) AS ss FROM history)
    SELECT o.invoice_id, o.customer_id, o.currency, o.due_date, CAST(ROUND(o.open_amount * 100) AS BIGINT),
           y.n, y.s, y.ss,
           ledger.n, ledger.s, ledger.ss
    FROM ledger LEFT JOIN open_at o ON o.open_amount > 0
      -- an invoice stored before the date bounds (due in year 1 or 9999) has no week to fall in
      AND o.due_date >= {sql.date('low')} AND o.due_date <= {sql.date('high')}
    LEFT JOIN history y ON y.customer_id = o.customer_id"""), params)
    rows = result.cursor.fetchall()  # the driver's tuples: no Row object per open invoice
    result.close()
    # the ledger's sums ride on every row (and alone on a row of nulls when nothing is open)
    n_all, s_all, ss_all = rows[0][8:] if rows else (0, 0, 0)
    rows = [row[:8] for row in rows if row[0] is not None]
    frame = pd.DataFrame(rows, columns=["invoice_id", "customer_id", "currency", "due_date", "cents",
                                        "n", "s", "ss"])
    frame["due_date"] = pd.to_datetime(frame["due_date"])  # dates, or ISO text on SQLite
    # money as integer cents (what the ledger holds; SQLite's float sums rounded back to them):
    # summed exactly per week and currency without a Decimal per invoice
    frame["cents"] = frame["cents"].astype(np.int64)
    history = frame[["customer_id", "n", "s", "ss"]].dropna().drop_duplicates("customer_id").astype(
        {"n": float, "s": float, "ss": float})
    payers, _, _ = _spread(history)
    _, mu_all, sigma_all = _spread(pd.DataFrame({"n": [float(n_all or 0)], "s": [float(s_all or 0)],
                                                 "ss": [float(ss_all or 0)], "customer_id": [""]}))
    return _expected_days(frame.drop(columns=["n", "s", "ss"]), payers, mu_all, sigma_all, as_of, predicted)


# --- accuracy ------------------------------------------------------------------------------------

@dataclass
class AccuracyWeek:
    week: int
    start: dt.date
    end: dt.date
    forecast: Decimal
    actual: Decimal
    error: Decimal           # forecast − actual
    abs_pct_error: float | None


@dataclass
class ForecastAccuracy:
    made_as_of: dt.date
    weeks: list[AccuracyWeek]
    mape: float | None       # mean of |error| / actual over weeks with actual > 0, in %
    wape: float | None       # Σ|error| / Σ actual, in %


def actual_cash(*, session: Session, made_as_of: dt.date, until: dt.date,
                segment: str | None = None, lens: Lens | None = None) -> dict[dt.date, Decimal]:
    """Payments allocated per day in (made_as_of, until] to invoices issued on or before made_as_of."""
    sql = _sql(session)
    lens = lens or default_lens(session, made_as_of, segment)
    query = f"""SELECT a.allocated_on, i.currency, SUM(a.amount) FROM allocation a
    JOIN invoice i ON i.invoice_id = a.invoice_id
    WHERE a.source_kind = 'payment' AND a.allocated_on > {sql.date('start')}
      AND a.allocated_on <= {sql.date('until')} AND i.issue_date <= {sql.date('made')}
      {sql.segment('i', segment)}
    GROUP BY a.allocated_on, i.currency"""
    params = {"start": sql.param(made_as_of), "until": sql.param(until),
              "made": sql.param(made_as_of), "segment": segment}
    per: dict[dt.date, dict[str, Decimal]] = {}
    for day, currency, amount in session.execute(text(query), params):
        per.setdefault(_to_date(day), {})[currency] = _money(amount)
    return {day: lens.money(amounts) for day, amounts in per.items()}


def forecast_accuracy(*, session: Session, made_as_of: dt.date, weeks: int = WEEKS,
                      until: dt.date, segment: str | None = None) -> ForecastAccuracy:
    """What the rules would have forecast at `made_as_of`, week by week against actual cash.

    Only weeks that ended on or before `until` (the caller's today) are compared.
    """
    lens = default_lens(session, made_as_of, segment)
    forecast = cash_forecast(session=session, as_of=made_as_of, segment=segment, weeks=weeks, lens=lens)
    actual = actual_cash(session=session, made_as_of=made_as_of, until=until, segment=segment, lens=lens)
    rows = []
    for week in forecast.weeks:
        if week.end > until:
            break
        got = sum((v for d, v in actual.items() if week.start <= d <= week.end), ZERO)
        error = week.expected - got
        rows.append(AccuracyWeek(week=week.week, start=week.start, end=week.end,
                                 forecast=week.expected, actual=got, error=error,
                                 abs_pct_error=round(abs(float(error)) / float(got) * 100, 2) if got else None))
    scored = [r.abs_pct_error for r in rows if r.abs_pct_error is not None]
    total_actual = sum((r.actual for r in rows), ZERO)
    return ForecastAccuracy(
        made_as_of=made_as_of, weeks=rows,
        mape=round(sum(scored) / len(scored), 2) if scored else None,
        wape=round(float(sum((abs(r.error) for r in rows), ZERO)) / float(total_actual) * 100, 2)
        if total_actual else None)

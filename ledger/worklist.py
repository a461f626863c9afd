"""The worklist: customers with open invoices, ranked by what is at risk.

A customer's value at risk over h days = Σ over its open invoices of open_amount × P(not paid
within h days | unpaid today) (`ledger.var`: never more than what is owed), for h = 30 and 90.
P comes from the caller's `risk` (the served model, or its rules), else from the payer's
history (`ledger.var.own_hazards`, the same shrunk Kaplan–Meier the risk service falls back on). The worklist ranks by the 90-day figure converted into the
reporting currency; urgency (days overdue, broken promises) is shown beside it, not mixed in.
Amounts on a row are in the customer's currency. The grade is the one `risk` gives the
customer's invoices (the API gives each the customer's own score grade, as on the customer
page), else the customer's last published score.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Integer, and_, case, func, or_, select
from sqlmodel import Session

from ledger import fx
from ledger.errors import (
    FieldError,
    LedgerValidationError,
)
from ledger.tables import (
    Customer,
    CustomerScore,
    Dispute,
    Invoice,
    Promise,
    WorklistOpen,
)
from ledger.var import delay_counts, own_hazards, unpaid_after, value_at_risk
from ledger.workflow import ACTIVE_DISPUTE, PromiseStatus
from ledger.worklist_rows import BUCKETS, WorklistRow, among, enrich_rows

CENT = Decimal("0.01")
ZERO = Decimal("0")


GRADE_ORDER = "ABCDE"




Grade = Literal["A", "B", "C", "D", "E"]


@dataclass(frozen=True)
class InvoiceOdds:
    """What the worklist needs of an invoice's risk (serving adapts its `Risk` to this)."""

    p_unpaid_30: float
    p_unpaid_90: float
    grade: str | None = None
    source: str = "model"


# invoice ids → odds; an invoice it does not answer for falls back to the payer's history
InvoiceRisk = Callable[[list[str]], Mapping[str, InvoiceOdds]]


def worklist(*, session: Session, today: dt.date, agent: str | None = None, limit: int = 50,
             segment: str | None = None, grade: str | None = None, bucket: str | None = None,
             risk: InvoiceRisk | None = None, offset: int = 0, search: str | None = None,
             currency: str | None = None, dispute: bool | None = None,
             promise: bool | None = None) -> list[WorklistRow]:
    """Customers with open invoices, ranked by value at risk within 90 days (see above).

    Exact top-`limit` with early stopping (a threshold algorithm): customers come from SQL in
    decreasing open amount (in the reporting currency), in windows; since P ≤ 1 no customer
    beyond the window can have more at risk than the window's last open amount, so once the
    `limit`-th value at risk reaches it the ranking is final. Only the returned page is enriched.

    `offset` skips the first ranks (pages); `search` matches the customer's id or name (any
    case, literally), `currency` keeps the customers invoiced in that currency, `dispute` /
    `promise` keep (True) or leave out (False) those with an active dispute / an open promise."""
    if limit < 1:
        raise LedgerValidationError([FieldError("limit", "must be at least 1")])
    if offset < 0:
        raise LedgerValidationError([FieldError("offset", "must be 0 or more")])
    limit += offset  # the ranking is exact for the first offset + limit ranks
    customers = _customer_filter(agent=agent, segment=segment, search=search, currency=currency,
                                 dispute=dispute, promise=promise)
    if grade is not None and grade not in GRADE_ORDER:
        raise LedgerValidationError([FieldError("grade", f"unknown grade {grade!r}: one of A, B, C, D, E")])
    reporting = fx.reporting_currency()
    rates = fx.rates_on(session, today)
    if bucket is not None:
        customers = _in_bucket(customers, bucket, today)
    if grade is not None and risk is None:
        # without a risk provider a customer's grade is its published one: read only those
        graded = select(CustomerScore.customer_id).where(CustomerScore.grade == grade)
        customers = graded if customers is None else graded.where(CustomerScore.customer_id.in_(customers))
    # candidates in decreasing open amount, from the stored per-currency sums (`WorklistOpen`,
    # kept by the database on every invoice write), one ordered index walk per currency
    factors = _stored_factors(session, rates, reporting)
    # a first window a few pages deep: at most `limit` must be overtaken; the second step below
    # reads exactly the customers whose open amount could still overtake the `limit`-th
    window = max(limit * 4, 100)
    seen: set[str] = set()
    scored: list[dict] = []
    while True:
        ids, bound, complete = _open_window(session, customers=customers, factors=factors,
                                            window=window)
        scored = _merge(scored, _score_new(session, ids, seen, today=today, risk=risk,
                                           rates=rates, reporting=reporting, grade=grade))
        # a tiny margin: the bound is in floats, the key in exact decimals
        if complete or (len(scored) >= limit and float(scored[limit - 1]["key"]) >= bound * (1 + 1e-9) + 0.01):
            break
        if len(scored) >= limit:
            # no customer whose open amount is below the `limit`-th value at risk can overtake
            # it (P <= 1): read every other one at or above it, score them, and the page is final
            threshold = (float(scored[limit - 1]["key"]) - 0.01) / (1 + 1e-9)
            rest = _open_at_least(session, customers=customers, factors=factors, at_least=threshold)
            scored = _merge(scored, _score_new(session, rest, seen, today=today, risk=risk,
                                               rates=rates, reporting=reporting, grade=grade))
            break
        window *= 4
    return enrich_rows(session=session, rows=[_finished(r) for r in scored[offset:limit]], today=today,
                       first_rank=offset + 1)


def worklist_full(*, session: Session, today: dt.date, limit: int = 50, offset: int = 0,
                  risk: InvoiceRisk | None = None, grade: str | None = None,
                  **filters: Any) -> list[WorklistRow]:
    """The same page computed the slow way, every candidate scored (the reference the tests
    hold `worklist`'s early stopping to)."""
    customers = _customer_filter(agent=filters.get("agent"), segment=filters.get("segment"),
                                 search=filters.get("search"), currency=filters.get("currency"),
                                 dispute=filters.get("dispute"), promise=filters.get("promise"))
    reporting = fx.reporting_currency()
    rates = fx.rates_on(session, today)
    bounds = _open_bounds(session=session, today=today, customers=customers,
                          bucket=filters.get("bucket"), window=None, rates=rates, reporting=reporting)
    scored = _score(session=session, customer_ids=[c for c, _ in bounds], today=today, risk=risk,
                    rates=rates, reporting=reporting)
    if grade is not None:
        scored = [row for row in scored if row["grade"] == grade]
    return enrich_rows(session=session, rows=[_finished(r) for r in scored[offset:offset + limit]],
                       today=today, first_rank=offset + 1)


def _score_new(session: Session, ids: list[str], seen: set[str], *,
               today: dt.date, risk: InvoiceRisk | None, rates: fx.Rates, reporting: str,
               grade: str | None) -> list[dict]:
    """`_score` of the customers of `ids` not scored yet (each customer's value at risk is
    its own: scoring it again would give the same row)."""
    new = [c for c in dict.fromkeys(ids) if c not in seen]
    seen.update(new)
    rows = _score(session=session, customer_ids=new, today=today, risk=risk, rates=rates,
                  reporting=reporting)
    return rows if grade is None else [row for row in rows if row["grade"] == grade]


def _merge(scored: list[dict], new: list[dict]) -> list[dict]:
    return sorted(scored + new, key=lambda r: (-r["key"], r["customer_id"])) if new else scored


def _stored_factors(session: Session, rates: fx.Rates, reporting: str) -> dict[str, float]:
    """Each currency with open invoices and its rate into the reporting one (1 where there is
    none, as the ranking counts it then)."""
    codes = session.execute(select(WorklistOpen.currency).distinct()).scalars().all()
    factors = {}
    for code in codes:
        found = rates.rate(code, reporting)
        factors[code] = float(found[0]) if found is not None else 1.0
    return factors


def _open_window(session: Session, *, customers, factors: dict[str, float],
                 window: int) -> tuple[list[str], float, bool]:
    """The `window` customers owing the most in each currency (a threshold algorithm over one
    sorted list per currency): (their ids, the most any other customer can owe in the
    reporting currency, whether every candidate was read)."""
    ids: list[str] = []
    bound, complete = 0.0, True
    for code, factor in factors.items():
        query = (select(WorklistOpen.customer_id, WorklistOpen.open_amount)
                 .where(WorklistOpen.currency == code)
                 .order_by(WorklistOpen.open_amount.desc(), WorklistOpen.customer_id.desc())
                 .limit(window))
        if customers is not None:
            query = query.where(WorklistOpen.customer_id.in_(customers))
        rows = session.execute(query).all()
        ids += [row[0] for row in rows]
        if len(rows) == window:
            # a customer not read owes at most the last amount read, in each currency
            complete = False
            bound += float(rows[-1][1]) * factor
    return ids, bound, complete


def _open_at_least(session: Session, *, customers, factors: dict[str, float],
                   at_least: float) -> list[str]:
    """Every customer whose open amount in the reporting currency may reach `at_least`: one
    owing Σ over m currencies ≥ t owes at least t / m in one of them."""
    ids: list[str] = []
    share = at_least / max(len(factors), 1) * (1 - 1e-9)
    for code, factor in factors.items():
        query = select(WorklistOpen.customer_id).where(
            WorklistOpen.currency == code, WorklistOpen.open_amount >= share / factor)
        if customers is not None:
            query = query.where(WorklistOpen.customer_id.in_(customers))
        ids += session.execute(query).scalars().all()
    return ids


def _in_bucket(customers, bucket: str, today: dt.date):
    """`customers` (None: everyone) whose oldest open invoice is in `bucket`."""
    query = (select(Invoice.customer_id).where(Invoice.kind == "invoice", Invoice.settled_on.is_(None))
             .group_by(Invoice.customer_id).having(_bucket_condition(bucket, today)))
    if customers is not None:
        query = query.where(Invoice.customer_id.in_(customers))
    return query


def fresh_open(session: Session) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """(customer, currency) → (Σ open amount, open invoices), aggregated from the invoices now:
    what `WorklistOpen` must always hold (the tests compare them)."""
    rows = session.execute(
        select(Invoice.customer_id, Invoice.currency, func.sum(Invoice.open_amount), func.count())
        .where(Invoice.kind == "invoice", Invoice.settled_on.is_(None))
        .group_by(Invoice.customer_id, Invoice.currency))
    return {(c, code): (Decimal(str(amount)).quantize(CENT), int(n)) for c, code, amount, n in rows}


def stored_open(session: Session) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """What `WorklistOpen` holds, in `fresh_open`'s shape."""
    rows = session.execute(select(WorklistOpen.customer_id, WorklistOpen.currency,
                                  WorklistOpen.open_amount, WorklistOpen.open_invoices))
    return {(c, code): (Decimal(str(amount)).quantize(CENT), int(n)) for c, code, amount, n in rows}


def _customer_filter(*, agent: str | None, segment: str | None, search: str | None,
                     currency: str | None, dispute: bool | None, promise: bool | None):
    """The customers a worklist may show (a subquery of ids), or None: everyone."""
    conditions = []
    if agent is not None:
        conditions.append(Customer.assigned_agent == agent)
    if segment is not None:
        conditions.append(Customer.segment == segment)
    if currency is not None:
        conditions.append(Customer.currency == currency.upper())
    if search:
        # a literal substring: LIKE wildcards typed by the user match themselves
        needle = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(func.lower(Customer.customer_id).like(needle, escape="\\"),
                              func.lower(func.coalesce(Customer.name, "")).like(needle, escape="\\")))
    if dispute is not None:
        disputed = (select(Invoice.customer_id).join(Dispute, Dispute.invoice_id == Invoice.invoice_id)
                    .where(Dispute.status.in_(ACTIVE_DISPUTE)))
        conditions.append(Customer.customer_id.in_(disputed) if dispute
                          else Customer.customer_id.not_in(disputed))
    if promise is not None:
        promised = select(Promise.customer_id).where(Promise.status == PromiseStatus.OPEN)
        conditions.append(Customer.customer_id.in_(promised) if promise
                          else Customer.customer_id.not_in(promised))
    return select(Customer.customer_id).where(*conditions) if conditions else None


def _currency_factors(session: Session, rates: fx.Rates, reporting: str) -> dict[str, float]:
    """Each open invoice currency's rate into the reporting one (1 where there is none)."""
    codes = session.execute(select(Invoice.currency).where(
        Invoice.kind == "invoice", Invoice.settled_on.is_(None)).distinct()).scalars().all()
    factors = {}
    for code in codes:
        found = rates.rate(code, reporting)
        factors[code] = float(found[0]) if found is not None else 1.0
    return factors


def _open_bounds(*, session: Session, today: dt.date, customers, bucket: str | None,
                 window: int | None, rates: fx.Rates, reporting: str,
                 factors: dict[str, float] | None = None,
                 at_least: float | None = None) -> list[tuple[str, float]]:
    """(customer, open amount in the reporting currency), largest first: each customer's bound;
    the first `window` (None: all), or those of at least `at_least`.

    A currency with no rate counts 1:1 here, as the ranking does for it (and says so)."""
    if factors is None:
        factors = _currency_factors(session, rates, reporting)
    factor = case(factors, value=Invoice.currency, else_=1.0) if factors else 1.0
    converted = func.sum(Invoice.open_amount * factor)
    query = (select(Invoice.customer_id, converted.label("bound"))
             .where(Invoice.kind == "invoice", Invoice.settled_on.is_(None))
             .group_by(Invoice.customer_id))
    if customers is not None:
        query = query.where(Invoice.customer_id.in_(customers))
    if bucket is not None:
        query = query.having(_bucket_condition(bucket, today))
    if at_least is not None:
        query = query.having(converted >= at_least)
    query = query.order_by(converted.desc(), Invoice.customer_id)
    if window is not None:
        query = query.limit(window)
    return [(row[0], float(row[1] or 0)) for row in session.execute(query)]


def _bucket_condition(bucket: str, today: dt.date):
    oldest = func.min(Invoice.due_date)
    days = {"1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90)}
    if bucket == "not_due":
        return oldest >= today
    if bucket == "90+":
        return oldest < today - dt.timedelta(days=90)
    if bucket not in days:
        raise LedgerValidationError([FieldError("bucket", f"unknown bucket {bucket!r}: one of {', '.join(BUCKETS)}")])
    low, high = days[bucket]
    return and_(oldest <= today - dt.timedelta(days=low), oldest >= today - dt.timedelta(days=high))


def _rules_odds(session: Session, invoices: list,
                today: dt.date) -> tuple[dict[str, InvoiceOdds], dict[str, dict]]:
    """P(not paid within 30 / 90 days | unpaid at the end of today) of each of `invoices` (the
    ones the caller's risk does not answer for) from its payer's own history
    (`ledger.var.own_hazards`: settled invoices are events, open ones censored at their age),
    and each payer's settled and late counts (the "history" reason)."""
    if not invoices:
        return {}, {}
    late = _days_between(session, Invoice.settled_on, Invoice.due_date)
    settled = and_(Invoice.kind == "invoice", Invoice.settled_on.is_not(None),
                   Invoice.settled_on <= today)
    payers = sorted({i.customer_id for i in invoices})
    rows: list[tuple[str, int, bool, int]] = []
    for start in range(0, len(payers), 5000):
        chunk = payers[start:start + 5000]
        rows += [(c, int(d), True, int(n)) for c, d, n in session.execute(
            select(Invoice.customer_id, late, func.count())
            .where(settled, among(session, Invoice.customer_id, chunk)).group_by(Invoice.customer_id, late))]
    history: dict[str, dict] = defaultdict(lambda: {"settled": 0, "late": 0})
    for customer, days, _, n in rows:
        history[customer]["settled"] += n
        history[customer]["late"] += n * (days > 0)
    rows += [(i.customer_id, (today - i.due_date).days, False, 1) for i in invoices]
    customer, age, paid, weight = zip(*rows, strict=True)
    codes, uniques = pd.factorize(pd.Series(customer))
    at_risk, events = delay_counts(codes, len(uniques), np.array(age, float), np.array(paid),
                                   np.array(weight, float))
    n_settled = np.array([history[c]["settled"] if c in history else 0 for c in uniques], float)
    hazards = own_hazards(at_risk, events, n_settled)[
        uniques.get_indexer([i.customer_id for i in invoices])]
    ages = np.array([float((today - i.due_date).days) for i in invoices])
    p30, p90 = unpaid_after(hazards, ages, 30.0), unpaid_after(hazards, ages, 90.0)
    odds = {i.invoice_id: InvoiceOdds(p_unpaid_30=float(a), p_unpaid_90=float(b), grade=None,
                                      source="rules")
            for i, a, b in zip(invoices, p30, p90, strict=True)}
    return odds, dict(history)


def _days_between(session: Session, later, earlier):
    if session.get_bind().dialect.name == "postgresql":
        return later - earlier
    return func.cast(func.julianday(later) - func.julianday(earlier), Integer)


def _score(*, session: Session, customer_ids: list[str], today: dt.date, risk: InvoiceRisk | None,
           rates: fx.Rates, reporting: str) -> list[dict]:
    """Value at risk at 30 and 90 days of each customer, ranked."""
    if not customer_ids:
        return []
    # the open invoices with their customer's currency and published grade: one statement
    invoices = []
    for start in range(0, len(customer_ids), 5000):
        chunk = customer_ids[start:start + 5000]
        invoices += session.execute(
            select(Invoice.invoice_id, Invoice.customer_id, Invoice.currency, Invoice.open_amount,
                   Invoice.due_date, Customer.currency.label("customer_currency"),
                   CustomerScore.grade.label("published_grade"))
            .outerjoin(Customer, Customer.customer_id == Invoice.customer_id)
            .outerjoin(CustomerScore, CustomerScore.customer_id == Invoice.customer_id)
            .where(among(session, Invoice.customer_id, chunk), Invoice.kind == "invoice",
                   Invoice.settled_on.is_(None))).all()
    given = dict(risk([row.invoice_id for row in invoices])) if risk is not None and invoices else {}
    rules, history = _rules_odds(session, [i for i in invoices if i.invoice_id not in given], today)
    currency_of = {i.customer_id: i.customer_currency for i in invoices if i.customer_currency is not None}
    grades = {i.customer_id: i.published_grade for i in invoices if i.published_grade is not None}
    per: dict[str, dict[str, Any]] = {}
    for invoice in invoices:
        odds = given.get(invoice.invoice_id) or rules[invoice.invoice_id]
        overdue = (today - invoice.due_date).days
        row = per.setdefault(invoice.customer_id, {
            "customer_id": invoice.customer_id, "pairs_30": defaultdict(list), "pairs_90": defaultdict(list),
            "open": defaultdict(lambda: ZERO), "overdue": defaultdict(lambda: ZERO), "open_invoices": 0,
            "overdue_invoices": 0, "oldest_due": invoice.due_date, "grades": [], "sources": set()})
        amount = Decimal(str(invoice.open_amount)).quantize(CENT)
        row["pairs_30"][invoice.currency].append((amount, odds.p_unpaid_30))
        row["pairs_90"][invoice.currency].append((amount, odds.p_unpaid_90))
        row["open"][invoice.currency] += amount
        row["open_invoices"] += 1
        if overdue > 0:
            row["overdue"][invoice.currency] += amount
            row["overdue_invoices"] += 1
        row["oldest_due"] = min(row["oldest_due"], invoice.due_date)
        if odds.grade:
            row["grades"].append(odds.grade)
        row["sources"].add(odds.source)
    out = [_ranked(customer_id, row, currency=currency_of.get(customer_id, "EUR"), rates=rates,
                   reporting=reporting, published_grade=grades.get(customer_id),
                   history=history.get(customer_id, {"settled": 0, "late": 0}))
           for customer_id, row in per.items()]
    return sorted(out, key=lambda r: (-r["key"], r["customer_id"]))


def _ranked(customer_id: str, row: dict[str, Any], *, currency: str, rates: fx.Rates, reporting: str,
            published_grade: str | None, history: dict[str, int]) -> dict[str, Any]:
    """One customer's ranking key (its 90-day value at risk in the reporting currency) and grade;
    the figures shown on a row are worked out by `_finished`, for the page's rows only."""
    var90 = {c: value_at_risk(p) for c, p in row["pairs_90"].items()}
    key, lost = _in(rates, var90, reporting)
    reporting_value = None if lost else key
    if lost:  # no rate to the reporting currency: ranked on the customer's own amount
        key, _ = _in(rates, var90, currency)
    return {"customer_id": customer_id, "key": key,
            "grade": max(row["grades"], key=GRADE_ORDER.index) if row["grades"] else published_grade,
            "_parts": (row, var90, currency, rates, reporting, reporting_value, lost, history)}


def _finished(ranked: dict[str, Any]) -> dict[str, Any]:
    """A ranked customer's figures in its own currency, as its row shows them."""
    row, var90, currency, rates, reporting, reporting_value, lost, history = ranked["_parts"]
    var30 = {c: value_at_risk(p) for c, p in row["pairs_30"].items()}
    shown, missing = {}, set()
    for name, amounts in (("var30", var30), ("var90", var90), ("open", row["open"]), ("overdue", row["overdue"])):
        shown[name], lost_here = _in(rates, amounts, currency)
        missing |= lost_here
    open_total = shown["open"]
    return {
        "customer_id": ranked["customer_id"], "currency": currency, "key": ranked["key"],
        "value_at_risk_30": shown["var30"], "value_at_risk_90": shown["var90"],
        "value_at_risk_90_reporting": reporting_value, "reporting_currency": reporting,
        "p_unpaid_30": float(shown["var30"] / open_total) if open_total else 0.0,
        "p_unpaid_90": float(shown["var90"] / open_total) if open_total else 0.0,
        "open_amount": open_total, "overdue_amount": shown["overdue"],
        "open_invoices": row["open_invoices"], "overdue_invoices": row["overdue_invoices"],
        "oldest_due": row["oldest_due"], "grade": ranked["grade"],
        "risk_source": "model" if row["sources"] == {"model"} else "rules",
        "unconverted": sorted(missing | (set(lost) if lost else set())),
        "history": history}


def _in(rates: fx.Rates, amounts: Mapping[str, Decimal], to: str) -> tuple[Decimal, set[str]]:
    """Σ of per-currency amounts converted into `to`, and the currencies with no rate."""
    if len(amounts) == 1:
        [(currency, amount)] = amounts.items()
        if currency.upper() == to.upper():  # `convert` at rate 1, without looking it up
            return (ZERO + amount.quantize(CENT, ROUND_HALF_UP)).quantize(CENT), set()
    total, missing = ZERO, set()
    for currency, amount in amounts.items():
        converted = rates.convert(amount, currency, to)
        if converted is None:
            missing.add(currency)
        else:
            total += converted.amount
    return total.quantize(CENT), missing


"""Reading the ledger: records for the API, and frames for features (ledger → features)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, select

from ledger import fx
from ledger.errors import LedgerError, NotFoundError
from ledger.frames import LedgerFrames, empty_frame
from ledger.portfolio import in_portfolio
from ledger.tables import DATE_BOUNDS, Customer, Invoice

INVOICE_STATUSES = ("open", "overdue", "settled")


def get_customer(*, session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError("customer", customer_id)
    return customer


def get_invoice(*, session: Session, invoice_id: str) -> Invoice:
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFoundError("invoice", invoice_id)
    return invoice


def customer_summary(*, session: Session, customer_id: str, today: dt.date) -> dict:
    """Balances of one customer as of `today`, never added across currencies.

    `by_currency` holds each currency's open and overdue amounts in that currency. The totals
    (`open_balance`, `overdue_balance`) are in the customer's own currency — that of its credit
    limit, so they equal its credit exposure (`ledger.credit`) — an invoice in another currency
    converted at today's rates (`rate_date`: the oldest rate used). A currency with no rate is
    named in `unconverted` and left out of the totals, which are then a lower bound.
    """
    customer = get_customer(session=session, customer_id=customer_id)
    overdue = Invoice.due_date < today
    rows = session.exec(select(
        Invoice.currency, func.count(), func.sum(Invoice.open_amount),
        func.sum(case((overdue, 1), else_=0)), func.sum(case((overdue, Invoice.open_amount), else_=0)))
        .where(Invoice.customer_id == customer_id, Invoice.kind == "invoice", Invoice.settled_on.is_(None))
        .group_by(Invoice.currency).order_by(Invoice.currency)).all()
    by_currency = [{"currency": currency, "open_invoices": int(n), "open_balance": _cents(open_),
                    "overdue_invoices": int(n_overdue or 0), "overdue_balance": _cents(overdue_amount)}
                   for currency, n, open_, n_overdue, overdue_amount in rows]
    rates = fx.rates_on(session, today, [b["currency"] for b in by_currency] + [customer.currency])
    totals = {"open_balance": Decimal("0.00"), "overdue_balance": Decimal("0.00")}
    unconverted, rate_dates = [], []
    for part in by_currency:
        converted = [rates.convert(part[key], part["currency"], customer.currency) for key in totals]
        if None in converted:
            unconverted.append(part["currency"])
            continue
        for key, amount in zip(totals, converted, strict=True):
            totals[key] += amount.amount
            if amount.rate_date is not None:
                rate_dates.append(amount.rate_date)
    count = session.exec(select(func.count()).select_from(Invoice)
                         .where(Invoice.customer_id == customer_id)).one()
    return {
        "invoices": count,
        "open_invoices": sum(b["open_invoices"] for b in by_currency),
        "overdue_invoices": sum(b["overdue_invoices"] for b in by_currency),
        **totals,
        "rate_date": min(rate_dates) if rate_dates else None,
        "unconverted": unconverted,
        "by_currency": by_currency,
    }


def _cents(amount: object) -> Decimal:
    return Decimal(str(amount or 0)).quantize(fx.CENT)


def list_invoices(*, session: Session, status: str | None = None, customer_id: str | None = None,
                  today: dt.date, limit: int = 100, offset: int = 0,
                  agent: str | None = None) -> tuple[list[Invoice], int]:
    """A page of invoices (oldest due first) and the total count for the filter; `agent`: only
    the customers of that agent's portfolio."""
    if status is not None and status not in INVOICE_STATUSES:
        raise LedgerError(f"unknown status {status!r}: one of {', '.join(INVOICE_STATUSES)}")
    query = select(Invoice)
    if agent is not None:
        query = query.where(in_portfolio(Invoice.customer_id, agent))
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    if status == "settled":
        query = query.where(Invoice.settled_on.is_not(None))
    elif status in ("open", "overdue"):
        query = query.where(Invoice.kind == "invoice", Invoice.settled_on.is_(None))
        if status == "overdue":
            query = query.where(Invoice.due_date < today)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(Invoice.due_date, Invoice.invoice_id)
                        .offset(offset).limit(limit)).all()
    return list(rows), total


def invoice_status(invoice: Invoice, today: dt.date) -> str:
    if invoice.kind == "credit_note":
        return "credit_note"
    if invoice.settled_on is not None:
        return "settled"
    return "overdue" if invoice.due_date < today else "open"


def read_frames(*, session: Session, as_of: dt.date,
                customer_ids: list[str] | None = None) -> LedgerFrames:
    """The ledger as frames for features; events after `as_of` are left out."""
    from sqlalchemy import text

    as_of_ts = pd.Timestamp(as_of)
    where = ""
    params: dict = {}
    if customer_ids is not None:
        if not customer_ids:
            raise LedgerError("customer_ids is empty")
        where = " WHERE customer_id IN (" + ",".join(f":c{i}" for i in range(len(customer_ids))) + ")"
        params = {f"c{i}": c for i, c in enumerate(customer_ids)}
    dispute_where = where.replace("WHERE customer_id", "WHERE i.customer_id")

    # one connection and plain DBAPI rows: pd.read_sql costs milliseconds of set-up per query,
    # which dominated the risk of one customer (a handful of rows)
    with session.get_bind().connect() as connection:
        def frame(sql: str, dates: list[str], money: list[str]) -> pd.DataFrame:
            result = connection.execute(text(sql), params)
            rows = result.all()
            columns = list(result.keys())
            # the same conversion pd.read_sql_query applies (coerce_float), so the dtypes match
            out = pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)
            for column in dates:
                out[column] = pd.to_datetime(out[column])
            for column in money:
                out[column] = out[column].astype(float)
            return out

        customers = frame(_CUSTOMER_SQL + where, [], ["credit_limit"])
        invoices = frame(_INVOICE_SQL + _and(where, _in_range("issue_date", "due_date", "settled_on")),
                         ["issue_date", "due_date", "settled_date"], ["amount", "open_amount"])
        payments = frame(_PAYMENT_SQL + _and(where, _in_range("paid_on")), ["paid_on"], ["amount"])
        disputes = frame(_DISPUTE_SQL + _and(dispute_where, _in_range("d.opened_on", "d.resolved_on")),
                         ["opened_on", "resolved_on"], [])
        # the contact history, as a ledger directory's reminders.csv / promises.csv carry it
        reminders = frame(_REMINDER_SQL + where.replace("WHERE customer_id", "AND customer_id")
                          + " AND " + _in_range("send_on"), ["send_on"], [])
        promises = frame(_PROMISE_SQL + _and(where.replace("WHERE customer_id", "WHERE p.customer_id"),
                                             _in_range("p.created_on", "p.promised_date", "p.closed_on"))
                         + _PROMISE_GROUP, ["created_on", "promised_date", "closed_on"], ["amount"])
    invoices = invoices[invoices["issue_date"] <= as_of_ts]
    invoices.loc[invoices["settled_date"] > as_of_ts, "settled_date"] = pd.NaT
    return LedgerFrames(
        customers=customers, invoices=invoices.reset_index(drop=True),
        payments=payments[payments["paid_on"] <= as_of_ts].reset_index(drop=True),
        disputes=disputes[disputes["opened_on"] <= as_of_ts].reset_index(drop=True) if len(disputes) else _empty("disputes"),
        reminders=_reminders(reminders, as_of_ts), promises=_promises(promises, as_of_ts),
        as_of=as_of_ts)


def _reminders(rows: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Sent dunning actions as the frames' reminders (sent_on: the day it went out)."""
    if rows.empty:
        return _empty("reminders")
    sent_at = pd.to_datetime(rows.pop("sent_at"), utc=True, errors="coerce").dt.tz_localize(None)
    rows["sent_on"] = sent_at.dt.normalize().fillna(rows.pop("send_on"))
    rows = rows[rows["sent_on"] <= as_of]
    return rows[list(_empty("reminders").columns)].reset_index(drop=True)


def _promises(rows: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Promises made by as_of; an outcome known only after it is still open then."""
    if rows.empty:
        return _empty("promises")
    rows = rows[rows["created_on"] <= as_of].copy()
    later = rows["closed_on"] > as_of
    rows.loc[later, "status"] = "open"
    rows.loc[later, "closed_on"] = pd.NaT
    return rows.reset_index(drop=True)


def dated_in_range(*columns):
    """SQL condition: each of these date columns is empty or within the bounds (see `_in_range`)."""
    low, high = (dt.date.fromisoformat(d) for d in DATE_BOUNDS)
    return and_(*(or_(c.is_(None), c.between(low, high)) for c in columns))


def _in_range(*columns: str) -> str:
    """Rows stored before the date bounds (migration 0011) are left out of the frames: one odd
    row would otherwise stop features, the forecast and drift for every customer."""
    low, high = DATE_BOUNDS
    return " AND ".join(f"({c} IS NULL OR {c} BETWEEN '{low}' AND '{high}')" for c in columns)


def _and(where: str, condition: str) -> str:
    return f"{where} AND {condition}" if where else f" WHERE {condition}"


_CUSTOMER_SQL = ("SELECT customer_id, name, country, language, segment, email, phone, "
                 "payment_terms_days, credit_limit, currency, dunning_scenario FROM customer")
_INVOICE_SQL = ("SELECT invoice_id, customer_id, issue_date, due_date, amount, currency, kind, "
                "settled_on AS settled_date, open_amount FROM invoice")
_PAYMENT_SQL = "SELECT payment_id, customer_id, paid_on, amount, currency, invoice_id FROM payment"
_DISPUTE_SQL = ("SELECT d.dispute_id, d.invoice_id, d.opened_on, d.reason, d.status, d.resolved_on "
                "FROM dispute d JOIN invoice i ON i.invoice_id = d.invoice_id")
# reminders: actions actually sent (an agent's logged call included); a promise covering several
# invoices is one promise (its first invoice names it)
_REMINDER_SQL = ("SELECT COALESCE(reminder_id, CAST(id AS VARCHAR(64))) AS reminder_id, invoice_id, "
                 "customer_id, send_on, sent_at, channel, step FROM dunningaction "
                 "WHERE state = 'sent' AND invoice_id IS NOT NULL")
_PROMISE_SQL = ("SELECT p.promise_id, p.customer_id, MIN(pi.invoice_id) AS invoice_id, p.created_on, "
                "p.promised_date, p.amount, p.status, p.closed_on FROM promise p "
                "JOIN promiseinvoice pi ON pi.promise_id = p.promise_id")
_PROMISE_GROUP = (" GROUP BY p.promise_id, p.customer_id, p.created_on, p.promised_date, p.amount, "
                  "p.status, p.closed_on")
_EMPTY: dict[str, pd.DataFrame] = {}


def _empty(name: str) -> pd.DataFrame:
    # building an empty frame costs more than copying one: keep a template per name
    if name not in _EMPTY:
        _EMPTY[name] = empty_frame(name)
    return _EMPTY[name].copy()

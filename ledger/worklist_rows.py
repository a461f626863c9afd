"""The worklist's rows: a ranked customer's amounts, next task, last contact and the reasons it
is where it is (as codes and values: `serving.worklist_text` words them in the reader's
language).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ARRAY, String, any_, bindparam, func, literal_column, select
from sqlmodel import Session

from ledger.tables import (
    Customer,
    CustomerNote,
    Dispute,
    DunningAction,
    Invoice,
    Promise,
)
from ledger.workflow import ACTIVE_DISPUTE, PromiseStatus

# ageing buckets of a customer's oldest open invoice (days past due)
BUCKETS = ("not_due", "1-30", "31-60", "61-90", "90+")
Bucket = Literal["not_due", "1-30", "31-60", "61-90", "90+"]


def bucket_of(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    return "61-90" if days_overdue <= 90 else "90+"



class ActionOut(BaseModel):
    action: str
    channel: str
    tone: str | None
    send_on: dt.date
    invoice_id: str | None  # the first of `invoices`
    step: str | None
    reminder_id: str | None = None
    state: str = "planned"
    invoices: list[str] = Field(default_factory=list)  # every invoice of this one task


class ContactOut(BaseModel):
    on: dt.date
    kind: Literal["reminder", "call", "note"]
    channel: str | None
    outcome: str | None
    by: str | None


class ReasonOut(BaseModel):
    code: str
    # what the sentence says, as data (serving writes the sentence in the reader's language)
    values: dict[str, Any] = {}
    text: str = ""


class WorklistRow(BaseModel):
    rank: int
    customer_id: str
    name: str | None
    segment: str | None
    assigned_agent: str | None
    currency: str                      # of every amount below but the reporting one
    # expected not collected within 30 / 90 days (Σ open × P(unpaid within the horizon))
    value_at_risk_30: Decimal
    value_at_risk_90: Decimal
    # the ranking key: the 90-day figure in the reporting currency (None: no rate, ranked on
    # the amount in the customer's currency, see `unconverted`)
    value_at_risk_90_reporting: Decimal | None
    reporting_currency: str
    p_unpaid_30: float                 # amount-weighted over the open invoices
    p_unpaid_90: float
    grade: str | None
    risk_source: Literal["rules", "model"]
    open_amount: Decimal
    overdue_amount: Decimal
    open_invoices: int
    overdue_invoices: int
    # urgency, shown apart from the ranking
    days_overdue: int  # of the oldest open invoice (≤ 0: nothing overdue yet)
    bucket: str
    broken_promises: int
    next_action: ActionOut | None
    last_contact: ContactOut | None
    open_disputes: int
    open_promises: int
    unconverted: list[str] = []
    reasons: list[ReasonOut]


def among(session: Session, column: Any, ids: list[str]) -> Any:
    """`column IN ids` as one parameter (a PostgreSQL array, a JSON list on SQLite): the same
    statement text whatever the number of ids, so neither SQLAlchemy nor the driver rebuilds it
    (and PostgreSQL may keep it prepared)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(String)))
    values = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, json.dumps(list(ids)), type_=String)))
    return column.in_(values)


def enrich_rows(*, session: Session, rows: list[dict], today: dt.date, first_rank: int = 1) -> list[WorklistRow]:
    ids = [row["customer_id"] for row in rows]
    if not ids:
        return []
    customers = {c.customer_id: c for c in session.execute(
        select(Customer).where(among(session, Customer.customer_id, ids))).scalars()}
    next_actions = _next_actions(session, ids)
    last_contacts = _last_contacts(session, ids)
    disputes = dict(session.execute(
        select(Invoice.customer_id, func.count(func.distinct(Dispute.dispute_id)))
        .join(Invoice, Invoice.invoice_id == Dispute.invoice_id)
        .where(among(session, Invoice.customer_id, ids), Dispute.status.in_(ACTIVE_DISPUTE))
        .group_by(Invoice.customer_id)).all())
    promises: dict[str, list[tuple[str, dt.date]]] = defaultdict(list)
    for customer_id, status, promised_date in session.execute(
            select(Promise.customer_id, Promise.status, Promise.promised_date)
            .where(among(session, Promise.customer_id, ids), Promise.status.in_((PromiseStatus.OPEN, PromiseStatus.BROKEN)))):
        promises[customer_id].append((status, promised_date))
    out = []
    for rank, row in enumerate(rows, start=first_rank):
        customer_id = row["customer_id"]
        days = (today - row["oldest_due"]).days
        open_promises = [d for s, d in promises.get(customer_id, []) if s == PromiseStatus.OPEN]
        broken = sum(1 for s, _ in promises.get(customer_id, []) if s == PromiseStatus.BROKEN)
        customer = customers[customer_id]
        out.append(WorklistRow(
            rank=rank, customer_id=customer_id, name=customer.name, segment=customer.segment,
            assigned_agent=customer.assigned_agent, currency=row["currency"],
            value_at_risk_30=row["value_at_risk_30"], value_at_risk_90=row["value_at_risk_90"],
            value_at_risk_90_reporting=row["value_at_risk_90_reporting"],
            reporting_currency=row["reporting_currency"],
            p_unpaid_30=round(row["p_unpaid_30"], 4), p_unpaid_90=round(row["p_unpaid_90"], 4),
            grade=row["grade"], risk_source=row["risk_source"],
            open_amount=row["open_amount"], overdue_amount=row["overdue_amount"],
            open_invoices=row["open_invoices"], overdue_invoices=row["overdue_invoices"],
            days_overdue=days, bucket=bucket_of(days), broken_promises=broken,
            next_action=next_actions.get(customer_id), last_contact=last_contacts.get(customer_id),
            open_disputes=int(disputes.get(customer_id, 0)), open_promises=len(open_promises),
            unconverted=row["unconverted"],
            reasons=_reasons(row, days=days, disputes=int(disputes.get(customer_id, 0)),
                             open_promises=open_promises, broken=broken)))
    return out


def _next_actions(session: Session, ids: list[str]) -> dict[str, ActionOut]:
    """Per customer, the next consolidated task: one reminder (call, e-mail, letter…) of the
    latest run listing all its invoices, not one row per invoice."""
    rows = session.execute(
        select(DunningAction).where(among(session, DunningAction.customer_id, ids),
                                    DunningAction.state.in_(("planned", "pending_approval")))
        .order_by(DunningAction.customer_id, DunningAction.run_date.desc(), DunningAction.send_on,
                  DunningAction.id)).scalars()
    found: dict[str, ActionOut] = {}
    for action in rows:
        current = found.get(action.customer_id)
        if current is None:
            found[action.customer_id] = ActionOut(
                action=action.action, channel=action.channel, tone=action.tone,
                send_on=action.send_on, invoice_id=action.invoice_id, step=action.step,
                reminder_id=action.reminder_id, state=action.state,
                invoices=[action.invoice_id] if action.invoice_id else [])
        elif (action.reminder_id is not None and action.reminder_id == current.reminder_id
              and action.invoice_id and action.invoice_id not in current.invoices):
            current.invoices.append(action.invoice_id)
    return found


def _last_contacts(session: Session, ids: list[str]) -> dict[str, ContactOut]:
    when = func.coalesce(DunningAction.sent_at, DunningAction.created_at)
    numbered = (select(DunningAction.customer_id, DunningAction.channel, DunningAction.action,
                       DunningAction.outcome, DunningAction.created_by, DunningAction.send_on,
                       DunningAction.sent_at,
                       func.row_number().over(partition_by=DunningAction.customer_id,
                                              order_by=(when.desc(), DunningAction.id.desc())).label("n"))
                .where(among(session, DunningAction.customer_id, ids), DunningAction.state == "sent").subquery())
    found: dict[str, ContactOut] = {}
    stamp: dict[str, dt.datetime] = {}
    for row in session.execute(select(numbered).where(numbered.c.n == 1)):
        at = row.sent_at or dt.datetime.combine(row.send_on, dt.time(), tzinfo=dt.UTC)
        found[row.customer_id] = ContactOut(
            on=at.date(), kind="call" if row.channel == "call" else "reminder", channel=row.channel,
            outcome=row.outcome, by=row.created_by)
        stamp[row.customer_id] = _aware(at)
    notes = session.execute(select(CustomerNote.customer_id, func.max(CustomerNote.created_at))
                            .where(among(session, CustomerNote.customer_id, ids)).group_by(CustomerNote.customer_id))
    for customer_id, at in notes:
        at = _aware(at)
        if customer_id not in stamp or at > stamp[customer_id]:
            found[customer_id] = ContactOut(on=at.date(), kind="note", channel=None, outcome=None, by=None)
    return found


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back naive: they were written in UTC
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _reasons(row: Mapping[str, Any], *, days: int, disputes: int, open_promises: list[dt.date],
             broken: int) -> list[ReasonOut]:
    """Why the customer is where it is, as codes and values (serving.worklist_text words them)."""
    reasons = []
    if row["overdue_invoices"]:
        reasons.append(ReasonOut(code="overdue", values={
            "invoices": int(row["overdue_invoices"]), "amount": row["overdue_amount"],
            "currency": row["currency"], "days": days}))
    reasons.append(ReasonOut(code="value_at_risk", values={
        "amount_30": row["value_at_risk_30"], "amount_90": row["value_at_risk_90"],
        "currency": row["currency"], "p_30": row["p_unpaid_30"], "p_90": row["p_unpaid_90"],
        "source": row["risk_source"]}))
    if row["risk_source"] == "rules":
        history = row["history"]
        reasons.append(ReasonOut(code="history", values={
            "settled": history["settled"], "late": history["late"]}))
    if broken:
        reasons.append(ReasonOut(code="broken_promise", values={"promises": broken}))
    if open_promises:
        reasons.append(ReasonOut(code="promise", values={"until": max(open_promises)}))
    if disputes:
        reasons.append(ReasonOut(code="dispute", values={"disputes": disputes}))
    if row["unconverted"]:
        reasons.append(ReasonOut(code="no_rate", values={"currencies": row["unconverted"],
                                                         "reporting_currency": row["reporting_currency"]}))
    return reasons


"""Promises to pay with safeguards: what a promise pauses, how far ahead, instalment plans.

- **Coverage.** A promise pauses only the invoices its amount covers in full, oldest due first
  (among the invoices named, or all the customer's open invoices): a 1 € promise pauses nothing,
  a 1,500 € promise on 1,000 € + 800 € + 600 € pauses the first (the second is only part-covered
  and stays chased). The promise is still recorded and evaluated, whatever it covers.
- **Horizon.** The last promised date may be at most `max_days` after today (per scenario,
  `promise_max_days`, default 60): a promise three months out is refused, not obeyed.
- **Instalments (échéancier).** A promise is a list of dated amounts (a plain promise is one).
  Instalment k is kept once the payments received since the promise reach the sum of
  instalments 1..k by its date + PROMISE_GRACE_DAYS; broken the day after that without it. A broken
  instalment breaks the promise at once (the remaining instalments are cancelled): its invoices
  are chased again from that day, and the daily run evaluates promises before planning so no
  one has to.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlmodel import Session

from ledger.actions import (
    cancel_pending_for_invoices,
)
from ledger.audit import audit, json_safe
from ledger.errors import (
    FieldError,
    IllegalTransitionError,
    LedgerConflictError,
    LedgerValidationError,
    NotFoundError,
)
from ledger.schemas import (
    BusinessDate,
    Id,
    Money,
    NoteText,
    dates_in_range,
    promise_horizon,
)
from ledger.tables import (
    Customer,
    Invoice,
    Payment,
    Promise,
    PromiseInstalment,
    PromiseInvoice,
    record_event,
    utcnow,
)
from ledger.workflow import PromiseStatus

DEFAULT_MAX_DAYS = 60
ZERO = Decimal("0")


def covered_invoices(open_invoices: Sequence[tuple[str, dt.date, Decimal]], amount: Decimal) -> list[str]:
    """The invoices `amount` pays in full, oldest due first, stopping at the first it cannot:
    (invoice_id, due_date, open_amount) → ids. Payments are allocated oldest first too, so these
    are the invoices the promised money will settle."""
    covered, left = [], amount
    for invoice_id, _due, open_amount in sorted(open_invoices, key=lambda r: (r[1], r[0])):
        if open_amount > left:
            break
        covered.append(invoice_id)
        left -= open_amount
    return covered


def _schedule(data: PromiseCreate) -> list[tuple[dt.date, Decimal]]:
    if data.instalments:
        return sorted(((i.due_on, i.amount) for i in data.instalments), key=lambda r: r[0])
    assert data.amount is not None and data.promised_date is not None  # the schema says so
    return [(data.promised_date, data.amount)]


def _date_problems(data: PromiseCreate, schedule: list[tuple[dt.date, Decimal]], *, today: dt.date,
                   max_days: int) -> list[FieldError]:
    """Each promised date past, beyond a year, or beyond the scenario's limit, named by field."""
    errors: list[FieldError] = []
    horizon = today + dt.timedelta(days=max_days)
    for index, (due_on, _amount) in enumerate(schedule):
        field = f"instalments[{index}].due_on" if data.instalments else "promised_date"
        if due_on < today:
            errors.append(FieldError(field, f"{due_on} is already past"))
        elif due_on > promise_horizon(today):  # whatever a scenario says, never beyond a year
            errors.append(FieldError(field, f"{due_on} is more than a year ahead: a promise to pay "
                                            f"names a date until {promise_horizon(today)}"))
        elif due_on > horizon:
            errors.append(FieldError(field, f"{due_on} is more than {max_days} days ahead (after "
                                            f"{horizon}): the scenario's limit for a promise"))
    return errors


def create_promise(*, session: Session, data: PromiseCreate, actor: str, today: dt.date,
                   max_days: int = DEFAULT_MAX_DAYS) -> Promise:
    """Record a promise (or an instalment plan) and pause the invoices its amount covers."""
    customer = session.get(Customer, data.customer_id)
    if customer is None:
        raise NotFoundError("customer", data.customer_id)
    schedule = _schedule(data)
    errors = _date_problems(data, schedule, today=today, max_days=max_days)
    named = list(dict.fromkeys(data.invoice_ids))
    query = select(Invoice.invoice_id, Invoice.customer_id, Invoice.due_date, Invoice.open_amount,
                   Invoice.settled_on, Invoice.kind)
    if named:
        rows = session.execute(query.where(Invoice.invoice_id.in_(named))).all()
        owned = {r[0]: r for r in rows}
        for index, invoice_id in enumerate(data.invoice_ids):
            row = owned.get(invoice_id)
            if row is None or row[1] != data.customer_id:
                errors.append(FieldError(f"invoice_ids[{index}]",
                                         f"invoice {invoice_id!r} is not an invoice of {data.customer_id!r}"))
        candidates = [(r[0], r[2], Decimal(r[3])) for r in rows
                      if r[1] == data.customer_id and r[4] is None and r[5] == "invoice"]
    else:
        candidates = [(r[0], r[2], Decimal(r[3])) for r in session.execute(
            query.where(Invoice.customer_id == data.customer_id, Invoice.kind == "invoice",
                        Invoice.settled_on.is_(None))).all()]
    promise_id = data.promise_id or f"PRM-{uuid.uuid4().hex[:12].upper()}"
    if errors:
        raise LedgerValidationError(errors)
    if session.get(Promise, promise_id) is not None:
        raise LedgerConflictError([FieldError("promise_id", f"promise {promise_id!r} already exists")])
    total = sum((amount for _, amount in schedule), ZERO).quantize(Decimal("0.01"))
    covered = covered_invoices(candidates, total)
    promise = Promise(promise_id=promise_id, customer_id=data.customer_id, amount=total,
                      promised_date=schedule[-1][0], status=PromiseStatus.OPEN, created_on=today,
                      created_by=actor, note=data.note)
    session.add(promise)
    session.flush()
    for seq, (due_on, amount) in enumerate(schedule, start=1):
        session.add(PromiseInstalment(promise_id=promise_id, seq=seq, due_on=due_on, amount=amount))
    for invoice_id in covered:
        session.add(PromiseInvoice(promise_id=promise_id, invoice_id=invoice_id))
    audit(session, actor=actor, action="create", entity="promise", entity_id=promise_id,
          after={"customer_id": data.customer_id, "amount": total, "promised_date": promise.promised_date,
                 "instalments": [{"due_on": d, "amount": a} for d, a in schedule],
                 "invoice_ids": covered})
    record_event(session, type="promise.created", entity_id=promise_id,
                 payload=json_safe({"customer_id": data.customer_id, "amount": total,
                                 "promised_date": promise.promised_date, "invoice_ids": covered}))
    cancel_pending_for_invoices(session, covered, reason=f"promise {promise_id}", actor=actor)
    session.flush()
    return promise


def instalments_of(session: Session, promise_ids: Sequence[str]) -> dict[str, list[PromiseInstalment]]:
    found: dict[str, list[PromiseInstalment]] = defaultdict(list)
    if promise_ids:
        for row in session.execute(select(PromiseInstalment)
                                   .where(PromiseInstalment.promise_id.in_(list(promise_ids)))
                                   .order_by(PromiseInstalment.promise_id, PromiseInstalment.seq)).scalars():
            found[row.promise_id].append(row)
    return found


def _payments(session: Session, promises: Sequence[Promise], today: dt.date) -> dict[str, list[tuple[dt.date, Decimal]]]:
    by_customer: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    if not promises:
        return by_customer
    for customer_id, paid_on, amount in session.execute(
            select(Payment.customer_id, Payment.paid_on, Payment.amount)
            .where(Payment.customer_id.in_(sorted({p.customer_id for p in promises})),
                   Payment.paid_on >= min(p.created_on for p in promises), Payment.paid_on <= today)
            .order_by(Payment.customer_id, Payment.paid_on, Payment.payment_id)):
        by_customer[customer_id].append((paid_on, Decimal(amount)))
    return by_customer


def _covered_on(payments: list[tuple[dt.date, Decimal]], since: dt.date, needed: Decimal,
                deadline: dt.date) -> dt.date | None:
    """The day the payments made from `since` up to `deadline` first sum to `needed`."""
    total = ZERO
    for paid_on, amount in payments:
        if since <= paid_on <= deadline:
            total += amount
            if total >= needed:
                return paid_on
    return None


def evaluate_promises(session: Session, customer_ids: Iterable[str] | None, today: dt.date, *,
                      actor: str = "system") -> PromiseEvaluation:
    """Decide open instalments from the payments received, then close the promises they decide
    (kept: every instalment kept; broken: one instalment broken) as of `today`; `customer_ids`
    None: every customer. Idempotent."""
    query = select(Promise).where(Promise.status == PromiseStatus.OPEN)
    if customer_ids is not None:
        ids = sorted(set(customer_ids))
        if not ids:
            return PromiseEvaluation(kept=[], broken=[], still_open=0)
        query = query.where(Promise.customer_id.in_(ids))
    # one stored before the date bounds (migration 0011) stays open as it is: its deadline cannot
    # be computed, and closing it rewrites a row the database now refuses
    promises = [p for p in session.execute(query.order_by(Promise.promise_id)).scalars()
                if dates_in_range(p, "created_on", "promised_date")]
    payments = _payments(session, promises, today)
    plans = instalments_of(session, [p.promise_id for p in promises])
    kept, broken = [], []
    for promise in promises:
        plan = plans.get(promise.promise_id) or [
            # a promise recorded before instalments existed: one instalment, its amount and date
            PromiseInstalment(promise_id=promise.promise_id, seq=1, due_on=promise.promised_date,
                              amount=promise.amount)]
        outcome = _evaluate_plan(session, promise, plan, payments.get(promise.customer_id, []), today)
        if outcome is not None:
            status, on = outcome
            _close(session, promise, status, on, actor)
            (kept if status == PromiseStatus.KEPT else broken).append(promise.promise_id)
    session.flush()
    return PromiseEvaluation(kept=kept, broken=broken, still_open=len(promises) - len(kept) - len(broken))


def _evaluate_plan(session: Session, promise: Promise, plan: list[PromiseInstalment],
                   payments: list[tuple[dt.date, Decimal]], today: dt.date) -> tuple[str, dt.date] | None:
    needed, last_kept = ZERO, None
    for index, instalment in enumerate(plan):
        needed += Decimal(instalment.amount)
        if instalment.status == PromiseStatus.KEPT:
            last_kept = instalment.closed_on
            continue
        deadline = instalment.due_on + dt.timedelta(days=PROMISE_GRACE_DAYS)
        covered_on = _covered_on(payments, promise.created_on, needed, deadline)
        if covered_on is not None:
            _set(session, instalment, PromiseStatus.KEPT, covered_on)
            last_kept = covered_on
            continue
        if today > deadline:
            broken_on = deadline + dt.timedelta(days=1)
            _set(session, instalment, PromiseStatus.BROKEN, broken_on)
            for rest in plan[index + 1:]:
                _set(session, rest, PromiseStatus.CANCELLED, broken_on)
            return PromiseStatus.BROKEN, broken_on
        return None  # this instalment is still running
    return PromiseStatus.KEPT, last_kept or today


def _set(session: Session, instalment: PromiseInstalment, status: str, on: dt.date) -> None:
    instalment.status, instalment.closed_on = status, on
    if sa_inspect(instalment).persistent:  # a legacy promise's implied instalment is not stored
        session.add(instalment)


def _close(session: Session, promise: Promise, status: str, on: dt.date, actor: str) -> None:
    paid = sum((a for d, a in _payments(session, [promise], on).get(promise.customer_id, [])), ZERO)
    promise.status, promise.closed_on, promise.updated_at = status, on, utcnow()
    session.add(promise)
    audit(session, actor=actor, action=status, entity="promise", entity_id=promise.promise_id,
          before={"status": PromiseStatus.OPEN}, after={"status": status, "closed_on": on, "paid": paid})
    record_event(session, type=f"promise.{status}", entity_id=promise.promise_id,
                 payload=json_safe({"customer_id": promise.customer_id, "amount": promise.amount,
                                 "promised_date": promise.promised_date, "paid": paid}))


# a payment arriving a few days after the promised date still keeps the promise (bank delays)
PROMISE_GRACE_DAYS = 3


class InstalmentIn(BaseModel):
    due_on: BusinessDate
    amount: Money = Field(gt=0)


class PromiseCreate(BaseModel):
    """A promise: one amount and date, or an instalment plan (échéancier) of dated amounts."""

    promise_id: Id | None = None
    customer_id: Id
    amount: Money | None = Field(default=None, gt=0)
    promised_date: BusinessDate | None = None
    instalments: list[InstalmentIn] | None = Field(default=None, min_length=1, max_length=36)
    # which invoices the promise is about (default: every open invoice of the customer); it
    # pauses those its amount covers in full, oldest due first (ledger.promises)
    invoice_ids: list[Id] = Field(default_factory=list, max_length=500)
    note: NoteText | None = None

    @model_validator(mode="after")
    def _amount_or_instalments(self) -> PromiseCreate:
        if self.instalments:
            dates = [i.due_on for i in self.instalments]
            if len(set(dates)) != len(dates):
                raise ValueError("two instalments fall on the same date: merge them")
            total = sum((i.amount for i in self.instalments), Decimal("0"))
            if self.amount is not None and self.amount != total:
                raise ValueError(f"amount {self.amount} differs from the instalments' total {total}")
            if self.promised_date is not None and self.promised_date != max(dates):
                raise ValueError("promised_date must be the last instalment's date, or be left out")
        elif self.amount is None or self.promised_date is None:
            raise ValueError("send amount and promised_date, or instalments")
        return self


class PromiseUpdate(BaseModel):
    status: Literal["cancelled"] | None = None
    promised_date: BusinessDate | None = None
    note: NoteText | None = None


class PromiseEvaluation(BaseModel):
    kept: list[str]
    broken: list[str]
    still_open: int


def get_promise(*, session: Session, promise_id: str) -> Promise:
    promise = session.get(Promise, promise_id)
    if promise is None:
        raise NotFoundError("promise", promise_id)
    return promise


def _promise_date_problem(promised: dt.date, today: dt.date) -> str | None:
    if promised < today:
        return f"{promised} is already past"
    horizon = promise_horizon(today)
    if promised > horizon:
        return f"{promised} is more than a year ahead: a promise to pay names a date until {horizon}"
    return None


def update_promise(*, session: Session, promise_id: str, data: PromiseUpdate, actor: str,
                   today: dt.date, max_days: int | None = None) -> Promise:
    """Cancel an open promise, move its date or change its note."""
    promise = get_promise(session=session, promise_id=promise_id)
    before = {"status": promise.status, "promised_date": promise.promised_date, "note": promise.note}
    if promise.status != PromiseStatus.OPEN and (data.status or data.promised_date):
        raise IllegalTransitionError(f"The promise {promise_id} is already {promise.status}: "
                                     "only an open promise can be cancelled or rescheduled.")
    if data.promised_date is not None:
        problem = _promise_date_problem(data.promised_date, today)
        if problem:
            raise LedgerValidationError([FieldError("promised_date", problem)])
        if max_days is not None and data.promised_date > today + dt.timedelta(days=max_days):
            raise LedgerValidationError([FieldError(
                "promised_date", f"{data.promised_date} is more than {max_days} days ahead: the "
                                 "scenario's limit for a promise")])
        plan = instalments_of(session, [promise_id]).get(promise_id, [])
        if len(plan) > 1:
            raise IllegalTransitionError(f"The promise {promise_id} is an instalment plan: cancel it "
                                         "and record a new plan rather than moving its last date.")
        for instalment in plan:
            instalment.due_on = data.promised_date
            session.add(instalment)
        promise.promised_date = data.promised_date
    if data.status == PromiseStatus.CANCELLED:
        promise.status, promise.closed_on = PromiseStatus.CANCELLED, today
        for instalment in instalments_of(session, [promise_id]).get(promise_id, []):
            if instalment.status == PromiseStatus.OPEN:
                instalment.status, instalment.closed_on = PromiseStatus.CANCELLED, today
                session.add(instalment)
    if "note" in data.model_fields_set:
        promise.note = data.note
    promise.updated_at = utcnow()
    session.add(promise)
    audit(session, actor=actor, action="update", entity="promise", entity_id=promise_id, before=before,
          after={"status": promise.status, "promised_date": promise.promised_date, "note": promise.note})
    session.flush()
    return promise


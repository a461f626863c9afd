"""Payment allocation: which payment or credit note settles which invoice, and when.

A pure function of one customer's records, replayed from scratch on every ingestion that touches
the customer, so the result never depends on the order batches arrived in:

- events are swept by date; on the same date invoices come first, so a same-day payment can
  settle a same-day invoice;
- a payment naming an invoice goes to that invoice first (from the later of its date and the
  invoice's issue date); what exceeds the invoice's open amount joins the customer's credit;
- a payment without invoice_id, and every credit note, joins the customer's credit;
- credit is applied to the oldest open invoices first (due date, then issue date, then id), as
  soon as they exist; what is left is kept as customer credit, never lost.
"""
from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal("0")


@dataclass(frozen=True)
class InvoiceLine:
    invoice_id: str
    issue_date: dt.date
    due_date: dt.date
    amount: Decimal


@dataclass(frozen=True)
class CreditLine:
    """A payment or a credit note: money the customer is credited with on `on`."""

    source_kind: str  # payment | credit_note
    source_id: str
    on: dt.date
    amount: Decimal
    invoice_id: str | None = None


@dataclass(frozen=True)
class AllocationLine:
    invoice_id: str
    source_kind: str
    source_id: str
    amount: Decimal
    allocated_on: dt.date


@dataclass
class AllocationResult:
    allocations: list[AllocationLine] = field(default_factory=list)
    open_amount: dict[str, Decimal] = field(default_factory=dict)
    settled_on: dict[str, dt.date | None] = field(default_factory=dict)
    unallocated: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    @property
    def credit_balance(self) -> Decimal:
        return sum(self.unallocated.values(), ZERO)


def allocate(invoices: list[InvoiceLine], credits: list[CreditLine]) -> AllocationResult:
    """Replay one customer's invoices and credits; see the module docstring for the rules."""
    by_id = {invoice.invoice_id: invoice for invoice in invoices}
    result = AllocationResult(
        open_amount={invoice.invoice_id: invoice.amount for invoice in invoices},
        settled_on={invoice.invoice_id: None for invoice in invoices},
    )
    # (date, 0 = invoice | 1 = credit, tie-breaker, payload)
    events: list[tuple[dt.date, int, str, object]] = [
        (invoice.issue_date, 0, invoice.invoice_id, invoice) for invoice in invoices
    ]
    for credit in credits:
        on = credit.on
        target = by_id.get(credit.invoice_id) if credit.invoice_id else None
        if target is not None and target.issue_date > on:
            on = target.issue_date
        events.append((on, 1, f"{credit.source_kind}:{credit.source_id}", credit))
    events.sort(key=lambda event: event[:3])

    open_invoices: list[InvoiceLine] = []
    pool: list[list] = []  # [credit, remaining] in arrival order: oldest credit is used first
    for on, kind, _, payload in events:
        if kind == 0:
            # kept sorted as it grows (ids are unique, so the order is total)
            bisect.insort(open_invoices, payload, key=_oldest_first)  # type: ignore[arg-type]
        else:
            credit: CreditLine = payload  # type: ignore[assignment]
            remaining = credit.amount
            if credit.invoice_id in result.open_amount:
                remaining = _apply(result, credit, credit.invoice_id, remaining, on)
            pool.append([credit, remaining])
        if pool:  # no credit waiting: nothing to apply (open invoices at zero are skipped anyway)
            _drain(result, pool, open_invoices, on)

    for credit, remaining in pool:
        result.unallocated[(credit.source_kind, credit.source_id)] = remaining
    return result


def _oldest_first(invoice: InvoiceLine) -> tuple[dt.date, dt.date, str]:
    return invoice.due_date, invoice.issue_date, invoice.invoice_id


def _apply(result: AllocationResult, credit: CreditLine, invoice_id: str, available: Decimal,
           on: dt.date) -> Decimal:
    due = result.open_amount[invoice_id]
    applied = min(due, available)
    if applied > ZERO:
        result.allocations.append(
            AllocationLine(invoice_id, credit.source_kind, credit.source_id, applied, on))
        result.open_amount[invoice_id] = due - applied
        if result.open_amount[invoice_id] == ZERO:
            result.settled_on[invoice_id] = on
    return available - applied


def _drain(result: AllocationResult, pool: list[list], open_invoices: list[InvoiceLine],
           on: dt.date) -> None:
    for entry in pool:
        credit, remaining = entry
        for invoice in open_invoices:
            if remaining <= ZERO:
                break
            if result.open_amount[invoice.invoice_id] > ZERO:
                remaining = _apply(result, credit, invoice.invoice_id, remaining, on)
        entry[1] = remaining
    for credit, remaining in pool:
        if remaining <= ZERO:
            result.unallocated[(credit.source_kind, credit.source_id)] = ZERO
    pool[:] = [entry for entry in pool if entry[1] > ZERO]
    open_invoices[:] = [inv for inv in open_invoices if result.open_amount[inv.invoice_id] > ZERO]

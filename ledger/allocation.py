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

Explicit links (the books' lettering, `ledger.links`) come before all of that: each credit's
links are applied first, in date order, to the invoices they name, whatever oldest-first would
have done with earlier credits; a credit marked `hold` keeps what its links and its named invoice
leave as customer credit instead of joining the oldest-first pool. An invoice is settled on the
date its allocations, in date order, first cover its amount.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

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
    # (invoice_id, amount or None for "as much as possible"): applied before anything else
    links: tuple[tuple[str, Decimal | None], ...] = ()
    # True: what is left after links and invoice_id stays customer credit (no oldest-first)
    hold: bool = False


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
    left = _apply_links(result, by_id, credits)
    # (date, 0 = invoice | 1 = credit, tie-breaker, payload)
    events: list[tuple[dt.date, int, str, object]] = [
        (invoice.issue_date, 0, invoice.invoice_id, invoice) for invoice in invoices
    ]
    for credit in credits:
        on = credit.on
        target = by_id.get(credit.invoice_id) if credit.invoice_id else None
        if target is not None and target.issue_date > on:
            on = target.issue_date
        events.append((on, 1, _key(credit), credit))
    events.sort(key=lambda event: event[:3])

    open_invoices: list[InvoiceLine] = []
    pool: list[list[Any]] = []  # [credit, remaining] in arrival order: oldest credit is used first
    for on, kind, _, payload in events:
        if kind == 0:
            # kept sorted as it grows (ids are unique, so the order is total)
            bisect.insort(open_invoices, cast(InvoiceLine, payload), key=_oldest_first)
        else:
            credit = cast(CreditLine, payload)
            remaining = left[_key(credit)]
            if credit.invoice_id in result.open_amount and remaining > ZERO:
                remaining = _apply(result, credit, credit.invoice_id, remaining, on)
            if credit.hold:
                result.unallocated[(credit.source_kind, credit.source_id)] = remaining
            else:
                pool.append([credit, remaining])
        if pool:  # no credit waiting: nothing to apply (open invoices at zero are skipped anyway)
            _drain(result, pool, open_invoices, on)

    for credit, remaining in pool:
        result.unallocated[(credit.source_kind, credit.source_id)] = remaining
    result.allocations = _merged(result.allocations)
    _settle(result, invoices)
    return result


def _key(credit: CreditLine) -> str:
    return f"{credit.source_kind}:{credit.source_id}"


def _apply_links(result: AllocationResult, by_id: dict[str, InvoiceLine],
                 credits: list[CreditLine]) -> dict[str, Decimal]:
    """Apply every credit's explicit links, oldest credit first; what each credit has left."""
    left: dict[str, Decimal] = {}
    for credit in sorted(credits, key=lambda c: (c.on, _key(c))):
        remaining = credit.amount
        for invoice_id, amount in credit.links:
            target = by_id.get(invoice_id)
            if target is None or remaining <= ZERO:
                continue  # a link to another customer's or an unknown invoice is never followed
            wanted = remaining if amount is None else min(amount, remaining)
            if wanted <= ZERO:
                continue
            unused = _apply(result, credit, invoice_id, wanted, max(credit.on, target.issue_date))
            remaining -= wanted - unused
        left[_key(credit)] = remaining
    return left


def _merged(lines: list[AllocationLine]) -> list[AllocationLine]:
    """One line per (invoice, source): a link and a later top-up of the same pair add up."""
    merged: dict[tuple[str, str, str], AllocationLine] = {}
    for line in lines:
        key = (line.invoice_id, line.source_kind, line.source_id)
        seen = merged.get(key)
        merged[key] = line if seen is None else AllocationLine(
            line.invoice_id, line.source_kind, line.source_id, seen.amount + line.amount,
            max(seen.allocated_on, line.allocated_on))
    return list(merged.values())


def _settle(result: AllocationResult, invoices: list[InvoiceLine]) -> None:
    """Settled date: the first date on which the invoice's allocations cover its amount."""
    per_invoice: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for line in result.allocations:
        per_invoice[line.invoice_id].append((line.allocated_on, line.amount))
    for invoice in invoices:
        result.settled_on[invoice.invoice_id] = None
        if result.open_amount[invoice.invoice_id] > ZERO:
            continue
        covered = ZERO
        for on, amount in sorted(per_invoice[invoice.invoice_id]):
            covered += amount
            if covered >= invoice.amount:
                result.settled_on[invoice.invoice_id] = on
                break


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
    return available - applied


def _drain(result: AllocationResult, pool: list[list[Any]], open_invoices: list[InvoiceLine],
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

"""What a change to the ledger sets off downstream, in one place and with the date passed in.

`ledger.ingest.ingest` stores a batch and returns what changed (`IngestChanges`: invoices paid or
credited, invoices disputed, customers whose records moved, customers stopped by a hold or an
insolvency); it sets nothing off itself. `apply_ingest_effects` does, in the caller's
transaction:

- reminders not yet out of the door on invoices just paid or disputed are cancelled, and those
  of customers a hold or an insolvency now stops;
- promises to pay of the customers a batch with payments touched are re-evaluated as of `today`;
- a customer pushed over its credit limit is told once (`credit.limit_exceeded` event).

`ingest_and_apply` is the one path every ingestion takes: the API's ingest route, `relance
import`, the FEC and open-items imports and a dispute resolved with a credit note.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlmodel import Session

from ledger.actions import cancel_pending_for_invoices
from ledger.credit import check_crossings
from ledger.ingest import ingest
from ledger.links import LinkSet
from ledger.promises import PromiseEvaluation, evaluate_promises
from ledger.schemas import IngestBatch, IngestChanges, IngestResult
from ledger.statuses import cancel_if_stopped


@dataclass
class Effects:
    """What the downstream effects did: actions cancelled, promises decided, limits crossed."""

    actions_cancelled: int = 0
    promises: PromiseEvaluation | None = None
    over_credit_limit: list[str] = field(default_factory=list)


def apply_ingest_effects(session: Session, changes: IngestChanges, *, today: dt.date, actor: str) -> Effects:
    effects = Effects()
    if changes.paid_invoices:
        effects.actions_cancelled += cancel_pending_for_invoices(
            session, changes.paid_invoices, "payment received", actor)
    if changes.disputed_invoices:
        effects.actions_cancelled += cancel_pending_for_invoices(
            session, changes.disputed_invoices, "dispute opened", actor)
    if changes.promise_customers:
        effects.promises = evaluate_promises(session, changes.promise_customers, today, actor=actor)
    if changes.stopped_customers:
        effects.actions_cancelled += cancel_if_stopped(session, changes.stopped_customers, today=today,
                                                       actor=actor)
    effects.over_credit_limit = check_crossings(session=session, customer_ids=changes.customers, today=today)
    return effects


def ingest_and_apply(*, session: Session, batch: IngestBatch, actor: str, today: dt.date,
                     source: str = "api", links: LinkSet | None = None,
                     scenario_names: Collection[str] | None = None) -> IngestResult:
    """Store `batch` (`ledger.ingest.ingest`), then apply what it changed as of `today`."""
    result = ingest(session=session, batch=batch, actor=actor, source=source, links=links,
                    scenario_names=scenario_names)
    apply_ingest_effects(session, result.changes, today=today, actor=actor)
    session.flush()
    return result

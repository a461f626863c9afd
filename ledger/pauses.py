"""What pauses dunning on an invoice: an active dispute naming it (directly or through the
dispute's invoice list) or an open promise to pay covering it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, union
from sqlmodel import Session

from ledger.schemas import (
    MAX_DATE,
)
from ledger.tables import (
    Dispute,
    DisputeInvoice,
    Invoice,
    Promise,
    PromiseInvoice,
)
from ledger.workflow import ACTIVE_DISPUTE, PromiseStatus

CHUNK = 500


def disputed_among(session: Session, invoice_ids: Sequence[str]) -> set[str]:
    """Those of these invoices under an open dispute (named by it or linked to it)."""
    if not invoice_ids:
        return set()
    direct, linked = disputed_invoice_queries()
    found: set[str] = set()
    disputed = union(direct, linked).subquery()
    ids = sorted(set(invoice_ids))
    for chunk in (ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)):
        found.update(session.execute(select(disputed.c.invoice_id)
                                     .where(disputed.c.invoice_id.in_(chunk))).scalars())
    return found


def disputed_invoice_queries():
    """(invoice named by an open dispute, invoice linked to one): both pause dunning."""
    links = DisputeInvoice.__table__  # type: ignore[attr-defined]
    direct = select(Dispute.invoice_id.label("invoice_id")).where(
        Dispute.status.in_(ACTIVE_DISPUTE))
    linked = select(links.c.invoice_id.label("invoice_id")).join(
        Dispute, Dispute.dispute_id == links.c.dispute_id).where(
        Dispute.status.in_(ACTIVE_DISPUTE))
    return direct, linked


def paused_invoice_ids(*, session: Session, today: dt.date,
                       customer_ids: Sequence[str] | None = None) -> set[str]:
    """Invoices dunning must leave alone today: under an open or in-review dispute, or covered by
    an open promise to pay whose date has not passed."""
    active = Dispute.status.in_(ACTIVE_DISPUTE)
    main = select(Dispute.invoice_id).where(active)
    linked = (select(DisputeInvoice.invoice_id)
              .join(Dispute, Dispute.dispute_id == DisputeInvoice.dispute_id).where(active))
    promised = (select(PromiseInvoice.invoice_id)
                .join(Promise, Promise.promise_id == PromiseInvoice.promise_id)
                .where(Promise.status == PromiseStatus.OPEN, Promise.promised_date >= today,
                       Promise.promised_date <= MAX_DATE))
    if customer_ids is not None:
        owned = select(Invoice.invoice_id).where(Invoice.customer_id.in_(list(customer_ids)))
        main, linked = (main.where(Dispute.invoice_id.in_(owned)),
                        linked.where(DisputeInvoice.invoice_id.in_(owned)))
        promised = promised.where(Promise.customer_id.in_(list(customer_ids)))
    found: set[str] = set()
    for query in (main, linked, promised):
        found.update(session.execute(query).scalars())
    return found


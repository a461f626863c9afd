"""Next actions computed in bulk by the one decision path (`serving.decisions.decide_customers`)
and stored per open invoice; `GET /invoices/{id}/next-action` reads them by key.

A stored next action is fresh under the rule of the stored risks (`ledger/stored_risk.py`: same
day, same served model, same customer ledger fingerprint) and the same rulebook (the edited
scenarios and templates). A stale one is recomputed — for the whole customer, since its
invoices are consolidated together — and stored again. What the law lets one claim and the
credit advice are computed at read time, as before: they read exchange and legal rates.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import TypeAdapter
from sqlalchemy import Row, bindparam, delete
from sqlalchemy import select as core_select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from ledger import run_facts
from ledger import stored_risk as risk_table
from ledger.errors import NotFoundError
from ledger.tables import Customer, Invoice, StoredNextAction
from serving.decisions import NextAction, RiskProvider, as_the_run_reads, ask_risk, decide_customers, next_action
from serving.policy_run import chooser_for, warnings_of
from serving.scenario_store import load_rulebook

if TYPE_CHECKING:
    from serving.risk import RiskService

_CODEC = TypeAdapter(NextAction)
# the rulebook's print (edited scenarios and templates: counts and latest update times), as rows
# of the fingerprint statement (`ledger.stored_risk.prints_with`): read in the same round trip
_RULEBOOK_PART = " UNION ALL ".join(
    f"SELECT '' AS customer_id, 'rulebook' AS part, '{tag}:' || CAST(COUNT(*) AS VARCHAR(20)) "
    f"|| ':' || COALESCE(CAST(MAX(updated_at) AS VARCHAR(64)), '') AS v FROM {table}"
    for tag, table in (("s", "scenariorecord"), ("t", "templaterecord")))
# what `GET /invoices/{id}/next-action` reads of the invoice, its customer and its stored next
# action, in one statement
_ROUTE_ROW = core_select(
    Invoice.invoice_id, Invoice.customer_id, Invoice.kind, Invoice.settled_on,
    Invoice.issue_date, Invoice.due_date, Invoice.open_amount, Invoice.currency,
    Customer.customer_type, Customer.language, StoredNextAction.as_of,
    StoredNextAction.model_version, StoredNextAction.fingerprint, StoredNextAction.payload,
).join(Customer, Customer.customer_id == Invoice.customer_id).outerjoin(
    StoredNextAction, StoredNextAction.invoice_id == Invoice.invoice_id).where(
    Invoice.invoice_id == bindparam("id"))


def provider_of(service: RiskService) -> RiskProvider | None:
    """The risk provider a request gets from the app's service (None: the rules)."""
    return service.risk_for if service.state.predictor is not None else None


def invoice_row(session: Session, invoice_id: str) -> Row:
    """The invoice's fields the route reads (ids, kind, dates, open amount, currency), its
    customer's type and language, and its stored next action's (as_of, model_version,
    fingerprint, payload; None when there is none), in one statement; NotFoundError if none."""
    row = session.execute(_ROUTE_ROW, {"id": invoice_id}).first()
    if row is None:
        raise NotFoundError("invoice", invoice_id)
    return row


def stored_next_action(service: RiskService, session: Session, invoice: Invoice | Row,
                       today: dt.date) -> NextAction:
    """The invoice's next action: stored when fresh, else its customer's recomputed and stored
    (committed apart; on a write conflict the answer is still given). `invoice`: the ORM row, or
    `invoice_row`'s (its stored next action read with it: no further read when fresh)."""
    if invoice.settled_on is not None or invoice.kind != "invoice":
        # no run considers it: the policy says why, computed here (no stored row)
        return next_action(session=session, invoice=_orm(session, invoice), today=today,
                           risk_for=provider_of(service))
    customer_id = invoice.customer_id
    print_ = _print(session, customer_id)
    if isinstance(invoice, Row):
        stored = invoice if invoice.payload is not None else None
    else:
        stored = session.get(StoredNextAction, invoice.invoice_id)
    if (stored is not None and stored.as_of == today and stored.fingerprint == print_
            and stored.model_version == service.state.version):
        return _CODEC.validate_python(stored.payload)
    invoice = _orm(session, invoice)
    computed = _compute_retrying(service, session, customer_id, today)
    try:
        store(session, [customer_id], computed, today=today, model_version=service.state.version,
              prints={customer_id: print_})
        session.commit()
    except DBAPIError:  # e.g. SQLite busy under a concurrent ingest: answer anyway
        session.rollback()
    found = computed.get(invoice.invoice_id)
    if found is None:  # not in a run's facts (issued after today): asked directly
        return next_action(session=session, invoice=invoice, today=today,
                           risk_for=provider_of(service))
    return found.answer


def _compute_retrying(service: RiskService, session: Session, customer_id: str,
                      today: dt.date, attempts: int = 6) -> dict[str, Owned]:
    """`compute` for one customer, in a new transaction again (after a short random pause) when
    SQLite refuses its write (the run's promise evaluation, rolled back): several requests
    recomputing stale customers at once each read, then write, and a write committed after
    another's read makes SQLite answer "database is locked" at once — a 500 before."""
    for attempt in range(attempts):
        try:
            return compute(service, session, [customer_id], today)
        except OperationalError:
            session.rollback()
            if attempt == attempts - 1 or session.get_bind().dialect.name != "sqlite":
                raise
            time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
    raise AssertionError("unreachable")


def refresh(service: RiskService, session: Session, customer_ids: Sequence[str],
            today: dt.date) -> int:
    """Compute and store the next actions of these customers' open invoices (caller commits)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    prints = _prints(session, ids)
    computed = compute(service, session, ids, today)
    store(session, ids, computed, today=today, model_version=service.state.version, prints=prints)
    return len(computed)


@dataclass(frozen=True, slots=True)
class Owned:
    decision_customer_id: str
    answer: NextAction


def compute(service: RiskService, session: Session, customer_ids: Sequence[str],
            today: dt.date) -> dict[str, Owned]:
    """Every open invoice's next action for these customers, through `decide_customers` in bulk:
    the ledger read as a run on `today` reads it (read-only), the stored risks."""
    ids = sorted(set(customer_ids))
    wanted = set(ids)
    with as_the_run_reads(session, ids, today) as stale:
        facts = run_facts.load_chunk(session, lo=ids[0], hi=ids[-1], run_date=today,
                                     cancelling=stale)
    rulebook = load_rulebook(session)
    invoices = [i.invoice_id for i in facts.invoices if i.customer_id in wanted]
    answer = ask_risk(session, invoices, today, provider_of(service))
    out: dict[str, Owned] = {}
    chooser = chooser_for(session, facts, today=today, rulebook=rulebook)
    decided_all = decide_customers(facts, today=today, rulebook=rulebook, risks=answer.risks,
                                   explain=True, chooser=chooser)
    warnings = ((answer.warning,) if answer.warning else ()) + tuple(warnings_of(chooser))
    for decided in decided_all:
        if decided.customer_id not in wanted:
            continue
        for invoice_id, decision in decided.decisions.items():
            out[invoice_id] = Owned(decided.customer_id, NextAction(
                decision=decision, scenario=decided.scenario.name,
                risk=answer.risks.get(invoice_id), reminder=decided.reminder_of(invoice_id),
                action=decided.action_of(invoice_id), warnings=warnings))
    return out


def store(session: Session, customer_ids: Sequence[str], computed: dict[str, NextAction], *,
          today: dt.date, model_version: str | None, prints: dict[str, str]) -> None:
    """Replace these customers' stored next actions (in the caller's transaction)."""
    ids = list(customer_ids)
    for start in range(0, len(ids), 500):
        session.execute(delete(StoredNextAction).where(
            StoredNextAction.customer_id.in_(ids[start:start + 500])))
    rows = [{"invoice_id": invoice_id, "customer_id": found.decision_customer_id,
             "as_of": today, "model_version": model_version,
             "fingerprint": prints[found.decision_customer_id],
             "payload": _CODEC.dump_python(found.answer, mode="json")}
            for invoice_id, found in computed.items()]
    if rows:
        session.execute(StoredNextAction.__table__.insert(), rows)


def _orm(session: Session, invoice: Invoice | Row) -> Invoice:
    return invoice if isinstance(invoice, Invoice) else session.get_one(Invoice, invoice.invoice_id)


def _print(session: Session, customer_id: str) -> str:
    """The customer's ledger fingerprint and the rulebook's, as one."""
    return _prints(session, [customer_id])[customer_id]


def _prints(session: Session, customer_ids: Sequence[str]) -> dict[str, str]:
    """Each customer's ledger fingerprint and the rulebook's, as one, from one statement on a
    connection of its own (the committed ledger and rulebook, as the fingerprint reads)."""
    with session.get_bind().connect() as connection:
        ledger, _, extra = risk_table.prints_with(connection, customer_ids, _RULEBOOK_PART)
    rulebook = "|".join(sorted(value for _, value in extra))
    return {c: _combined(ledger[c], rulebook) for c in customer_ids}


def _combined(ledger: str, rulebook: str) -> str:
    return hashlib.sha1(f"{ledger}|{rulebook}".encode()).hexdigest()

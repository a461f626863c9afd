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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import TypeAdapter
from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ledger import run_facts
from ledger import stored_risk as risk_table
from ledger.tables import Invoice, StoredNextAction
from serving.decisions import NextAction, RiskProvider, as_the_run_reads, ask_risk, decide_customers, next_action
from serving.policy_run import chooser_for, warnings_of
from serving.scenario_store import load_rulebook

if TYPE_CHECKING:
    from serving.risk import RiskService

_CODEC = TypeAdapter(NextAction)
_RULEBOOK_SQL = ("SELECT 's', COUNT(*), MAX(updated_at) FROM scenariorecord "
                 "UNION ALL SELECT 't', COUNT(*), MAX(updated_at) FROM templaterecord")


def provider_of(service: RiskService) -> RiskProvider | None:
    """The risk provider a request gets from the app's service (None: the rules)."""
    return service.risk_for if service.state.predictor is not None else None


def stored_next_action(service: RiskService, session: Session, invoice: Invoice,
                       today: dt.date) -> NextAction:
    """The invoice's next action: stored when fresh, else its customer's recomputed and stored
    (committed apart; on a write conflict the answer is still given)."""
    if invoice.settled_on is not None or invoice.kind != "invoice":
        # no run considers it: the policy says why, computed here (no stored row)
        return next_action(session=session, invoice=invoice, today=today,
                           risk_for=provider_of(service))
    customer_id = invoice.customer_id
    print_ = _print(session, customer_id)
    row = session.get(StoredNextAction, invoice.invoice_id)
    if (row is not None and row.as_of == today and row.fingerprint == print_
            and row.model_version == service.state.version):
        return _CODEC.validate_python(row.payload)
    computed = compute(service, session, [customer_id], today)
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


def refresh(service: RiskService, session: Session, customer_ids: Sequence[str],
            today: dt.date) -> int:
    """Compute and store the next actions of these customers' open invoices (caller commits)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    rulebook = _rulebook_print(session)
    ledger = risk_table.fingerprints(session, ids)
    prints = {c: _combined(ledger[c], rulebook) for c in ids}
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


def _print(session: Session, customer_id: str, rulebook: str | None = None) -> str:
    """The customer's ledger fingerprint and the rulebook's, as one."""
    ledger = risk_table.fingerprints(session, [customer_id])[customer_id]
    return _combined(ledger, rulebook if rulebook is not None else _rulebook_print(session))


def _combined(ledger: str, rulebook: str) -> str:
    return hashlib.sha1(f"{ledger}|{rulebook}".encode()).hexdigest()


def _rulebook_print(session: Session) -> str:
    rows = session.execute(text(_RULEBOOK_SQL)).all()
    return "|".join(f"{tag}:{n}:{latest}" for tag, n, latest in rows)

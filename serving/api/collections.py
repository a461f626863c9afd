"""Collections workbench routes: disputes, promises to pay, worklist, assignments, notes, calls,
audit. The logic lives in the ledger's modules by concern (`ledger.disputes`, `ledger.promises`,
`ledger.contacts`, `ledger.worklist`, `ledger.audit`); these routes check roles and shape answers."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from ledger import audit, contacts, dispute_views, disputes, errors, promise_views, promises, worklist_rows
from ledger import worklist as ranking
from ledger.portfolio import AssignmentIn, assign_customers, portfolio_customers
from ledger.schemas import NoteText
from ledger.tables import Customer, Invoice, StoredCustomerRisk
from ledger.worklist_rows import among
from serving.deps import Admin, PortfolioDep, Principal, Reader, SessionDep, get_today, require, risk_provider
from serving.inputs import Offset
from serving.labels import Language, label
from serving.scenario_store import load_scenarios
from serving.scenarios import load_default_segment_map, scenario_for
from serving.worklist_text import worded

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["collections"])

Writer = Annotated[Principal, Depends(require("agent"))]
# analysts approve (or refuse) what agents propose on disputes
DisputeWorker = Annotated[Principal, Depends(require("agent", "analyst"))]
Manager = Annotated[Principal, Depends(require("analyst"))]
Lang = Annotated[Language | None, Query(description="fr (default) or en")]
Limit = Annotated[int, Query(ge=1, le=500)]


def _today(request: Request) -> dt.date:
    return get_today(request)


def _lang(request: Request, lang: str | None) -> Language:
    chosen = lang or getattr(request.app.state.settings, "language", "fr")
    return "en" if chosen == "en" else "fr"


def _conflict(exc: errors.IllegalTransitionError) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, str(exc))


# --- response models of the routes below (what the ledger returns as its own records) ----------

class NoteOut(BaseModel):
    id: int
    customer_id: str
    author: str
    body: str
    created_at: dt.datetime


class CallOut(BaseModel):
    id: int
    customer_id: str
    invoice_id: str | None
    outcome: str
    created_by: str | None
    send_on: dt.date
    sent_at: dt.datetime | None


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


# --- disputes ----------------------------------------------------------------------------------

class ReasonLabel(BaseModel):
    code: str
    label: str
    fr: str
    en: str


@router.get("/disputes/reasons", response_model=list[ReasonLabel])
def dispute_reasons(request: Request, _: Reader, lang: Lang = None) -> list[dict[str, str]]:
    """Dispute reason codes with their French and English labels."""
    language = _lang(request, lang)
    return [{"code": code, "label": label("reason", code, language), "fr": label("reason", code, "fr"),
             "en": label("reason", code, "en")} for code in get_args(disputes.ReasonCode)]


@router.post("/disputes", response_model=dispute_views.DisputeOut, status_code=status.HTTP_201_CREATED)
def open_dispute(data: disputes.DisputeCreate, request: Request, session: SessionDep, principal: Writer,
                 portfolio: PortfolioDep, lang: Lang = None) -> dispute_views.DisputeOut:
    """Open a dispute on one or more invoices of a customer (pauses their dunning)."""
    for line in data.invoices:
        portfolio.require(session, "invoice", line.invoice_id)
    dispute = disputes.open_dispute(session=session, data=data, actor=principal.actor, today=_today(request))
    session.commit()
    return _dispute_view(session, dispute, request, lang)


@router.get("/disputes", response_model=list[dispute_views.DisputeOut])
def list_disputes(request: Request, session: SessionDep, _: Reader, portfolio: PortfolioDep,
                  status_: Annotated[str | None, Query(alias="status", description="a status, or `active` for open and in_review")] = None,
                  customer_id: str | None = None, invoice_id: str | None = None,
                  assignee: str | None = None, limit: Limit = 100, offset: Offset = 0,
                  lang: Lang = None) -> list[dispute_views.DisputeOut]:
    """Disputes, oldest first, with their SLA age."""
    found = dispute_views.list_disputes(session=session, status=status_, customer_id=customer_id,
                                        invoice_id=invoice_id, assignee=assignee, limit=limit, offset=offset,
                                        agent=portfolio.agent)
    return _worded(dispute_views.dispute_views(session=session, disputes=found, today=_today(request)),
                   _lang(request, lang))


@router.get("/disputes/{dispute_id}", response_model=dispute_views.DisputeOut)
def get_dispute(dispute_id: str, request: Request, session: SessionDep, _: Reader,
                lang: Lang = None) -> dispute_views.DisputeOut:
    """One dispute with its invoices, comments and the transitions still open to it."""
    return _dispute_view(session, disputes.get_dispute(session=session, dispute_id=dispute_id), request, lang)


@router.patch("/disputes/{dispute_id}", response_model=dispute_views.DisputeOut)
def update_dispute(dispute_id: str, data: disputes.DisputeUpdate, request: Request, session: SessionDep,
                   principal: DisputeWorker, lang: Lang = None) -> dispute_views.DisputeOut:
    """Change a dispute's status (409 if the workflow forbids it), assignee, or add a comment.

    Resolving with a credit note is for analysts and admins; an agent proposes one
    (`proposed_credit_note`, optional `credit_amount`) for them to approve."""
    if data.status == "resolved_credit_note" and not disputes.may_resolve_with_credit_note(principal.role):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"role {principal.role!r} may not resolve a dispute with a credit note: "
                            "propose it (status proposed_credit_note) for an analyst to approve")
    try:
        dispute = disputes.update_dispute(session=session, dispute_id=dispute_id, data=data,
                                     actor=principal.actor, today=_today(request))
    except errors.IllegalTransitionError as exc:
        session.rollback()
        raise _conflict(exc) from exc
    session.commit()
    return _dispute_view(session, dispute, request, lang)


class CommentIn(BaseModel):
    body: NoteText


@router.post("/disputes/{dispute_id}/comments", response_model=dispute_views.DisputeOut,
             status_code=status.HTTP_201_CREATED)
def comment_dispute(dispute_id: str, data: CommentIn, request: Request, session: SessionDep,
                    principal: Writer, lang: Lang = None) -> dispute_views.DisputeOut:
    """Add a comment to a dispute."""
    disputes.add_dispute_comment(session=session, dispute_id=dispute_id, author=principal.actor, body=data.body)
    session.commit()
    return _dispute_view(session, disputes.get_dispute(session=session, dispute_id=dispute_id), request, lang)


def _dispute_view(session: Session, dispute, request: Request, lang: str | None) -> dispute_views.DisputeOut:
    views = dispute_views.dispute_views(session=session, disputes=[dispute], today=_today(request))
    return _worded(views, _lang(request, lang))[0]


def _worded(views: list[dispute_views.DisputeOut], language: Language) -> list[dispute_views.DisputeOut]:
    """Each dispute's reason in the reader's words (the catalogue; never a raw code)."""
    for view in views:
        view.reason_label = label("reason", view.reason, language) if view.reason else None
    return views


# --- promises ----------------------------------------------------------------------------------

@router.post("/promises", response_model=promise_views.PromiseOut, status_code=status.HTTP_201_CREATED)
def create_promise(data: promises.PromiseCreate, request: Request, session: SessionDep,
                   principal: Writer, portfolio: PortfolioDep) -> promise_views.PromiseOut:
    """Record a promise to pay or an instalment plan (pauses the invoices its amount covers)."""
    portfolio.require(session, "customer", data.customer_id)
    for invoice_id in data.invoice_ids:
        portfolio.require(session, "invoice", invoice_id)
    promise = promises.create_promise(session=session, data=data, actor=principal.actor, today=_today(request),
                                 max_days=_promise_max_days(session, data.customer_id))
    session.commit()
    return promise_views.promise_views(session=session, promises=[promise])[0]


def _promise_max_days(session: Session, customer_id: str) -> int | None:
    """The customer's scenario's limit on how far ahead a promise may be dated."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None  # create_promise answers 404
    scenario = scenario_for(customer_scenario=customer.dunning_scenario, segment=customer.segment,
                            scenarios=load_scenarios(session), segment_map=load_default_segment_map())
    return scenario.promise_max_days


@router.get("/promises", response_model=list[promise_views.PromiseOut])
def list_promises(session: SessionDep, _: Reader, portfolio: PortfolioDep,
                  status_: Annotated[str | None, Query(alias="status")] = None,
                  customer_id: str | None = None, limit: Limit = 100,
                  offset: Offset = 0) -> list[promise_views.PromiseOut]:
    """Promises to pay, by promised date."""
    found = promise_views.list_promises(session=session, status=status_, customer_id=customer_id,
                                        limit=limit, offset=offset, agent=portfolio.agent)
    return promise_views.promise_views(session=session, promises=found)


@router.post("/promises/evaluate", response_model=promises.PromiseEvaluation)
def evaluate_promises(request: Request, session: SessionDep, principal: Writer,
                      portfolio: PortfolioDep,
                      customer_id: Annotated[list[str] | None, Query()] = None) -> promises.PromiseEvaluation:
    """Mark open promises kept or broken from the payments received (also run after ingestion)."""
    if customer_id is None and portfolio.agent is not None:
        customer_id = list(session.execute(portfolio_customers(portfolio.agent)).scalars())
    result = promises.evaluate_promises(session, customer_id, _today(request), actor=principal.actor)
    session.commit()
    return result


@router.get("/promises/{promise_id}", response_model=promise_views.PromiseOut)
def get_promise(promise_id: str, session: SessionDep, _: Reader) -> promise_views.PromiseOut:
    """One promise to pay with what has been paid towards it."""
    return promise_views.promise_views(session=session, promises=[promises.get_promise(session=session, promise_id=promise_id)])[0]


@router.patch("/promises/{promise_id}", response_model=promise_views.PromiseOut)
def update_promise(promise_id: str, data: promises.PromiseUpdate, request: Request, session: SessionDep,
                   principal: Writer) -> promise_views.PromiseOut:
    """Cancel or reschedule an open promise (409 once kept, broken or cancelled)."""
    try:
        current = promises.get_promise(session=session, promise_id=promise_id)
        promise = promises.update_promise(session=session, promise_id=promise_id, data=data,
                                     actor=principal.actor, today=_today(request),
                                     max_days=_promise_max_days(session, current.customer_id))
    except errors.IllegalTransitionError as exc:
        session.rollback()
        raise _conflict(exc) from exc
    session.commit()
    return promise_views.promise_views(session=session, promises=[promise])[0]


# --- worklist and assignments ------------------------------------------------------------------

@router.get("/worklist", response_model=list[worklist_rows.WorklistRow])
def worklist(request: Request, session: SessionDep, principal: Reader,
             agent: str | None = None, limit: Limit = 50, segment: str | None = None,
             grade: ranking.Grade | None = None, bucket: worklist_rows.Bucket | None = None,
             lang: Lang = None, offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
             q: Annotated[str | None, Query(max_length=100, description="part of the customer's id or name")] = None,
             currency: Annotated[str | None, Query(pattern="^[A-Za-z]{3}$", description="customers invoiced in this currency")] = None,
             dispute: Annotated[bool | None, Query(description="true: with an active dispute; false: without")] = None,
             promise: Annotated[bool | None, Query(description="true: with an open promise; false: without")] = None,
             ) -> list[worklist_rows.WorklistRow]:
    """Customers ranked by the amount expected not collected within 90 days, with urgency apart.

    An agent sees their own portfolio only (their key's name is their agent id)."""
    if principal.role == "agent":
        if agent is not None and agent != principal.name:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"an agent sees only their own portfolio ({principal.name!r}), not {agent!r}")
        agent = principal.name or principal.key_prefix
    today = _today(request)
    rows = ranking.worklist(session=session, today=today, agent=agent, limit=limit, segment=segment,
                        grade=grade, bucket=bucket, risk=_invoice_risk(request, session, today),
                        offset=offset, search=q or None, currency=currency, dispute=dispute, promise=promise)
    _keep_refreshed_answers(session)
    return worded(rows, _lang(request, lang))


def _keep_refreshed_answers(session: Session) -> None:
    """The risk service stored the answers it recomputed for stale customers in this request's
    transaction: keep them, or the next call recomputes the same customers again. Nothing else
    is written by a worklist read; a write conflict (SQLite busy) only costs the next call."""
    try:
        session.commit()
    except DBAPIError:
        session.rollback()


def _invoice_risk(request: Request, session: Session, today: dt.date) -> ranking.InvoiceRisk | None:
    """The app's `risk_for` (model, or its rules) as invoice ids → odds of staying unpaid.

    A risk without `p_unpaid_30`/`p_unpaid_90` (a provider that predates them) says nothing the
    worklist can rank on: those invoices fall back to the payer's history."""
    # the served model, or the risk service's own rules when none is served: one grade scale
    risk_for = risk_provider(request)
    service = getattr(request.app.state, "risk", None)
    if risk_for is None:
        risk_for = service.risk_for if service is not None else None
    if risk_for is None:
        return None

    def odds(invoice_ids: list[str]) -> Mapping[str, ranking.InvoiceOdds]:
        found = {}
        answers = _read_safely(risk_for, session, invoice_ids, today)
        grades = _customer_grades(session, list(answers)) \
            if getattr(risk_for, "__self__", None) is service else {}
        for invoice_id, r in answers.items():
            p30, p90 = getattr(r, "p_unpaid_30", None), getattr(r, "p_unpaid_90", None)
            if p30 is None or p90 is None:
                continue
            found[invoice_id] = ranking.InvoiceOdds(p_unpaid_30=float(p30), p_unpaid_90=float(p90),
                                                grade=grades.get(invoice_id, r.grade), source=r.source)
        return found

    return odds


def _read_safely(risk_for, session: Session, invoice_ids: list[str], today: dt.date) -> Mapping:
    """`risk_for`'s answers; the stored answers it refreshes on the way are written inside a
    savepoint, so a failed write (SQLite busy, a concurrent refresh of the same customer) never
    fails the read: asked once more (what the other writer stored is fresh now), and if that
    fails too the invoices fall back to their payer's history (the row says "rules")."""
    for attempt in range(2):
        try:
            with session.begin_nested():
                return risk_for(session, invoice_ids, today)
        except DBAPIError:
            # logged whole: a busy database is expected now and then, but an error of ours caught
            # here would otherwise only show as rows labelled "rules"
            log.warning("worklist risk refresh failed (attempt %d of 2); %s", attempt + 1,
                        "asking again" if attempt == 0 else "payer history used", exc_info=True)
    return {}


def _customer_grades(session: Session, invoice_ids: list[str]) -> dict[str, str]:
    """Invoice id → its customer's own score grade, the one the customer page shows (one scale,
    one value per customer: the stored answer `GET /customers/{id}/risk` reads). Asked only
    right after the risk service answered for these invoices, which refreshed every stale
    customer in this session: the stored rows are read as they are, no second freshness check."""
    if not invoice_ids:
        return {}
    # one statement, two columns: the stored rows' reasons and balances are not read here
    return dict(session.execute(
        select(Invoice.invoice_id, StoredCustomerRisk.grade)
        .join(StoredCustomerRisk, StoredCustomerRisk.customer_id == Invoice.customer_id)
        .where(among(session, Invoice.invoice_id, invoice_ids))).all())


class AssignmentOut(BaseModel):
    agent: str | None
    customers: int
    changed: int


@router.post("/worklist/assignments", response_model=AssignmentOut)
def assign(data: AssignmentIn, session: SessionDep, principal: Manager) -> AssignmentOut:
    """Assign customers to an agent's portfolio (agent null: unassign)."""
    changed = assign_customers(session=session, agent=data.agent, customer_ids=data.customer_ids,
                                   actor=principal.actor)
    session.commit()
    return AssignmentOut(agent=data.agent, customers=len(set(data.customer_ids)), changed=changed)


# --- notes and calls ---------------------------------------------------------------------------

class NoteIn(BaseModel):
    body: NoteText


@router.post("/customers/{customer_id}/notes", response_model=NoteOut,
             status_code=status.HTTP_201_CREATED)
def add_note(customer_id: str, data: NoteIn, session: SessionDep, principal: Writer) -> NoteOut:
    """Add a note on a customer."""
    note = contacts.add_note(session=session, customer_id=customer_id, author=principal.actor, body=data.body)
    session.commit()
    return NoteOut.model_validate(note, from_attributes=True)


@router.get("/customers/{customer_id}/notes", response_model=list[NoteOut])
def list_notes(customer_id: str, session: SessionDep, _: Reader, limit: Limit = 100) -> list[NoteOut]:
    """A customer's notes, newest first."""
    return [NoteOut.model_validate(n, from_attributes=True)
            for n in contacts.list_notes(session=session, customer_id=customer_id, limit=limit)]


@router.post("/calls", response_model=CallOut, status_code=status.HTTP_201_CREATED)
def log_call(data: contacts.CallIn, request: Request, session: SessionDep, principal: Writer,
             portfolio: PortfolioDep) -> CallOut:
    """Log a call and its outcome (a sent `call` action: it counts as the last contact)."""
    portfolio.require(session, "customer", data.customer_id)
    if data.invoice_id is not None:
        portfolio.require(session, "invoice", data.invoice_id)
    action = contacts.log_call(session=session, data=data, actor=principal.actor, today=_today(request))
    session.commit()
    return CallOut.model_validate(action, from_attributes=True)


# --- audit -------------------------------------------------------------------------------------

@router.get("/audit", response_model=list[AuditOut])
def audit_log(session: SessionDep, _: Admin, entity: str | None = None, entity_id: str | None = None,
              limit: Limit = 100, offset: Offset = 0) -> list[AuditOut]:
    """The audit log, newest first (admins only): who changed what, before and after."""
    return [AuditOut.model_validate(row, from_attributes=True)
            for row in audit.list_audit(session=session, entity=entity, entity_id=entity_id,
                                      limit=limit, offset=offset)]

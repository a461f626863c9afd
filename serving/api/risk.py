"""Risk, predictions, the next action of an invoice, and the served model."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter, model_validator
from pydantic_core import to_json

from ledger import credit, store
from ledger.errors import FieldError, LedgerConflictError, LedgerValidationError
from ledger.law import claim_for
from ledger.schemas import MAX_DATE, MIN_DATE, Id, InvoiceIn, dates_in_range
from ledger.tables import Customer
from serving.credit_advice import credit_reason
from serving.decisions import next_action
from serving.deps import Analyst, PortfolioDep, Principal, Reader, SessionDep, TodayDep, require, risk_provider
from serving.ratelimit import RateLimited
from serving.risk import RiskService
from serving.stored_actions import invoice_row, stored_next_action
from serving.stored_risk import invoice_risks

router = APIRouter(prefix="/api/v1", tags=["risk"])
MAX_PREDICTIONS = 10_000
Predictors = Annotated[Principal, Depends(require("analyst", "agent", "billing"))]
Lang = Annotated[Literal["fr", "en"] | None, Query(description="language of the reasons (default: the customer's)")]


async def risk_service(request: Request) -> RiskService:
    return request.app.state.risk


RiskDep = Annotated[RiskService, Depends(risk_service)]


class ReasonOut(BaseModel):
    feature: str
    family: str | None = None
    value: float
    effect: float
    sentence: str


class CurrencyBalance(BaseModel):
    currency: str
    open_amount: float = Field(description="open balances in this currency, in this currency")
    open_invoices: int


class CustomerRisk(BaseModel):
    customer_id: str
    score: int = Field(description="0–1000, higher is safer")
    grade: str = Field(description="A (safest) to E")
    p_late: float = Field(description="amount-weighted P(late) of the open and next invoices")
    p_severe: float = Field(description="P(more than 30 days late), same weighting")
    expected_days_late: float
    p_unpaid_30: float = Field(description="P(not paid within 30 days | unpaid today), same "
                               "weighting")
    p_unpaid_90: float = Field(description="P(not paid within 90 days | unpaid today)")
    open_invoices: int = Field(description="open invoices, every currency")
    currency: str = Field(description="the customer's currency, that of `open_amount`")
    open_amount: float = Field(description=(
        "the open balances (partial payments and credit notes deducted) in the customer's "
        "currency, as on the customer record: an invoice in another currency converted at the "
        "day's rates, or left out and its currency named in `unconverted`"))
    rate_date: dt.date | None = Field(description="the oldest exchange rate used (null: none)")
    unconverted: list[str] = Field(description="currencies with no rate, left out of open_amount")
    by_currency: list[CurrencyBalance] = Field(description="open balances per currency, each in "
                                               "its own")
    reasons: list[ReasonOut]
    basis: Literal["model", "rules"]
    model_version: str | None
    as_of: dt.date


@router.get("/customers/{customer_id}/risk", response_model=CustomerRisk, dependencies=[RateLimited])
def customer_risk(customer_id: str, session: SessionDep, risk: RiskDep, _: Reader,
                  today: TodayDep, lang: Lang = None,
                  reasons: Annotated[int, Query(ge=0, le=5, description=(
                      "how many reasons to tell (0: none, the fastest)"))] = 3) -> dict:
    """Score 0–1000, grade A–E, probabilities and readable reasons for one customer: its stored
    answer (recomputed when its ledger, the model or the date changed), reasons on demand."""
    from serving.stored_risk import customer_row

    # a fresh answer is two indexed reads and, with reasons, one numpy single-row call; a stale
    # one is recomputed (ledger read, booster, write). (Run as an `async` route, in the event
    # loop, it was slower under 16 clients: benchmarks/README.md)
    row, language = customer_row(risk, session, customer_id, today)  # 404 for an unknown one
    return risk.answer(row, session=session, language=lang or language or "fr", top=reasons)


class PredictionRequest(BaseModel):
    invoice_ids: list[Id] = Field(default_factory=list, description="invoices already in the ledger")
    # the same schema and checks as ingestion: a new invoice is validated as if it were sent
    invoices: list[InvoiceIn] = Field(default_factory=list, description="new invoices, not stored")
    explain: int = Field(default=0, ge=0, le=5, description="reasons per invoice (0: none, fastest)")
    lang: Literal["fr", "en"] = "fr"

    @model_validator(mode="after")
    def _size(self) -> PredictionRequest:
        total = len(self.invoice_ids) + len(self.invoices)
        if total == 0:
            raise ValueError("send at least one invoice id or inline invoice")
        if total > MAX_PREDICTIONS:
            raise ValueError(f"{total} invoices in one request: at most {MAX_PREDICTIONS:,}; split the batch")
        return self


class Prediction(BaseModel):
    invoice_id: str
    customer_id: str
    p_late: float
    p_severe: float
    expected_days_late: float
    p_unpaid_30: float = Field(description="P(not paid within 30 days | unpaid today)")
    p_unpaid_90: float = Field(description="P(not paid within 90 days | unpaid today)")
    expected_pay_date: dt.date | None = Field(
        description="the date by which payment is as likely as not (null: not within a year)")
    pay_date_low: dt.date | None = Field(description="80 % interval: 10th percentile")
    pay_date_high: dt.date | None = Field(description="80 % interval: 90th percentile (null: "
                                          "not within a year)")
    score: int
    grade: str
    reasons: list[ReasonOut] = []


class PredictionResponse(BaseModel):
    basis: Literal["model", "rules"]
    model_version: str | None
    predictions: list[Prediction]


@router.post("/predictions", response_model=PredictionResponse, dependencies=[RateLimited])
def predictions(body: PredictionRequest, session: SessionDep, risk: RiskDep,
                _: Predictors, today: TodayDep, portfolio: PortfolioDep) -> Response:
    """Risk of stored invoices and of new ones sent inline (scored with the history as of now)."""
    from model.score import grade, invoice_risk, risk_to_score

    if portfolio.agent is not None:
        for invoice_id in dict.fromkeys(body.invoice_ids):
            portfolio.require(session, "invoice", invoice_id)
        for customer_id in dict.fromkeys(i.customer_id for i in body.invoices):
            portfolio.require(session, "customer", customer_id)

    owners = _check_known(session, body)
    stored: dict[str, dict] = {}
    if not body.explain:  # the stored answers (reasons need the features: computed then)
        stored = invoice_risks(risk, session, body.invoice_ids, today, owners=owners)
        session.commit()  # the customers refreshed on the way are kept
    inline = None
    if body.invoices:
        inline = pd.DataFrame([i.model_dump(include={"invoice_id", "customer_id", "issue_date",
                                                     "due_date", "amount"}) for i in body.invoices])
        inline["amount"] = inline["amount"].astype(float)
        for column in ("issue_date", "due_date"):
            inline[column] = pd.to_datetime(inline[column])
    # a stored row has the response's types already (floats, dates, int, str): written out as
    # it is, not validated object by object; what is computed here is validated as before
    records: list[dict] = [_stored_prediction(stored[i]) for i in dict.fromkeys(body.invoice_ids)
                           if i in stored]
    rest = [i for i in body.invoice_ids if i not in stored]
    if rest or inline is not None:
        scores = risk.score_invoices(session=session, invoice_ids=rest, inline=inline,
                                     today=today, explain=body.explain, language=body.lang)
        scores["score"] = risk_to_score(invoice_risk(scores))
        scores["grade"] = grade(scores["score"].to_numpy())
        computed = scores.to_dict("records")
        for record in computed:
            record["expected_days_late"] = round(float(record["expected_days_late"]), 1)
        records += _PREDICTIONS.dump_python(_PREDICTIONS.validate_python(computed), mode="json")
    basis = "model" if risk.state.predictor is not None else "rules"
    content = {"basis": basis, "model_version": risk.state.version, "predictions": records}
    return Response(to_json(content, inf_nan_mode="null"), media_type="application/json")


_PREDICTIONS = TypeAdapter(list[Prediction])
_STORED_FIELDS = ("invoice_id", "customer_id", "p_late", "p_severe", "expected_days_late",
                  "p_unpaid_30", "p_unpaid_90", "expected_pay_date", "pay_date_low",
                  "pay_date_high", "score", "grade")


def _stored_prediction(row: dict) -> dict:
    """A stored row as a `Prediction` reads (its fields, in its order, no reasons)."""
    out = {name: row[name] for name in _STORED_FIELDS}
    out["expected_days_late"] = round(out["expected_days_late"], 1)
    out["reasons"] = []
    return out


def _check_known(session, body: PredictionRequest) -> dict[str, str]:
    """422 for an unknown or unscorable invoice id, or an inline invoice's unknown customer;
    returns each stored invoice's customer."""
    from sqlalchemy import select

    from ledger.bulk import select_in
    from ledger.tables import Invoice

    errors: list[FieldError] = []
    known: dict[str, str | None] = {}
    owners: dict[str, str] = {}
    # the columns the checks read, as rows: loading 10,000 ORM objects cost more than scoring
    for row in select_in(session, [Invoice.invoice_id, Invoice.customer_id, Invoice.kind,
                                   Invoice.settled_on, Invoice.issue_date, Invoice.due_date],
                         Invoice.invoice_id, set(body.invoice_ids)):
        known[row.invoice_id] = _unscorable(row)
        owners[row.invoice_id] = row.customer_id
    for i, invoice_id in enumerate(body.invoice_ids):
        if invoice_id not in known:
            errors.append(FieldError(f"invoice_ids[{i}]", f"unknown invoice {invoice_id!r}"))
        elif known[invoice_id]:
            errors.append(FieldError(f"invoice_ids[{i}]", known[invoice_id]))
    customers = {i.customer_id for i in body.invoices}
    found = set(session.execute(select(Customer.customer_id).where(
        Customer.customer_id.in_(customers))).scalars()) if customers else set()
    errors += [FieldError(f"invoices[{i}].customer_id", f"unknown customer {inv.customer_id!r}: send it to /ingest first")
               for i, inv in enumerate(body.invoices) if inv.customer_id not in found]
    if errors:
        raise LedgerValidationError(errors[:100])
    return owners


def _unscorable(invoice) -> str | None:
    """Why a stored invoice has no risk to predict (settled, a credit note, odd dates), or None."""
    if invoice.kind != "invoice":
        return f"{invoice.invoice_id!r} is a credit note: only invoices have a risk of late payment"
    if invoice.settled_on is not None:
        return (f"invoice {invoice.invoice_id!r} was settled on {invoice.settled_on}: "
                "there is no late payment left to predict")
    return _odd_dates(invoice)


def _odd_dates(invoice) -> str | None:
    if dates_in_range(invoice, "issue_date", "due_date"):
        return None
    return (f"invoice {invoice.invoice_id!r} is stored with dates outside {MIN_DATE} … {MAX_DATE} "
            f"(issued {invoice.issue_date}, due {invoice.due_date}), from before these bounds: "
            "send it again with its real dates")


class NextActionReason(BaseModel):
    code: str
    sentence: str


class Penalties(BaseModel):
    interest: Decimal
    indemnity: Decimal | None = Field(description="in the invoice's currency; null when no dated "
                                      "EUR rate converts the 40 € (see indemnity_eur and notes)")
    indemnity_eur: Decimal = Field(default=Decimal("0.00"), description="the indemnity the law "
                                   "fixes in euros (40 per late invoice), 0 when none is owed")
    total: Decimal = Field(description="interest plus the converted indemnity, in the invoice's "
                           "currency")
    claimed: bool
    notes: list[str] = []


class NextReminder(BaseModel):
    reminder_id: str
    channel: str
    tone: str = Field(description="the reminder's tone: its firmest invoice's")
    template: str | None
    send_on: dt.date
    invoice_ids: list[str]
    state: str = Field(description="planned, or pending_approval (formal notice, legal hand-off)")


class NextAction(BaseModel):
    invoice_id: str
    action: str
    tone: str | None
    channel: str | None
    send_on: dt.date | None
    template: str | None
    step: str | None
    scenario: str
    basis: str
    risk: dict | None
    penalties: Penalties
    reasons: list[NextActionReason]
    # the customer is over its credit limit: advise sales to take no new order (not a dunning step)
    block_new_orders: bool = False
    # the consolidated reminder the invoice goes out in when a run today plans it (the one the
    # customer receives, in its tone); null when nothing goes out today
    reminder: NextReminder | None = None
    warnings: list[str] = Field(default_factory=list, description="e.g. the risk model failed: "
                                "rules alone decided, as in the daily run")


@router.get("/invoices/{invoice_id}/next-action", response_model=NextAction, dependencies=[RateLimited])
def invoice_next_action(invoice_id: str, session: SessionDep, request: Request, _: Reader,
                        today: TodayDep, lang: Lang = None) -> NextAction:
    """What to do next for this invoice: action, tone, channel, date, template, penalties, why."""
    # the invoice, its customer's type and language, its stored next action: one statement
    invoice = invoice_row(session, invoice_id)
    odd = _odd_dates(invoice)
    if odd:
        raise LedgerConflictError([FieldError("invoice_id", odd)])
    service = getattr(request.app.state, "risk", None)
    if service is not None and getattr(request.app.state, "risk_for", None) is None:
        found = stored_next_action(service, session, invoice, today)  # read by key when fresh
    else:  # a provider of the caller's own (tests, integrations): decided here with it
        found = next_action(session=session, invoice=store.get_invoice(session=session,
                                                                       invoice_id=invoice_id),
                            today=today, risk_for=risk_provider(request))
    decision, scenario, risk = found.decision, found.scenario, found.risk
    language = lang or invoice.language or "fr"
    # what the law lets us claim from this kind of debtor (nothing from a consumer)
    due = claim_for(customer_type=invoice.customer_type, amount=invoice.open_amount,
                    due_date=invoice.due_date, as_of=today, currency=invoice.currency,
                    session=session) \
        if invoice.settled_on is None and invoice.due_date < today and invoice.kind == "invoice" else None
    [exposure] = credit.exposures(session=session, today=today, customer_ids=[invoice.customer_id])
    advice = credit_reason(exposure)
    reasons = list(decision.reasons) + ([advice] if advice is not None else [])
    return NextAction(
        invoice_id=invoice_id, action=decision.action, tone=decision.tone, channel=decision.channel,
        send_on=decision.send_on, template=decision.template, step=decision.step,
        scenario=scenario, basis=decision.basis,
        risk=None if risk is None else {"p_late": risk.p_late, "p_severe": risk.p_severe,
                                        "expected_days_late": risk.expected_days_late,
                                        "p_unpaid_30": risk.p_unpaid_30,
                                        "p_unpaid_90": risk.p_unpaid_90,
                                        "expected_pay_date": risk.expected_pay_date,
                                        "grade": risk.grade, "source": risk.source},
        penalties=Penalties(interest=due.interest.amount if due else Decimal("0.00"),
                            indemnity=(due.indemnity.amount if due and due.indemnity
                                       else Decimal("0.00")),
                            indemnity_eur=due.indemnity.eur if due and due.indemnity else Decimal("0.00"),
                            total=due.total if due else Decimal("0.00"),
                            claimed=decision.claim_penalties, notes=list(due.notes) if due else []),
        reasons=[NextActionReason(code=r.code, sentence=r.text(language)) for r in reasons],
        block_new_orders=exposure.status == "over",
        reminder=None if found.reminder is None or found.action is None else NextReminder(
            reminder_id=found.reminder.reminder_id, channel=found.reminder.channel,
            tone=found.reminder.tone, template=found.reminder.template,
            send_on=found.reminder.send_on, invoice_ids=list(found.reminder.invoice_ids),
            state=found.action.state),
        warnings=[w.text(language) for w in found.warnings])


class ModelInfo(BaseModel):
    status: Literal["loaded", "no_model", "broken"]
    version: str | None
    detail: str | None
    basis: Literal["model", "rules"]
    meta: dict = {}


def _model_info(risk: RiskService) -> ModelInfo:
    state = risk.state
    meta = state.predictor.bundle.meta if state.predictor else {}
    return ModelInfo(status=state.status, version=state.version, detail=state.detail,
                     basis="model" if state.predictor else "rules", meta=meta)


@router.get("/model", response_model=ModelInfo)
def model_info(risk: RiskDep, _: Reader) -> ModelInfo:
    """The served model: version, status, training metadata and metrics."""
    return _model_info(risk)


@router.post("/model/reload", response_model=ModelInfo, dependencies=[RateLimited])
def model_reload(risk: RiskDep, _: Analyst) -> ModelInfo:
    """Load the current champion again (after `relance train`); rules if it cannot be loaded."""
    risk.reload()
    return _model_info(risk)


@router.get("/model/drift", dependencies=[RateLimited])
def model_drift(session: SessionDep, risk: RiskDep, _: Analyst, today: TodayDep) -> dict:
    """Drift of today's open invoices against the training reference (same age mix), and
    whether calibration on invoices due since training calls for retraining."""
    from model.bundle import ModelBundle
    from model.drift import drift_check
    from model.errors import ModelError

    predictor = risk.state.predictor
    if predictor is None or predictor.path is None:
        raise HTTPException(409, "no model is served: drift compares a model's training data with today's invoices")
    reference = ModelBundle.load_reference(predictor.path)
    frames = store.read_frames(session=session, as_of=today)
    try:
        return drift_check(frames, predictor, reference,
                           as_of=pd.Timestamp(today) + pd.Timedelta(days=1))
    except ModelError as exc:
        raise HTTPException(409, str(exc)) from exc

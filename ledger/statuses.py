"""Customer statuses: kind of debtor, on hold, insolvency (procédure collective).

- ``customer_type``: ``business`` (default), ``consumer`` or ``public_sector``: what the law lets
  us claim (`ledger.law.claim_for`).
- ``on_hold`` (+ ``on_hold_reason``, ``on_hold_until`` inclusive): no reminder while it lasts;
  without a date, until released.
- ``insolvency_date``: the judgment opening a procédure collective (sauvegarde, redressement or
  liquidation judiciaire). From that day every individual action to collect is barred
  (Code de commerce L622-21): dunning stops for good. The creditor must file its claim with the
  mandataire judiciaire within two months of the judgment's publication in the BODACC (L622-24,
  R622-24). Relance does not know the publication date, so it flags the earliest possible
  deadline, two months from the judgment itself: filing before it is always in time.

One function decides each question (`hold_active`, `insolvent`), and the daily run, next-action
and the customer page all ask it.
"""
from __future__ import annotations

import calendar
import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session

from ledger.errors import FieldError, LedgerValidationError, NotFoundError
from ledger.tables import AuditLog, Customer, record_event, utcnow

CustomerType = Literal["business", "consumer", "public_sector"]
CLAIM_FILING_MONTHS = 2
TYPE_LABELS = {
    "business": ("professionnel", "business"),
    "consumer": ("particulier (consommateur)", "consumer"),
    "public_sector": ("acheteur public", "public buyer"),
}
HoldDate = Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))]


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def hold_active(*, on_hold: bool, on_hold_until: dt.date | None, today: dt.date) -> bool:
    """On hold today: held, and the hold has no end date or ends today or later."""
    return bool(on_hold) and (on_hold_until is None or today <= on_hold_until)


def insolvent(*, insolvency_date: dt.date | None, today: dt.date) -> bool:
    return insolvency_date is not None and insolvency_date <= today


def claim_filing_deadline(insolvency_date: dt.date) -> dt.date:
    """The earliest the claim-filing deadline can fall: two months from the judgment (the legal
    two months run from its BODACC publication, which is never before the judgment)."""
    return add_months(insolvency_date, CLAIM_FILING_MONTHS)


def _fr(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def status_sentences(customer: Customer, today: dt.date) -> list[dict[str, Any]]:
    """What a person must know about the customer's status, one sentence per fact (fr, en)."""
    facts: list[dict[str, Any]] = []
    label_fr, label_en = TYPE_LABELS.get(customer.customer_type, TYPE_LABELS["business"])
    if customer.customer_type == "consumer":
        law_fr = "ni pénalités de retard L441-10 ni indemnité forfaitaire de 40 €"
        law_en = "no L441-10 late-payment penalties nor 40 € recovery indemnity"
    elif customer.customer_type == "public_sector":
        law_fr = "intérêts moratoires au taux BCE + 8 points et indemnité forfaitaire de 40 €"
        law_en = "late-payment interest at the ECB rate + 8 points and the 40 € recovery indemnity"
    else:
        law_fr = "pénalités L441-10 (taux BCE + 10 points) et indemnité forfaitaire de 40 €"
        law_en = "L441-10 penalties (ECB rate + 10 points) and the 40 € recovery indemnity"
    facts.append({"code": f"type_{customer.customer_type}",
                  "fr": f"Client {label_fr} : {law_fr}.", "en": f"{label_en.capitalize()} customer: {law_en}."})
    if insolvent(insolvency_date=customer.insolvency_date, today=today):
        deadline = claim_filing_deadline(customer.insolvency_date)  # type: ignore[arg-type]
        late = deadline < today
        facts.append({
            "code": "insolvency", "claim_filing_deadline": deadline.isoformat(),
            "deadline_passed": late,
            "fr": (f"Procédure collective ouverte le {_fr(customer.insolvency_date)} : aucune relance "
                   "(arrêt des poursuites individuelles). Déclarer la créance au mandataire judiciaire "
                   f"dans les deux mois de la publication au BODACC, au plus tôt avant le {_fr(deadline)}"
                   + (" — cette date est passée : vérifier la date de publication." if late else ".")),
            "en": (f"Insolvency proceedings opened on {customer.insolvency_date.isoformat()}: no reminder "
                   "(individual collection actions are barred). File the claim with the court-appointed "
                   "representative within two months of the BODACC publication, at the earliest by "
                   f"{deadline.isoformat()}" + (" — that date has passed: check the publication date."
                                                if late else ".")),
        })
    elif customer.insolvency_date is not None:
        facts.append({"code": "insolvency_future",
                      "fr": f"Jugement d'ouverture annoncé pour le {_fr(customer.insolvency_date)}.",
                      "en": f"Opening judgment announced for {customer.insolvency_date.isoformat()}."})
    if hold_active(on_hold=customer.on_hold, on_hold_until=customer.on_hold_until, today=today):
        why_fr = f" ({customer.on_hold_reason})" if customer.on_hold_reason else ""
        until_fr = f" jusqu'au {_fr(customer.on_hold_until)} inclus" if customer.on_hold_until else " jusqu'à levée"
        until_en = (f" until {customer.on_hold_until.isoformat()} inclusive" if customer.on_hold_until
                    else " until released")
        facts.append({"code": "on_hold", "until": customer.on_hold_until.isoformat() if customer.on_hold_until else None,
                      "fr": f"Relances suspendues{until_fr}{why_fr}.",
                      "en": f"Reminders on hold{until_en}{why_fr}."})
    return facts


class CustomerStatusUpdate(BaseModel):
    """What `PATCH /customers/{id}` and the CLI may change; only the fields sent change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_type: CustomerType | None = None
    on_hold: bool | None = None
    on_hold_reason: str | None = Field(default=None, max_length=200)
    on_hold_until: HoldDate | None = None
    insolvency_date: HoldDate | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CustomerStatusUpdate:
        if self.on_hold is False and self.on_hold_until is not None:
            raise ValueError("on_hold_until is set but on_hold is false: releasing a hold takes no date")
        if "customer_type" in self.model_fields_set and self.customer_type is None:
            raise ValueError("customer_type cannot be null: business, consumer or public_sector")
        return self


FIELDS = ("customer_type", "on_hold", "on_hold_reason", "on_hold_until", "insolvency_date")


def _snapshot(customer: Customer) -> dict[str, Any]:
    return {f: (v.isoformat() if isinstance(v := getattr(customer, f), dt.date) else v) for f in FIELDS}


def update_status(*, session: Session, customer_id: str, data: CustomerStatusUpdate, actor: str,
                  today: dt.date) -> Customer:
    """Apply the fields sent, audit before/after, record `customer.status_changed`, and cancel the
    customer's planned reminders when a hold or an insolvency now stops dunning."""
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is None:
        raise NotFoundError("customer", customer_id)
    changes = data.model_dump(exclude_unset=True)
    if "insolvency_date" in changes and changes["insolvency_date"] is not None \
            and changes["insolvency_date"] > today:
        raise LedgerValidationError([FieldError(
            "insolvency_date", f"{changes['insolvency_date']} is after today: enter the date of the "
                               "judgment once it is pronounced")])
    if changes.get("on_hold_until") is not None and changes["on_hold_until"] < today:
        raise LedgerValidationError([FieldError(
            "on_hold_until", f"{changes['on_hold_until']} is already past: a hold ends today or later")])
    if changes.get("on_hold_until") is not None and "on_hold" not in changes:
        changes["on_hold"] = True
    if changes.get("on_hold") is False:
        # released: the reason and the end date went with the hold
        changes.setdefault("on_hold_reason", None)
        changes["on_hold_until"] = None
    before = _snapshot(customer)
    for name, value in changes.items():
        setattr(customer, name, value)
    customer.updated_at = utcnow()
    session.add(customer)
    after = _snapshot(customer)
    session.add(AuditLog(actor=actor, action="customer.status", entity="customer",
                         entity_id=customer_id, before=before, after=after))
    record_event(session, type="customer.status_changed", entity_id=customer_id,
                 payload={"before": before, "after": after})
    stopped = (hold_active(on_hold=customer.on_hold, on_hold_until=customer.on_hold_until, today=today)
               or insolvent(insolvency_date=customer.insolvency_date, today=today))
    if stopped:
        _cancel_planned(session, customer_id, actor,
                        "insolvency proceedings" if insolvent(insolvency_date=customer.insolvency_date,
                                                              today=today) else "customer on hold")
    session.flush()
    return customer


def _cancel_planned(session: Session, customer_id: str, actor: str, reason: str) -> int:
    from sqlalchemy import select

    from ledger import actions
    from ledger.tables import DunningAction

    invoice_ids = session.execute(
        select(DunningAction.invoice_id).where(DunningAction.customer_id == customer_id,
                                               DunningAction.state == actions.PENDING,
                                               DunningAction.invoice_id.is_not(None))).scalars().all()
    return actions.cancel_pending_for_invoices(session, invoice_ids, reason, actor)


def cancel_if_stopped(session: Session, customer_ids, *, today: dt.date, actor: str) -> int:
    """Cancel the planned reminders of those customers that a hold or an insolvency now stops
    (ingestion calls it for the customers a batch sends: the outbox must not send them)."""
    from sqlalchemy import select

    ids = sorted(set(customer_ids))
    cancelled = 0
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Customer.customer_id, Customer.on_hold, Customer.on_hold_until,
                                      Customer.insolvency_date)
                               .where(Customer.customer_id.in_(ids[start:start + 500]))).all()
        for customer_id, on_hold, until, opened in rows:
            if insolvent(insolvency_date=opened, today=today):
                cancelled += _cancel_planned(session, customer_id, actor, "insolvency proceedings")
            elif hold_active(on_hold=on_hold, on_hold_until=until, today=today):
                cancelled += _cancel_planned(session, customer_id, actor, "customer on hold")
    return cancelled

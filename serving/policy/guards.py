"""The guards: reasons never to chase now (settled, below the scenario's minimum, open dispute,
insolvency, customer on hold, active promise to pay). The first that applies returns `wait`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from ledger.statuses import claim_filing_deadline, hold_active, insolvent
from serving.policy.context import _Context, _en_amount, _fr_amount, _fr_date, _next_business_day, _wait
from serving.policy.types import Decision, Reason

# --- guards: reasons to wait -------------------------------------------------------------------

def _guard_settled(ctx: _Context) -> Decision | None:
    if ctx.invoice.settled or ctx.invoice.open_amount <= 0:
        return _wait(ctx, Reason(
            "settled",
            f"La facture {ctx.invoice.invoice_id} est soldée : aucune relance.",
            f"Invoice {ctx.invoice.invoice_id} is settled: no reminder.",
        ))
    return None


def _guard_below_minimum(ctx: _Context) -> Decision | None:
    minimum, inv = ctx.scenario.min_amount, ctx.invoice
    if inv.open_amount < minimum:
        return _wait(ctx, Reason(
            "below_minimum",
            f"Le reste dû ({_fr_amount(inv.open_amount, inv.currency)}) est inférieur au minimum "
            f"du scénario ({_fr_amount(minimum, inv.currency)}) : aucune relance.",
            f"The open amount ({_en_amount(inv.open_amount, inv.currency)}) is below the "
            f"scenario's minimum ({_en_amount(minimum, inv.currency)}): no reminder.",
        ))
    return None


def _guard_open_dispute(ctx: _Context) -> Decision | None:
    if ctx.invoice.has_open_dispute:
        return _wait(ctx, Reason(
            "open_dispute",
            "Un litige est ouvert sur cette facture : relances suspendues jusqu'à sa résolution.",
            "A dispute is open on this invoice: reminders paused until it is resolved.",
        ))
    return None


def _guard_insolvency(ctx: _Context) -> Decision | None:
    opened = ctx.customer.insolvency_date
    if not insolvent(insolvency_date=opened, today=ctx.today):
        return None
    assert opened is not None
    deadline = claim_filing_deadline(opened)
    return _wait(ctx, Reason(
        "insolvency",
        f"Procédure collective ouverte le {_fr_date(opened)} : aucune relance (arrêt des "
        "poursuites individuelles) ; déclarer la créance au mandataire judiciaire dans les deux "
        f"mois de la publication au BODACC, au plus tôt avant le {_fr_date(deadline)}.",
        f"Insolvency proceedings opened on {opened.isoformat()}: no reminder (individual "
        "collection actions are barred); file the claim within two months of the BODACC "
        f"publication, at the earliest by {deadline.isoformat()}.",
    ))


def _guard_on_hold(ctx: _Context) -> Decision | None:
    cust = ctx.customer
    if not hold_active(on_hold=cust.on_hold, on_hold_until=cust.on_hold_until, today=ctx.today):
        return None
    if cust.on_hold_until is None:
        return _wait(ctx, Reason(
            "on_hold",
            "Le client est en suspens (relances bloquées jusqu'à levée) : aucune relance.",
            "The customer is on hold (reminders blocked until released): no reminder.",
        ))
    resume_on = _next_business_day(cust.on_hold_until + timedelta(days=1))
    return _wait(ctx, Reason(
        "on_hold",
        f"Le client est en suspens jusqu'au {_fr_date(cust.on_hold_until)} inclus : relance au "
        f"plus tôt le {_fr_date(resume_on)}.",
        f"The customer is on hold until {cust.on_hold_until.isoformat()} inclusive: next reminder "
        f"no earlier than {resume_on.isoformat()}.",
    ), until=resume_on)


def _guard_active_promise(ctx: _Context) -> Decision | None:
    until = ctx.invoice.active_promise_until
    if until is not None and until >= ctx.today:
        resume_on = _next_business_day(until + timedelta(days=1))
        return _wait(ctx, Reason(
            "active_promise",
            f"Promesse de paiement jusqu'au {_fr_date(until)} : relance au plus tôt le "
            f"{_fr_date(resume_on)}.",
            f"Promise to pay until {until.isoformat()}: next reminder no earlier than "
            f"{resume_on.isoformat()}.",
        ), until=resume_on)
    return None


_GUARDS: tuple[Callable[[_Context], Decision | None], ...] = (
    _guard_settled,
    _guard_below_minimum,
    _guard_open_dispute,
    _guard_insolvency,
    _guard_on_hold,
    _guard_active_promise,
)


"""The worklist's sentences, in French and English, from the facts `ledger.worklist` gives.

Amounts are written with Babel in the customer's own currency; dates as dd/mm/yyyy.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.worklist_rows import ReasonOut, WorklistRow
from serving.money import date, money, percent

WORDS: dict[str, dict[str, str]] = {
    "overdue": {"fr": "{invoices} facture(s) échue(s), {amount} ; la plus ancienne a {days} jours de retard",
                "en": "{invoices} overdue invoice(s), {amount}; the oldest {days} days late"},
    "value_at_risk": {
        "fr": "Non encaissé attendu ({basis}) : {amount_90} sous 90 jours ({p_90} de l'encours), {amount_30} sous 30 jours ({p_30})",
        "en": "Expected not collected ({basis}): {amount_90} within 90 days ({p_90} of what is open), {amount_30} within 30 days ({p_30})"},
    "basis_model": {"fr": "modèle", "en": "model"},
    "basis_rules": {"fr": "historique du payeur", "en": "payer history"},
    "history": {"fr": "A payé en retard {late} fois sur {settled} facture(s) réglée(s)",
                "en": "Paid late {late} time(s) out of {settled} settled invoice(s)"},
    "no_history": {"fr": "Pas encore d'historique de paiement : taux du portefeuille",
                   "en": "No payment history yet: the ledger's rate"},
    "broken_promise": {"fr": "{promises} promesse(s) de paiement non tenue(s)",
                       "en": "{promises} broken promise(s) to pay"},
    "promise": {"fr": "Promesse de paiement jusqu'au {until} : relances suspendues",
                "en": "Promise to pay until {until}: reminders paused"},
    "dispute": {"fr": "{disputes} litige(s) en cours : relances suspendues sur les factures contestées",
                "en": "{disputes} open dispute(s): reminders paused on the disputed invoices"},
    "no_rate": {"fr": "Pas de taux de change {currencies} → {reporting_currency} : classé sur le montant en devise",
                "en": "No {currencies} → {reporting_currency} exchange rate: ranked on the amount in its currency"},
}


def sentence(reason: ReasonOut, language: str) -> str:
    lang = "en" if language == "en" else "fr"
    v: dict[str, Any] = dict(reason.values)
    code = reason.code
    if code == "overdue":
        v["amount"] = money(v["amount"], v["currency"], lang)
    elif code == "value_at_risk":
        v.update(amount_30=money(v["amount_30"], v["currency"], lang),
                 amount_90=money(v["amount_90"], v["currency"], lang),
                 p_30=percent(v["p_30"], lang), p_90=percent(v["p_90"], lang),
                 basis=WORDS["basis_" + v["source"]][lang])
    elif code == "history" and not v["settled"]:
        code = "no_history"
    elif code == "promise":
        until = v["until"]
        v["until"] = date(until if isinstance(until, dt.date) else dt.date.fromisoformat(str(until)), lang)
    elif code == "no_rate":
        v["currencies"] = ", ".join(v["currencies"])
    return WORDS[code][lang].format(**v)


def worded(rows: list[WorklistRow], language: str) -> list[WorklistRow]:
    """The rows with each reason's sentence written in `language`."""
    for row in rows:
        for reason in row.reasons:
            reason.text = sentence(reason, language)
    return rows

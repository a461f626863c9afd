"""What the credit position of a customer adds to its next action: advice, not a dunning step.

Over the limit: block new orders until the exposure is back under it. At 80 % of it or more:
watch new orders. The dunning decision itself (`serving.policy.decide`) is unchanged.
"""
from __future__ import annotations

from ledger.credit import Exposure
from serving.money import money, percent
from serving.policy import Reason


def credit_reason(exposure: Exposure) -> Reason | None:
    """A sentence on the customer's credit limit, when there is something to advise."""
    if exposure.status not in ("over", "warning") or exposure.credit_limit is None:
        return None
    values = {lang: {"exposure": money(exposure.exposure, exposure.currency, lang),
                     "limit": money(exposure.credit_limit, exposure.currency, lang),
                     "usage": percent(exposure.usage, lang) if exposure.usage is not None else "—"}
              for lang in ("fr", "en")}
    if exposure.status == "over":
        return Reason(
            code="credit_limit_exceeded",
            fr="Encours de {exposure} pour un plafond de crédit de {limit} ({usage}) : bloquer les "
               "nouvelles commandes jusqu'au retour sous le plafond.".format(**values["fr"]),
            en="Exposure of {exposure} against a credit limit of {limit} ({usage}): block new "
               "orders until it is back under the limit.".format(**values["en"]))
    return Reason(
        code="credit_limit_near",
        fr="Encours à {usage} du plafond de crédit ({exposure} sur {limit}) : surveiller les "
           "nouvelles commandes.".format(**values["fr"]),
        en="Exposure at {usage} of the credit limit ({exposure} of {limit}): watch new "
           "orders.".format(**values["en"]))

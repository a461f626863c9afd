"""What a dunning run warns a manager of, in French (default) and English."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunWarning:
    code: str
    fr: str
    en: str

    def text(self, language: str | None = "fr") -> str:
        return self.en if language == "en" else self.fr

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "fr": self.fr, "en": self.en}


# code → (French, English), formatted with the warning's values
RUN_WARNINGS: dict[str, tuple[str, str]] = {
    "creditor_missing": (
        "Des courriers sont prévus mais les paramètres du créancier n'indiquent pas : {missing} ; "
        "les courriers ne peuvent dire ni où payer ni de qui ils viennent.",
        "letters planned but the creditor settings lack {missing}: the letters cannot name where "
        "to pay or where they come from"),
    "scenario_fallback": (
        "{count} client(s) nomment le scénario de relance inconnu « {name} » et ont été relancés "
        "selon un scénario de repli : {customers}",
        "{count} customer(s) name the unknown dunning scenario '{name}' and were dunned on a "
        "fallback scenario instead: {customers}"),
    "risk_failed": (
        "Le modèle de risque n'a pas pu répondre : seules les règles du scénario ont décidé "
        "(le détail est dans le journal du serveur)",
        "the risk model could not answer: the scenario's rules alone decided (the details are in "
        "the server's log)"),
    "policy_unavailable": (
        "La politique de relance active n° {id} n'a pas pu être appliquée (modèle enregistré "
        "absent, altéré ou illisible) : les règles des scénarios ont décidé. Réévaluez-la ou "
        "désactivez-la (relance policy deactivate {id}).",
        "the active reminder policy #{id} could not be applied (its stored model is missing, "
        "altered or unreadable): the scenarios' rules decided. Evaluate it again or switch it "
        "off (relance policy deactivate {id})."),
}


def run_warning(code: str, **values: object) -> RunWarning:
    fr, en = RUN_WARNINGS[code]
    return RunWarning(code, fr.format(**values), en.format(**values))

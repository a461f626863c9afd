"""`relance check`: the ledger's invariants (ledger.invariants), exit 1 with the list on any
violation, 0 and one line otherwise."""
from __future__ import annotations

import typer
from rich.console import Console

from ledger.config import get_settings

console = Console()
err = Console(stderr=True)

WORDS: dict[str, dict[str, str]] = {
    "ok": {"fr": "Grand livre cohérent : aucune violation des invariants "
                 "(allocations ≤ montants, 0 ≤ reste dû ≤ montant, allocations au sein d'un même client).",
           "en": "Ledger consistent: no invariant violated "
                 "(allocations ≤ amounts, 0 ≤ open ≤ amount, allocations within one customer)."},
    "violations": {"fr": "{n} violation(s) des invariants du grand livre :",
                   "en": "{n} ledger invariant violation(s):"},
}


def _word(key: str, **values: object) -> str:
    words = WORDS[key]
    return words.get(get_settings().language, words["fr"]).format(**values)


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check() -> None:
        """Vérifie les invariants du grand livre / check the ledger's invariants (exit 1 if broken)."""
        from ledger.db import get_engine
        from ledger.invariants import check_ledger

        violations = check_ledger(get_engine())
        if not violations:
            console.print(_word("ok"))
            return
        language = get_settings().language
        err.print(_word("violations", n=len(violations)))
        for violation in violations:
            err.print(f"  • {violation.sentence(language)}", markup=False, highlight=False)
        raise typer.Exit(1)

"""`relance import-fec FILE` and `relance webhooks deliver`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.config import get_settings

console = Console()
err = Console(stderr=True)

WORDS: dict[str, dict[str, str]] = {
    "report": {"fr": "Import FEC", "en": "FEC import"},
    "issues": {"fr": "Lignes en erreur : {n} — rien n'a été importé (--skip-invalid pour importer les écritures valides)",
               "en": "Lines in error: {n} — nothing was imported (--skip-invalid imports the valid entries)"},
    "line": {"fr": "ligne", "en": "line"},
    "column": {"fr": "colonne", "en": "column"},
    "problem": {"fr": "problème", "en": "problem"},
    "more": {"fr": "… et {n} autres", "en": "… and {n} more"},
    "lines": {"fr": "lignes lues", "en": "lines read"},
    "entries": {"fr": "écritures", "en": "entries"},
    "invalid_entries": {"fr": "écritures invalides (ignorées)", "en": "invalid entries (skipped)"},
    "opening_lines": {"fr": "lignes d'à-nouveaux ignorées", "en": "opening-balance lines ignored"},
    "customers": {"fr": "clients", "en": "customers"},
    "invoices": {"fr": "factures", "en": "invoices"},
    "credit_notes": {"fr": "avoirs", "en": "credit notes"},
    "payments": {"fr": "règlements", "en": "payments"},
    "lettered_payments": {"fr": "règlements lettrés", "en": "lettered payments"},
    "created": {"fr": "créés", "en": "created"},
    "updated": {"fr": "mis à jour", "en": "updated"},
    "unchanged": {"fr": "inchangés", "en": "unchanged"},
    "delivered": {"fr": "Webhooks : {delivered} livrés, {retrying} à réessayer, {failed} abandonnés ({fanned} nouveaux)",
                  "en": "Webhooks: {delivered} delivered, {retrying} to retry, {failed} given up ({fanned} new)"},
}


def w(key: str, **values: object) -> str:
    text = WORDS[key].get(get_settings().language) or WORDS[key]["fr"]
    return text.format(**values) if values else text


def import_fec_cmd(
    file: Annotated[Path, typer.Argument(help="FEC file (tab or | separated, UTF-8 or Latin-1)")],
    terms_days: Annotated[int, typer.Option("--terms-days", min=0, max=365,
                                            help="Payment terms when the FEC has no due date")] = 30,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the valid entries only")] = False,
) -> None:
    """Import a French FEC (Fichier des Écritures Comptables) into the ledger."""
    from ledger.db import get_engine, session_scope
    from ledger.errors import LedgerError
    from ledger.fec import FecValidationError, import_fec

    if not file.is_file():
        err.print(f"[bold red]{file}[/]: not a file")
        raise typer.Exit(2)
    try:
        with console.status("Import FEC…"), session_scope(get_engine()) as session:
            report = import_fec(session=session, source=file, actor="cli", terms_days=terms_days,
                                skip_invalid=skip_invalid, name=file.name)
    except FecValidationError as exc:
        _print_issues(exc.report.issues)
        raise typer.Exit(2)
    except LedgerError as exc:
        err.print(f"[bold red]{exc}[/]")
        raise typer.Exit(2)
    _print_report(report)


def _print_issues(issues) -> None:
    table = Table(title=w("issues", n=len(issues)), title_style="bold red")
    for name, justify in (("line", "right"), ("column", "left"), ("problem", "left")):
        table.add_column(w(name), justify=justify)
    for issue in issues[:200]:
        table.add_row(str(issue.line), issue.column, issue.message)
    err.print(table)
    if len(issues) > 200:
        err.print(w("more", n=len(issues) - 200))


def _print_report(report) -> None:
    table = Table(title=f"{w('report')} ({report.encoding}, {report.separator!r})")
    table.add_column("")
    table.add_column("", justify="right")
    for name in ("lines", "entries", "invalid_entries", "opening_lines", "customers", "invoices",
                 "credit_notes", "payments", "lettered_payments"):
        table.add_row(w(name), f"{getattr(report, name):,}".replace(",", " "))
    console.print(table)
    if report.result is not None:
        counts = Table()
        counts.add_column("")
        for column in ("created", "updated", "unchanged"):
            counts.add_column(w(column), justify="right")
        for name in ("customers", "invoices", "payments"):
            values = getattr(report.result, name)
            counts.add_row(w(name), *(str(values[c]) for c in ("created", "updated", "unchanged")))
        console.print(counts)


webhooks_app = typer.Typer(help="Webhooks : abonnés et livraisons / subscribers and deliveries.",
                           no_args_is_help=True)


@webhooks_app.command("deliver")
def deliver(max_attempts: Annotated[int, typer.Option(min=1, max=20)] = 5) -> None:
    """Send the pending webhook deliveries now (with retries and backoff)."""
    from ledger.db import get_engine
    from ledger.webhooks import deliver_pending

    report = deliver_pending(engine=get_engine(), max_attempts=max_attempts)
    console.print(w("delivered", delivered=report.delivered, retrying=report.retrying,
                    failed=report.failed, fanned=report.fanned_out))
    for error in report.errors[:20]:
        err.print(f"  • {error}")


def register(app: typer.Typer) -> None:
    app.command("import-fec")(import_fec_cmd)
    app.add_typer(webhooks_app, name="webhooks")

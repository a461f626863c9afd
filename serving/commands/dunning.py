"""`relance dunning run --date D [--dry-run] [--send]` and `relance dunning send`."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.config import get_settings
from ledger.errors import LedgerValidationError

console = Console()
err = Console(stderr=True)

WORDS: dict[str, dict[str, str]] = {
    "planned": {"fr": "Actions prévues le {date}", "en": "Actions planned on {date}"},
    "dry": {"fr": "Simulation (rien n'est écrit) — actions qui seraient prévues le {date}",
            "en": "Dry run (nothing written) — actions that would be planned on {date}"},
    "summary": {"fr": "{created} action(s) créée(s), {planned} prévue(s), {reminders} relance(s) "
                      "regroupée(s), {cancelled} annulée(s), {invoices} facture(s) ouvertes vues en {seconds:.1f} s",
                "en": "{created} action(s) created, {planned} planned, {reminders} consolidated "
                      "reminder(s), {cancelled} cancelled, {invoices} open invoice(s) seen in {seconds:.1f} s"},
    "sent": {"fr": "Envoi : {sent} envoyée(s), {failed} en échec, {retrying} à réessayer",
             "en": "Outbox: {sent} sent, {failed} failed, {retrying} to retry"},
    "error": {"fr": "Erreur", "en": "Error"},
}
COLUMNS = {"fr": ("Client", "Facture", "Étape", "Canal", "Ton", "Envoi", "Relance"),
           "en": ("Customer", "Invoice", "Step", "Channel", "Tone", "Send on", "Reminder")}
SHOWN = 50


def _w(key: str, **values: object) -> str:
    lang = get_settings().language
    return WORDS[key].get(lang, WORDS[key]["fr"]).format(**values)


def run(
    date: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Run date (default: today)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan, write nothing")] = False,
    send: Annotated[bool, typer.Option("--send", help="Send the outbox after planning")] = False,
) -> None:
    """Plan today's dunning actions (idempotent): one reminder per customer and channel."""
    from ledger.db import get_engine
    from serving.dunning import run_and_commit
    from serving.risk import RiskService

    run_date = date.date() if date else dt.date.today()
    # the champion model shapes the plan, as in the API; rules alone when there is none
    risk = RiskService(get_settings().model_uri)
    risk.reload()
    try:
        with console.status("Relances…"):
            report = run_and_commit(engine=get_engine(), run_date=run_date, dry_run=dry_run,
                                    risk_for=risk.risk_for, actor="cli")
    except LedgerValidationError as exc:
        for error in exc.errors:
            err.print(f"[bold red]{_w('error')}[/] : {error.field}: {error.message}")
        raise typer.Exit(2)
    lang = get_settings().language
    table = Table(title=_w("dry" if dry_run else "planned", date=run_date.isoformat()))
    for column in COLUMNS.get(lang, COLUMNS["fr"]):
        table.add_column(column)
    for a in report.actions[:SHOWN]:
        table.add_row(a.customer_id, a.invoice_id, a.step, a.channel, a.tone,
                      a.send_on.isoformat(), a.reminder_id)
    if len(report.actions) > SHOWN:
        table.caption = f"… +{len(report.actions) - SHOWN}"
    console.print(table)
    console.print(_w("summary", created=report.created, planned=len(report.actions),
                     reminders=report.reminders, cancelled=report.cancelled,
                     invoices=report.invoices_seen, seconds=report.seconds))
    for warning in report.warnings:
        err.print(f"[yellow]{warning}[/]")
    if send and not dry_run:
        _send(run_date)


def _send(on: dt.date) -> None:
    from ledger.db import get_engine
    from serving.outbox import send_outbox

    report = send_outbox(engine=get_engine(), on=on, actor="cli")
    console.print(_w("sent", sent=report.sent, failed=report.failed, retrying=report.retrying))
    for error in report.errors[:20]:
        err.print(f"[yellow]{error}[/]")


def send(
    date: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Send what is due on or before this date (default: today)")] = None,
) -> None:
    """Send planned emails, SMS and letters (retried up to 3 times, then failed)."""
    _send(date.date() if date else dt.date.today())


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Relances : exécution quotidienne et envoi / dunning runs and outbox.",
                      no_args_is_help=True)
    sub.command("run")(run)
    sub.command("send")(send)
    app.add_typer(sub, name="dunning")

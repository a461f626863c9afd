"""`relance dunning run --date D [--dry-run] [--send]`, `send`, `pending`, `approve ID`,
`reject ID --comment`, `posted REMINDER --on D [--registered-number N]`, `delivered REMINDER --on D`."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.config import get_settings
from ledger.errors import LedgerValidationError
from serving.labels import DUNNING_COLUMNS, DUNNING_COLUMNS_PENDING, DUNNING_WORDS

console = Console()
err = Console(stderr=True)

WORDS = DUNNING_WORDS  # the catalogue's words (serving/words/cli.py)
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
                                    risk_for=risk.risk_for, actor="cli", today=dt.date.today())
    except LedgerValidationError as exc:
        for error in exc.errors:
            err.print(f"[bold red]{_w('error')}[/] : {error.field}: {error.message}")
        raise typer.Exit(2) from None
    lang = get_settings().language
    table = Table(title=_w("dry" if dry_run else "planned", date=run_date.isoformat()))
    for column in DUNNING_COLUMNS.get(lang, DUNNING_COLUMNS["fr"]):
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
    console.print(_w("sent", sent=report.sent, rendered=report.rendered, failed=report.failed,
                     retrying=report.retrying))
    for error in report.errors[:20]:
        err.print(f"[yellow]{error}[/]")


def send(
    date: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Send what is due on or before this date (default: today)")] = None,
) -> None:
    """Send planned emails, SMS and letters (retried up to 3 times, then failed)."""
    _send(date.date() if date else dt.date.today())


def _session():
    from sqlmodel import Session

    from ledger.db import get_engine

    return Session(get_engine(), expire_on_commit=False)


def _refuse(exc: Exception) -> None:
    """A refused change: the message, exit code 2 (as for any bad input)."""
    from ledger.errors import LedgerValidationError

    if isinstance(exc, LedgerValidationError):
        for error in exc.errors:
            err.print(f"[bold red]{_w('error')}[/] : {error.field}: {error.message}")
    else:
        err.print(f"[bold red]{_w('error')}[/] : {exc}")
    raise typer.Exit(2)


def pending() -> None:
    """Formal notices and legal hand-offs waiting for approval (to approve or reject)."""
    from ledger import reminders as dunning_reminders

    with _session() as session:
        waiting = dunning_reminders.pending_approvals(session)
        table = Table(title=_w("pending", count=len(waiting)))
        for column in DUNNING_COLUMNS_PENDING.get(get_settings().language, DUNNING_COLUMNS_PENDING["fr"]):
            table.add_column(column)
        for reminder, actions in waiting:
            table.add_row(str(actions[0].id), reminder.customer_id, reminder.channel,
                          reminder.send_on.isoformat(), ", ".join(a.invoice_id or "" for a in actions),
                          reminder.reminder_id)
    console.print(table)


def _decide(action_id: int, comment: str | None, *, approve: bool) -> None:
    from ledger import actions as dunning_actions
    from ledger.errors import LedgerError

    with _session() as session:
        try:
            group = dunning_actions.decide_approval(session, action_id=action_id, approve=approve,
                                          actor="cli", comment=comment)
        except LedgerError as exc:
            session.rollback()
            _refuse(exc)
        session.commit()
        console.print(_w("approved" if approve else "rejected", count=len(group),
                         reminder=group[0].reminder_id))


def approve(action_id: Annotated[int, typer.Argument(help="Id of an action pending approval")],
            comment: Annotated[str | None, typer.Option(help="Why (kept in the audit)")] = None) -> None:
    """Approve a formal notice or legal hand-off (the whole letter): the outbox may send it."""
    _decide(action_id, comment, approve=True)


def reject(action_id: Annotated[int, typer.Argument(help="Id of an action pending approval")],
           comment: Annotated[str, typer.Option(help="Why (kept in the audit)")]) -> None:
    """Reject a formal notice or legal hand-off (the whole letter): it is cancelled."""
    _decide(action_id, comment, approve=False)


def posted(reminder_id: Annotated[str, typer.Argument(help="Reminder id of a rendered letter")],
           on: Annotated[dt.datetime, typer.Option("--on", formats=["%Y-%m-%d"], help="Posting date")],
           registered_number: Annotated[str | None, typer.Option(
               help="Registered-letter number (required for a formal notice)")] = None) -> None:
    """Record that a rendered letter or formal notice was posted."""
    from ledger import reminders as dunning_reminders
    from ledger.errors import LedgerError

    if on.date() > dt.date.today():
        _refuse(ValueError(f"--on {on.date().isoformat()} is in the future"))
    with _session() as session:
        try:
            dunning_reminders.mark_posted(session, reminder_id=reminder_id, posted_on=on.date(),
                              registered_number=registered_number, actor="cli")
        except LedgerError as exc:
            session.rollback()
            _refuse(exc)
        session.commit()
    console.print(_w("posted", reminder=reminder_id, on=on.date().isoformat()))


def delivered(reminder_id: Annotated[str, typer.Argument(help="Reminder id of a posted letter")],
              on: Annotated[dt.datetime, typer.Option("--on", formats=["%Y-%m-%d"],
                                                      help="Date on the acknowledgement of receipt")]) -> None:
    """Record that a posted letter or formal notice was received."""
    from ledger import reminders as dunning_reminders
    from ledger.errors import LedgerError

    if on.date() > dt.date.today():
        _refuse(ValueError(f"--on {on.date().isoformat()} is in the future"))
    with _session() as session:
        try:
            dunning_reminders.mark_delivered(session, reminder_id=reminder_id, delivered_on=on.date(), actor="cli")
        except LedgerError as exc:
            session.rollback()
            _refuse(exc)
        session.commit()
    console.print(_w("delivered", reminder=reminder_id, on=on.date().isoformat()))


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Relances : exécution quotidienne et envoi / dunning runs and outbox.",
                      no_args_is_help=True)
    sub.command("run")(run)
    sub.command("send")(send)
    sub.command("pending")(pending)
    sub.command("approve")(approve)
    sub.command("reject")(reject)
    sub.command("posted")(posted)
    sub.command("delivered")(delivered)
    app.add_typer(sub, name="dunning")

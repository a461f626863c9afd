"""`relance customers hold|release|set-type|insolvency` and `relance penalties invoice`."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from ledger.config import get_settings
from ledger.errors import LedgerValidationError, NotFoundError
from serving.labels import t

console = Console()
err = Console(stderr=True)

DateOption = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])]


def _apply(customer_id: str, **fields) -> None:
    from ledger.db import session_scope
    from ledger.statuses import CustomerStatusUpdate, status_sentences, update_status

    try:
        data = CustomerStatusUpdate(**fields)
        with session_scope() as session:
            customer = update_status(session=session, customer_id=customer_id, data=data,
                                     actor="cli", today=dt.date.today())
            sentences = status_sentences(customer, dt.date.today())
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "body"
            err.print(f"[bold red]{t('error')}[/] : {field}: {error['msg']}")
        raise typer.Exit(2) from None
    except LedgerValidationError as exc:
        for error in exc.errors:
            err.print(f"[bold red]{t('error')}[/] : {error.field}: {error.message}")
        raise typer.Exit(2) from None
    except NotFoundError as exc:
        err.print(f"[bold red]{t('error')}[/] : {exc}")
        raise typer.Exit(2) from None
    for sentence in sentences:
        console.print(sentence["en" if get_settings().language == "en" else "fr"])


def hold(customer_id: str,
         reason: Annotated[str | None, typer.Option(help="Why (shown on the customer page)")] = None,
         until: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day of the hold (inclusive)")] = None) -> None:
    """Put a customer on hold: no reminder until released or until the date."""
    _apply(customer_id, on_hold=True, on_hold_reason=reason, on_hold_until=until.date() if until else None)


def release(customer_id: str) -> None:
    """Lift a customer's hold."""
    _apply(customer_id, on_hold=False)


def set_type(customer_id: str,
             customer_type: Annotated[str, typer.Argument(help="business | consumer | public_sector")]) -> None:
    """Set the kind of debtor (what the law lets us claim)."""
    _apply(customer_id, customer_type=customer_type)


def insolvency(customer_id: str,
               date: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Date of the opening judgment")] = None,
               clear: Annotated[bool, typer.Option("--clear", help="Remove a date entered by mistake")] = False) -> None:
    """Record the judgment opening a procédure collective: dunning stops for good."""
    if clear == (date is not None):
        err.print(f"[bold red]{t('error')}[/] : date: give --date YYYY-MM-DD, or --clear")
        raise typer.Exit(2)
    _apply(customer_id, insolvency_date=None if clear else date.date())


def penalty_invoice(customer_id: str,
                    invoice: Annotated[list[str] | None, typer.Option(help="Only these invoices (repeatable)")] = None) -> None:
    """Create the penalty invoice (facture de pénalités) for the customer's invoices paid late."""
    from ledger.db import session_scope
    from ledger.penalties import create_penalty_invoices

    try:
        with session_scope() as session:
            result = create_penalty_invoices(session=session, customer_id=customer_id,
                                             today=dt.date.today(), actor="cli", invoice_ids=invoice)
            created = [(p.penalty_invoice_id, p.total, p.currency, p.indemnity_eur) for p in result["created"]]
    except LedgerValidationError as exc:
        for error in exc.errors:
            err.print(f"[bold red]{t('error')}[/] : {error.field}: {error.message}")
        raise typer.Exit(2) from None
    except NotFoundError as exc:
        err.print(f"[bold red]{t('error')}[/] : {exc}")
        raise typer.Exit(2) from None
    for penalty_id, total, currency, eur in created:
        console.print(f"{penalty_id} : {total} {currency} (dont indemnités {eur} EUR)")
    for invoice_id, penalty_id in sorted(result["already_invoiced"].items()):
        console.print(f"{invoice_id} : déjà facturée sur {penalty_id}")
    if not created:
        console.print("Aucune nouvelle pénalité à facturer.")


def register(app: typer.Typer) -> None:
    customers = typer.Typer(help="Statuts clients / customer statuses.", no_args_is_help=True)
    customers.command("hold")(hold)
    customers.command("release")(release)
    customers.command("set-type")(set_type)
    customers.command("insolvency")(insolvency)
    app.add_typer(customers, name="customers")
    penalties = typer.Typer(help="Factures de pénalités / penalty invoices.", no_args_is_help=True)
    penalties.command("invoice")(penalty_invoice)
    app.add_typer(penalties, name="penalties")

"""`relance fx import FILE`: load the ECB's euro reference rates (eurofxref-hist.csv)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ledger.config import get_settings
from serving.labels import FX_WORDS

console = Console()
err = Console(stderr=True)
fx_app = typer.Typer(help="Taux de change / exchange rates (BCE / ECB).", no_args_is_help=True)

WORDS = FX_WORDS  # the catalogue's words (serving/words/cli.py)


def w(key: str, **values: object) -> str:
    text = WORDS[key].get(get_settings().language) or WORDS[key]["fr"]
    return text.format(**values) if values else text


@fx_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="The ECB's eurofxref-hist.csv (or the daily eurofxref.csv), unzipped")],
    since: Annotated[str | None, typer.Option(help="Keep rates from this ISO date on")] = None,
) -> None:
    """Import the ECB's euro reference rates (idempotent: importing twice changes nothing)."""
    from ledger.db import get_engine, session_scope
    from ledger.errors import LedgerValidationError
    from ledger.fx import import_ecb

    if not file.is_file():
        err.print(f"[bold red]{w('not_a_file', file=file)}[/]")
        raise typer.Exit(2)
    try:
        start = dt.date.fromisoformat(since) if since else None
    except ValueError:
        err.print(f"[bold red]--since[/]: {since!r} is not an ISO date (YYYY-MM-DD)")
        raise typer.Exit(2) from None
    try:
        with session_scope(get_engine()) as session:
            report = import_ecb(session=session, source=file, since=start)
    except LedgerValidationError as exc:
        err.print(f"[bold red]{w('invalid')}[/] ({len(exc.errors)})")
        for error in exc.errors[:50]:
            err.print(f"  • {error.field}: {error.message}")
        raise typer.Exit(2) from None
    console.print(w("imported", rows=report.rows, created=report.created, updated=report.updated,
                    unchanged=report.unchanged, first=report.first_date or "—",
                    last=report.last_date or "—", currencies=", ".join(report.currencies) or "—"))
    if report.skipped_currencies:
        console.print(w("skipped", codes=", ".join(report.skipped_currencies)))


def register(app: typer.Typer) -> None:
    app.add_typer(fx_app, name="fx")

"""`relance import-fec FILE` and `relance webhooks deliver`."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.config import get_settings
from serving.labels import FEC_WORDS

console = Console()
err = Console(stderr=True)

WORDS = FEC_WORDS  # the catalogue's words (serving/words/cli.py)


def w(key: str, **values: object) -> str:
    text = WORDS[key].get(get_settings().language) or WORDS[key]["fr"]
    return text.format(**values) if values else text


def import_fec_cmd(
    file: Annotated[Path, typer.Argument(help="FEC file (tab or | separated, UTF-8 or Latin-1)")],
    terms_days: Annotated[int | None, typer.Option("--terms-days", min=0, max=365,
                                                   help="Default terms in days (shorthand of --default-terms)")] = None,
    default_terms: Annotated[str | None, typer.Option(
        "--default-terms", help='Terms when neither the file nor the customer gives any, e.g. "45 jours fin de mois"')] = None,
    terms: Annotated[Path | None, typer.Option(
        "--terms", help="CSV customer_id;terms (\"30 jours\", \"fin de mois 45 jours\", \"à réception\"…)")] = None,
    opening_journal: Annotated[list[str] | None, typer.Option(
        "--opening-journal", help="An opening-balance journal code besides AN, RAN (repeatable)")] = None,
    unlettered: Annotated[str | None, typer.Option(
        "--unlettered", help="Unlettered receipts: credit (kept as customer credit) or oldest-first")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Import the valid entries only")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report, write nothing")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Import a French FEC (Fichier des Écritures Comptables) into the ledger."""
    from ledger.db import get_engine, session_scope
    from ledger.errors import LedgerError
    from ledger.fec import FecOptions, FecValidationError, import_fec
    from ledger.fec.terms import read_terms_file

    if not file.is_file():
        err.print(f"[bold red]{file}[/]: {w('not_a_file')}")
        raise typer.Exit(2)
    if terms is not None and not terms.is_file():
        err.print(f"[bold red]{terms}[/]: {w('not_a_file')}")
        raise typer.Exit(2)
    if unlettered is not None and unlettered.replace("-", "_") not in ("credit", "oldest_first"):
        err.print(f"[bold red]--unlettered[/]: {w('unlettered')}")
        raise typer.Exit(2)
    base = FecOptions.from_settings()
    options = FecOptions.from_settings(
        default_terms=default_terms, unlettered=unlettered.replace("-", "_") if unlettered else None,
        terms=read_terms_file(terms.read_bytes()) if terms else None, skip_invalid=skip_invalid,
        opening_journals=base.opening_journals | {j.strip().upper() for j in opening_journal or [] if j.strip()})
    try:
        with console.status("Import FEC…"), session_scope(get_engine()) as session:
            report = import_fec(session=session, source=file, actor="cli", options=options,
                                terms_days=terms_days, dry_run=dry_run, name=file.name,
                                today=dt.date.today())
    except FecValidationError as exc:
        _print_issues(exc.report.issues)
        raise typer.Exit(2) from None
    except LedgerError as exc:
        err.print(f"[bold red]{exc}[/]")
        raise typer.Exit(2) from None
    if json_out:
        console.print_json(data=report_json(report))
    else:
        _print_report(report)


def report_json(report) -> dict:
    """The import report as JSON-ready data (the same shape as `POST /import/fec`)."""
    from ledger.fec import issues_table
    from ledger.fec.report import unbalanced_table, unplaced_table

    data = {name: getattr(report, name) for name in (
        "encoding", "separator", "lines", "entries", "invalid_entries", "skipped_lines", "opening_lines",
        "opening_items", "customers", "invoices", "credit_notes", "payments", "lettered_payments",
        "lettering_groups", "links", "due_dates")}
    data |= {"unbalanced_groups": unbalanced_table(report.unbalanced_groups),
             "unplaced": unplaced_table(report.unplaced), "issues": issues_table(report.issues),
             "result": report.result.model_dump() if report.result else None}
    return json.loads(json.dumps(data, default=str))


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
    for name in ("lines", "entries", "invalid_entries", "opening_lines", "opening_items", "customers",
                 "invoices", "credit_notes", "payments", "lettered_payments", "lettering_groups"):
        table.add_row(w(name), f"{getattr(report, name):,}".replace(",", " "))
    for source, count in report.due_dates.items():
        table.add_row(w(f"due_{source}"), f"{count:,}".replace(",", " "))
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
    if report.unbalanced_groups:
        groups = Table(title=w("unbalanced", n=len(report.unbalanced_groups)), title_style="bold yellow")
        for name in ("customer", "letter", "debits", "credits", "lines"):
            groups.add_column(w(name))
        for g in report.unbalanced_groups[:200]:
            groups.add_row(g.customer_id, g.letter + (f" ({w('partial')})" if g.partial else ""),
                           money(g.debits), money(g.credits), ", ".join(map(str, g.lines[:10])))
        console.print(groups)
    if report.unplaced:
        items = Table(title=w("unplaced", n=len(report.unplaced)), title_style="bold yellow")
        for name in ("line", "customer", "record", "amount", "reason"):
            items.add_column(w(name))
        for u in report.unplaced[:200]:
            items.add_row(str(u.line), u.customer_id, u.record_id, money(u.amount), w(f"reason_{u.reason}"))
        console.print(items)


def export_fec_cmd(
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default: standard output)")] = None,
    separator: Annotated[str, typer.Option("--separator", help="tab or pipe")] = "tab",
    encoding: Annotated[str, typer.Option("--encoding", help="utf-8 or latin-1")] = "utf-8",
) -> None:
    """Write the ledger's receivables, credit notes, payments and allocations (as lettering) as a FEC."""
    from ledger.db import get_engine, session_scope
    from ledger.fec import export_fec

    separators = {"tab": "\t", "pipe": "|", "|": "|"}
    if separator not in separators or encoding.lower() not in ("utf-8", "latin-1", "cp1252"):
        err.print(f"[bold red]--separator / --encoding[/]: {w('export_options')}")
        raise typer.Exit(2)
    with session_scope(get_engine()) as session:
        text = export_fec(session, separator=separators[separator])
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_bytes(text.encode(encoding, errors="replace"))
    err.print(w("written", path=out, n=text.count("\n") - 1))


def import_open_items_cmd(
    file: Annotated[Path, typer.Argument(help="Aged balance CSV (one row per open item)")],
    mapping: Annotated[Path, typer.Option("--mapping", help="TOML file naming the file's columns and format")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report, write nothing")] = False,
) -> None:
    """Import an open-items file ("balance âgée") through a column-mapping file."""
    from ledger.db import get_engine, session_scope
    from ledger.errors import LedgerValidationError
    from ledger.open_items import import_open_items, read_mapping

    for path in (file, mapping):
        if not path.is_file():
            err.print(f"[bold red]{path}[/]: {w('not_a_file')}")
            raise typer.Exit(2)
    try:
        rules = read_mapping(mapping.read_text(encoding="utf-8", errors="replace"))
        with session_scope(get_engine()) as session:
            report = import_open_items(session=session, source=file, mapping=rules, actor="cli",
                                       today=dt.date.today(), dry_run=dry_run)
    except LedgerValidationError as exc:
        table = Table(title=w("open_items_errors", n=len(exc.errors)), title_style="bold red")
        table.add_column(w("where"))
        table.add_column(w("problem"))
        for error in exc.errors[:200]:
            table.add_row(error.field, error.message)
        err.print(table)
        raise typer.Exit(2) from None
    console.print(w("open_items_done", rows=report.rows, invoices=report.invoices, notes=report.credit_notes,
                    payments=report.payments, open=money(report.open_amount)), soft_wrap=True)


def money(value) -> str:
    """1400 → "1 400,00" (French) or "1,400.00" (English); a no-break space never splits a figure."""
    text = f"{value:,.2f}"
    if get_settings().language == "en":
        return text
    return text.replace(",", "\u00a0").replace(".", ",")


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
    app.command("export-fec")(export_fec_cmd)
    app.command("import-open-items")(import_open_items_cmd)
    app.add_typer(webhooks_app, name="webhooks")

"""The `relance` command line (Typer). Each command is a thin shell over the packages below."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.config import get_settings
from ledger.errors import LedgerError, LedgerValidationError
from serving.labels import t

app = typer.Typer(help="Relance — recouvrement de créances piloté par le risque.", no_args_is_help=True)
keys_app = typer.Typer(help="Clés API / API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)


def _engine():
    from ledger.db import get_engine

    return get_engine()


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]{t('error')}[/] : {message}")
    raise typer.Exit(code)


def _print_validation(exc: LedgerValidationError) -> None:
    err.print(f"[bold red]{t('invalid')}[/] ({len(exc.errors)})")
    for error in exc.errors[:50]:
        err.print(f"  • {error.field}: {error.message}")


@app.command("import")
def import_dir(directory: Annotated[Path, typer.Argument(help="Ledger directory (CSV/Parquet) or the IBM sample folder")]) -> None:
    """Load a ledger directory into the database (idempotent, all or nothing)."""
    from ledger.db import session_scope
    from ledger.importers import import_ledger_dir
    from serving.dunning import scenario_names

    try:
        with console.status("Import…"), session_scope(_engine()) as session:
            result = import_ledger_dir(session=session, directory=directory, actor="cli",
                                       today=dt.date.today(), scenario_names=scenario_names(session))
    except LedgerValidationError as exc:
        _print_validation(exc)
        raise typer.Exit(2) from None
    except LedgerError as exc:
        _fail(str(exc), 2)
    table = Table(title=t("imported"))
    table.add_column("")
    for column in ("created", "updated", "unchanged"):
        table.add_column(t(column), justify="right")
    for name in ("customers", "invoices", "payments", "disputes"):
        counts = getattr(result, name)
        table.add_row(name, *(str(counts[c]) for c in ("created", "updated", "unchanged")))
    console.print(table)
    _print_late_rate()


def _print_late_rate() -> None:
    from sqlalchemy import text

    with _engine().connect() as connection:
        settled, late = connection.execute(text(
            "SELECT COUNT(*), SUM(CASE WHEN settled_on > due_date THEN 1 ELSE 0 END) FROM invoice "
            "WHERE kind = 'invoice' AND settled_on IS NOT NULL")).one()
    if settled:
        console.print(f"{t('late_rate')} : {100 * (late or 0) / settled:.2f} % ({late}/{settled})")


@keys_app.command("create")
def keys_create(role: Annotated[str, typer.Option(help="admin | analyst | agent | billing")],
                name: Annotated[str | None, typer.Option(help="Who the key is for")] = None,
                expires: Annotated[str | None, typer.Option(
                    help="Expiry: a date or date-time (ISO 8601, UTC), or a duration such as 90d")] = None) -> None:
    """Create an API key; it is printed once and stored hashed."""
    from ledger.db import session_scope
    from serving.auth import ROLES, create_key

    if role not in ROLES:
        _fail(t("unknown_role", role=role, roles=", ".join(ROLES)), 2)
    expires_at = _expiry(expires) if expires else None
    with session_scope(_engine()) as session:
        key = create_key(session=session, role=role, name=name, expires_at=expires_at)
    console.print(t("key_created", role=role))
    if expires_at is not None:
        console.print(t("key_expires", at=expires_at.isoformat(timespec="minutes")))
    print(key)


def _expiry(value: str) -> dt.datetime:
    """`90d` (days from now), `2027-01-31` (midnight UTC) or an ISO date-time; exit 2 otherwise."""
    from ledger.tables import utcnow

    text = value.strip()
    if text[:-1].isdigit() and text.endswith("d"):
        return utcnow() + dt.timedelta(days=int(text[:-1]))
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(t("bad_expiry", value=value), 2)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if parsed <= utcnow():
        _fail(t("past_expiry", value=value), 2)
    return parsed


@keys_app.command("list")
def keys_list() -> None:
    """List API keys: prefix, role, name, dates, status (never the key nor its hash)."""
    from ledger.db import session_scope
    from serving.auth import list_keys

    with session_scope(_engine()) as session:
        keys = list_keys(session=session)
    table = Table(title=t("keys_title", n=len(keys)))
    for column in ("prefix", "role", "name", "created", "expires", "status"):
        table.add_column(t(f"keys_{column}"))
    for key in keys:
        table.add_row(key.prefix, key.role, key.name or "", key.created_at.strftime("%Y-%m-%d %H:%M"),
                      key.expires_at.strftime("%Y-%m-%d %H:%M") if key.expires_at else "—",
                      t(f"status_{key.status}"))
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix (rl_<prefix>_…), as `keys list` shows")]) -> None:
    """Revoke an API key: it is refused (401) from now on."""
    from ledger.db import session_scope
    from serving.auth import revoke_key

    with session_scope(_engine()) as session:
        found = revoke_key(session=session, prefix=prefix, actor="cli")
    if not found:
        _fail(t("unknown_key", prefix=prefix), 2)
    console.print(t("key_revoked", prefix=prefix))


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int | None, typer.Option(
              help="server processes (default: one per core, at most 4)")] = None) -> None:
    """Serve the API and the dashboard; plan and send the day's dunning at the configured time."""
    import uvicorn

    from serving.app import create_app, default_workers

    workers = default_workers() if workers is None else workers
    if workers < 1:
        _fail("--workers must be ≥ 1", 2)
    console.print(t("serving", url=f"http://{host}:{port}"))
    settings = get_settings()
    if settings.schedule:
        console.print(f"dunning: {settings.dunning_time} {settings.dunning_timezone}, business days")
    engine = _engine()  # migrated here, once, before any worker starts
    if workers == 1:
        uvicorn.run(create_app(engine=engine, schedule=settings.schedule), host=host, port=port,
                    log_level="warning")
        return
    # each worker builds the app (serving.app.served_app) with engine and model of its own; the
    # daily run is claimed in the database, so one worker only plans it (serving/schedule.py)
    engine.dispose()
    # the workers inherit the environment: each then allows its share of the rate limit
    os.environ["RELANCE_WORKERS"] = str(workers)
    uvicorn.run("serving.app:served_app", factory=True, workers=workers, host=host, port=port,
                log_level="warning")


@app.command()
def synth(out: Annotated[Path, typer.Option(help="Output directory")],
          customers: int = 500, months: int = 24, seed: int = 0,
          start: Annotated[str, typer.Option(help="First month, ISO date")] = "2024-01-01",
          reminder_effects: Annotated[bool, typer.Option(
              "--reminder-effects", help="Reminders change when payers pay; logs actions with "
                                         "their propensities and true effects (docs/policy.md)")] = False,
          exploration: Annotated[float, typer.Option(help="With --reminder-effects: share explored")] = 0.5,
          ) -> None:
    """Write a synthetic ledger directory (deterministic for a seed)."""
    from features.synth import generate
    from ledger.frames import write_ledger_dir

    if customers < 1 or months < 1:
        _fail("--customers and --months must be ≥ 1", 2)
    if reminder_effects:
        _synth_reminder_effects(out, customers, months, seed, start, exploration)
        return
    with console.status("Génération…"):
        frames = generate(customers=customers, months=months, seed=seed, start=start)
        write_ledger_dir(frames, out)
    console.print(t("synth_written", out=out, customers=len(frames.customers),
                    invoices=len(frames.invoices), payments=len(frames.payments)))


def _synth_reminder_effects(out: Path, customers: int, months: int, seed: int, start: str,
                            exploration: float) -> None:
    from features import simulator

    if not 0.0 <= exploration <= 1.0:
        _fail("--exploration must be between 0 and 1", 2)
    params = simulator.SimulationParams(customers=customers, months=months, seed=seed,
                                        start=start, exploration=exploration)
    with console.status("Simulation…"):
        frames = simulator.write(params, out)
    console.print(t("synth_written", out=out, customers=len(frames.customers),
                    invoices=len(frames.invoices), payments=len(frames.payments)))


DEMO_CREDITOR = {
    "CREDITOR_ADDRESS": "12 rue des Lilas", "CREDITOR_POSTAL_CODE": "69003",
    "CREDITOR_CITY": "Lyon", "CREDITOR_SIREN": "123 456 789", "CREDITOR_SIRET": "123 456 789 00012",
    "CREDITOR_VAT_NUMBER": "FR32123456789", "CREDITOR_IBAN": "FR76 3000 6000 0112 3456 7890 189",
    "CREDITOR_BIC": "AGRIFRPP", "CREDITOR_PHONE": "04 72 00 00 00",
    "CREDITOR_SIGNATORY": "Julie Bernard", "CREDITOR_SIGNATORY_TITLE": "Responsable du recouvrement",
}


@app.command()
def demo(no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after setting up")] = False,
         customers: int = 300, months: int = 24, seed: int = 7,
         workdir: Annotated[Path, typer.Option(help="Where the demo ledger is written")] = Path("demo-ledger")) -> None:
    """Synthetic ledger → SQLite → train → score → today's dunning run → serve on 127.0.0.1:8000."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    # a fictitious creditor, so that the demo's letters can be read as posted ones (a real
    # deployment sets its own CREDITOR_* settings; these never override them)
    for name, value in DEMO_CREDITOR.items():
        os.environ.setdefault(name, value)
    # the demo's daily runs explore (docs/policy.md): e-mail reminders varied at random, within
    # hard bounds, with each action's probability stored
    os.environ.setdefault("RELANCE_EXPLORATION", "0.3")
    get_settings.cache_clear()
    steps = [("synth", _demo_synth), ("import", _demo_import), ("train", _demo_train),
             ("score", _demo_score), ("history", _demo_history), ("dunning", _demo_dunning),
             ("policy", _demo_policy), ("keys", _demo_keys)]
    context: dict = {"customers": customers, "months": months, "seed": seed, "workdir": workdir}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console) as progress:
        for number, (name, step) in enumerate(steps, start=1):
            task = progress.add_task(f"{t('step')} {number}/{len(steps)} : {name}", total=None)
            step(context)
            progress.update(task, total=1, completed=1)
    for line in context["lines"]:
        console.print(line)
    console.print(t("demo_keys"))
    for name, role, key in context["keys"]:
        console.print(f"  {name:14} {role:8} {key}", soft_wrap=True)  # a key is copied whole
    console.print(t("demo_done"))
    if not no_serve:
        serve()


def _demo_synth(context: dict) -> None:
    from features.synth import generate, months_ending
    from ledger.frames import write_ledger_dir

    # the synthetic history ends today, with the current month filled up to today, so that
    # today's dunning run has work to do and the month-to-date figures have sales
    months = context["months"]
    today = dt.date.today()
    start = months_ending(today, months)
    frames = generate(customers=context["customers"], months=months, seed=context["seed"],
                      start=start.isoformat(), as_of=today.isoformat())
    write_ledger_dir(frames, context["workdir"])
    context["lines"] = [t("synth_written", out=context["workdir"], customers=len(frames.customers),
                          invoices=len(frames.invoices), payments=len(frames.payments))]


def _demo_import(context: dict) -> None:
    from ledger.db import session_scope
    from ledger.importers import import_ledger_dir
    from serving.dunning import scenario_names

    with session_scope(_engine()) as session:
        import_ledger_dir(session=session, directory=context["workdir"], actor="demo", today=dt.date.today(),
                          scenario_names=scenario_names(session))


def _demo_train(context: dict) -> None:
    from sqlmodel import Session

    from ledger.store import read_frames
    from model.registry import train_and_register

    with Session(_engine()) as session:
        frames = read_frames(session=session, as_of=dt.date.today())
    registered, report = train_and_register(frames)
    context["lines"].append(
        f"{registered.name} v{registered.version} @{registered.alias} — AUC {report['auc']:.3f} "
        f"(baseline {report['baselines']['payer_late_rate']['auc']:.3f})")


def _demo_score(context: dict) -> None:
    from sqlmodel import Session

    from ledger.db import session_scope
    from ledger.scores import publish_scores
    from ledger.store import read_frames
    from model.predict import Predictor
    from model.score import score_ledger

    with Session(_engine()) as session:
        frames = read_frames(session=session, as_of=dt.date.today())
    predictor = Predictor.load(get_settings().model_uri)
    _, customers = score_ledger(frames, predictor)
    with session_scope(_engine()) as session:
        publish_scores(session=session, scores=customers.to_dict("records"),
                       model_version=predictor.version, scored_on=dt.date.today())
    grades = customers["grade"].value_counts().sort_index()
    context["lines"].append("grades : " + ", ".join(f"{g} {n}" for g, n in grades.items()))


DEMO_HISTORY_DAYS = 60


def _demo_dunning(context: dict) -> None:
    from sqlmodel import Session

    from ledger import reminders as dunning_reminders
    from ledger.calendar import next_business_day
    from serving.demo_history import simulate_history
    from serving.dunning import run_and_commit
    from serving.risk import RiskService

    risk = RiskService(get_settings().model_uri)
    risk.reload()
    # reminders never go out on a weekend or a holiday: the demo plans the next working day's
    run_date = next_business_day(dt.date.today())
    # six weeks of past runs, each contact completed, so that today's reminders cite real earlier
    # contacts and formal notices wait in the approval queue (rules alone: fast)
    simulate_history(engine=_engine(), first=run_date - dt.timedelta(days=DEMO_HISTORY_DAYS),
                     last=run_date - dt.timedelta(days=1))
    report = run_and_commit(engine=_engine(), run_date=run_date, dry_run=False,
                            risk_for=risk.risk_for, actor="demo", today=dt.date.today())
    with Session(_engine()) as session:
        waiting = len(dunning_reminders.pending_approvals(session))
    context["lines"].append(f"dunning {run_date} : {report.created} actions, "
                            f"{report.reminders} reminders, {waiting} awaiting approval")
    for warning in report.warnings:
        context["lines"].append(f"warning: {warning}")


def _demo_policy(context: dict) -> None:
    from serving.commands.policy import demo_step

    demo_step(context)


def _demo_history(context: dict) -> None:
    from serving.demo_workbench import seed
    from serving.risk import RiskService

    risk = RiskService(get_settings().model_uri)
    risk.reload()
    context["lines"] += seed(engine=_engine(), today=dt.date.today(), risk_for=risk.risk_for)


def _demo_keys(context: dict) -> None:
    from ledger.db import session_scope
    from serving.auth import ROLES, create_key
    from serving.demo_workbench import AGENTS

    # one key per role, and one per demo agent: an agent key's name is its portfolio
    wanted = [(f"demo-{role}", role) for role in ROLES if role != "agent"] + [(a, "agent") for a in AGENTS]
    with session_scope(_engine()) as session:
        context["keys"] = [(name, role, create_key(session=session, role=role, name=name)) for name, role in wanted]


def _register_commands() -> None:
    """Each module of serving/commands registers its own commands (`register(app)`)."""
    import importlib
    import pkgutil

    import serving.commands

    for module in sorted(m.name for m in pkgutil.iter_modules(serving.commands.__path__)):
        importlib.import_module(f"serving.commands.{module}").register(app)


_register_commands()

if __name__ == "__main__":
    app()

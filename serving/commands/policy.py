"""`relance policy evaluate | list | activate`: off-policy evaluation of a candidate reminder
policy, and the analyst's explicit decision to switch a policy on (docs/policy.md).

Exit codes: 0 done; 2 bad input (ledger directory, policy file, metric, unknown evaluation);
3 refused (a policy whose estimated gain is not surely positive is never switched on).
Progress goes to stderr so `--json` stdout stays one clean JSON object.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger.config import get_settings
from serving.labels import catalogue

console = Console()
err = Console(stderr=True)
policy_app = typer.Typer(help="Politiques de relance : évaluation hors ligne et activation / "
                              "reminder policies: off-policy evaluation and activation",
                         no_args_is_help=True)


def _words() -> dict[str, str]:
    return catalogue(get_settings().language)


def _fail(message: str, code: int) -> None:
    err.print(f"[red]{_words()['policy_error']}[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


@policy_app.command("evaluate")
def evaluate(
    ledger: Annotated[Path, typer.Option("--ledger", help="Ledger directory with actions.csv")],
    candidate: Annotated[str, typer.Option("--candidate", help="learned, or a policy file (JSON)")],
    metric: Annotated[str, typer.Option(help="paid_14 (default) or days_60")] = "paid_14",
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples")] = 400,
    seed: int = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout")] = False,
    save: Annotated[bool, typer.Option("--save", help="Store the evaluation (database)")] = False,
) -> None:
    """Estimate a candidate policy's value from the ledger's logged actions (IPS, SNIPS, DR)."""
    from model.policy_eval import EvaluationInputError
    from model.policy_eval import evaluate as run
    from model.policy_file import PolicyFileError, load

    if not ledger.is_dir():
        _fail(f"--ledger {ledger}: {_words()['policy_no_dir']}", 2)
    if not 50 <= resamples <= 10_000:
        _fail("--resamples: 50 … 10000", 2)
    try:
        chosen = "learned" if candidate == "learned" else load(candidate)
    except PolicyFileError as error:
        _fail(f"--candidate: {error}", 2)
    words = _words()
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(words["policy_evaluating"], total=1.0)
        try:
            result = run(ledger, chosen, metric=metric, resamples=resamples, seed=seed,
                         progress=lambda step, fraction: progress.update(
                             task, completed=fraction, description=f"{words['policy_evaluating']} ({step})"))
        except (EvaluationInputError, PolicyFileError) as error:
            _fail(str(error), 2)
    saved_id = None
    if save:
        saved_id = _save(result, chosen, ledger)
    if as_json:
        print(json.dumps(result.as_json()))
    else:
        _print(result, saved_id)


def _save(result, chosen, ledger: Path) -> int:
    from ledger.db import get_engine as _engine
    from ledger.db import session_scope
    from ledger.policies import save_evaluation
    from model.policy_model import dump

    definition = {"kind": "learned"} if chosen == "learned" else {"kind": "file", "file": chosen.model_dump(by_alias=True)}
    with session_scope(_engine()) as session:
        # the candidate itself is stored with its evaluation: activating it applies exactly this
        record = save_evaluation(session, result=result, definition=definition, ledger=str(ledger),
                                 created_by="cli", model=dump(result.policy))
        return record.id


def _print(result, saved_id: int | None) -> None:
    words = _words()
    table = Table(title=f"{words['policy_panel']} — {result.candidate} ({result.metric})")
    table.add_column(words["policy_estimator"])
    table.add_column(words["policy_value"], justify="right")
    rows = [("policy_logged", result.logged_value), ("policy_ips", result.ips),
            ("policy_snips", result.snips), ("policy_dr", result.dr)]
    if result.simulated is not None:
        rows += [("policy_simulated", result.simulated), ("policy_simulated_logged", result.simulated_logged)]
    for key, value in rows:
        table.add_row(words[key], f"{value:.3f}")
    console.print(table)
    low, high = result.dr_ci
    console.print(f"{words['policy_dr_ci']} [{low:.3f}, {high:.3f}] — n = {result.n}")
    console.print(f"{words['policy_gain_low']} {result.gain_lower_bound:+.3f}")
    if saved_id is not None:
        console.print(words["policy_saved"].format(id=saved_id))


@policy_app.command("list")
def list_evaluations() -> None:
    """The stored evaluations, newest first, and which policy is active."""
    from ledger.db import get_engine as _engine
    from ledger.db import session_scope
    from ledger.policies import list_evaluations as stored

    words = _words()
    with session_scope(_engine()) as session:
        rows = stored(session)
        table = Table(title=words["policy_panel"])
        for key in ("policy_id", "policy_candidate", "policy_metric", "policy_dr", "policy_gain_low",
                    "policy_state"):
            table.add_column(words[key])
        for row in rows:
            table.add_row(str(row.id), row.candidate, row.metric, f"{row.result['dr']:.3f}",
                          f"{row.gain_low:+.3f}", words[f"policy_state_{row.state}"])
    console.print(table)


@policy_app.command("activate")
def activate(evaluation_id: int, comment: Annotated[str, typer.Option(help="Why")] = "") -> None:
    """Switch on an evaluated policy — only when its gain's lower bound is above zero."""
    from ledger.policies import activate as switch_on

    _switch(switch_on, evaluation_id, comment, "policy_activated")


@policy_app.command("deactivate")
def deactivate(evaluation_id: int, comment: Annotated[str, typer.Option(help="Why")] = "") -> None:
    """Switch the active policy off: the daily run goes back to the scenarios' rules."""
    from ledger.policies import deactivate as switch_off

    _switch(switch_off, evaluation_id, comment, "policy_deactivated")


def _switch(change, evaluation_id: int, comment: str, said: str) -> None:
    """One switch of the policy in its own transaction, told in the user's words; refused
    (exit 3) when the ledger's rules forbid it, exit 2 for any other ledger error."""
    from ledger.db import get_engine as _engine
    from ledger.db import session_scope
    from ledger.errors import LedgerConflictError, LedgerError

    words = _words()
    try:
        with session_scope(_engine()) as session:
            record = change(session, evaluation_id, actor="cli", comment=comment,
                            language=get_settings().language)
            message = words[said].format(id=record.id, candidate=record.candidate)
    except LedgerConflictError as error:
        _fail("; ".join(e.message for e in error.errors), 3)
    except LedgerError as error:
        _fail(str(error), 2)
    console.print(message)


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")


def demo_step(context: dict) -> None:
    """`relance demo`: a simulator ledger where reminders matter, its learned policy evaluated
    (stored for the model page's panel) and compared with the rule policy by replay."""
    import pandas as pd

    from features import simulator
    from ledger.db import get_engine as _engine
    from ledger.db import session_scope
    from ledger.policies import save_evaluation
    from model.policy_eval import compare_with_rule
    from model.policy_eval import evaluate as run
    from model.policy_model import as_run, dump
    from model.policy_model import load as load_model

    directory = Path(context["workdir"]) / "policy-simulator"
    params = simulator.SimulationParams(customers=min(context["customers"], 200), months=24,
                                        seed=context["seed"])
    simulator.write(params, directory)
    result = run(directory, "learned", resamples=200, seed=context["seed"])
    stored = dump(result.policy)
    # replayed as the daily run would apply it once activated (exploration's arms: no letter)
    compared = compare_with_rule(directory, as_run(load_model(*stored)), pd.Timestamp(result.split_on))
    with session_scope(_engine()) as session:
        # the model is stored with its evaluation: activating it makes the daily run use exactly it
        record = save_evaluation(session, result=result, definition={"kind": "learned"},
                                 ledger=str(directory), created_by="demo", model=stored)
        saved = record.id
    low, high = result.dr_ci
    (days, rule_days), (notices, rule_notices) = compared.mean_days_late, compared.formal_notices
    context["lines"].append(
        f"policy (simulator, {result.n} decisions evaluated): paid within 14 days — logged "
        f"{result.logged_value:.3f}, learned DR {result.dr:.3f} [{low:.3f}, {high:.3f}], replayed "
        f"truth {result.simulated:.3f}; against the rule policy {days:.1f} vs {rule_days:.1f} days "
        f"late on average, {notices} vs {rule_notices} formal notices, as the daily run would apply "
        f"it; evaluation #{saved} stored with its model (gain lower bound "
        f"{result.gain_lower_bound:+.3f}; an analyst's `relance policy activate {saved}` makes the "
        f"daily run choose first reminders with it, `relance policy deactivate {saved}` goes back "
        f"to the rules)")

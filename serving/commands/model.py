"""`relance train | backtest | score | drift`: the late-payment model from the command line.

Thin shells over model/: read the ledger (a directory, or the database), call the package,
print a rich table (French by default) or JSON. Progress goes to stderr so `--json` stdout
stays one clean JSON object.
"""
from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger.config import get_settings
from serving.labels import MODEL_WORDS

console = Console()
err = Console(stderr=True)

WORDS = MODEL_WORDS  # the catalogue's words (serving/words/cli.py)
LedgerOption = Annotated[Path | None, typer.Option(
    "--ledger", help="Ledger directory (CSV/Parquet); default: the database")]
ModelOption = Annotated[str | None, typer.Option(
    "--model", help="models:/late-payment@champion (default) or a bundle directory")]


def _w(key: str, **values: object) -> str:
    words = WORDS[key]
    return (words.get(get_settings().language) or words["fr"]).format(**values)


@contextmanager
def _step(label: str):
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        progress.add_task(label, total=None)
        yield


def _frames(ledger: Path | None):
    with _step(_w("reading")):
        if ledger is not None:
            from ledger.frames import load_ledger_dir

            return load_ledger_dir(ledger)
        from sqlmodel import Session

        from ledger.db import get_engine
        from ledger.store import read_frames

        with Session(get_engine()) as session:
            return read_frames(session=session, as_of=dt.date.today())


def _predictor(model: str | None):
    from model.errors import NoModelError
    from model.predict import Predictor

    try:
        return Predictor.load(model)
    except NoModelError:
        err.print(f"[bold red]{_w('no_model')}[/]")
        raise typer.Exit(1) from None


def _fail_on_model_error(call, *args, **kwargs):
    from model.errors import ModelError

    try:
        return call(*args, **kwargs)
    except ModelError as exc:
        err.print(f"[bold red]Erreur / error[/] : {exc}")
        raise typer.Exit(2) from None


def train(ledger: Annotated[str | None, typer.Option(
              "--ledger", help="Ledger directory (CSV/Parquet; with --engine dask also a URL "
                               "such as s3://bucket/ledger); default: the database")] = None,
          recent: Annotated[float, typer.Option(help="Share of recent invoices held out")] = 0.2,
          learning_rate: Annotated[float, typer.Option(help="LightGBM learning rate")] = 0.08,
          engine: Annotated[str, typer.Option(
              "--engine", help="pandas (one machine) or dask (a cluster)")] = "pandas",
          scheduler: Annotated[str | None, typer.Option(
              "--scheduler", help="Dask scheduler address (default: a local cluster)")] = None,
          partitions: Annotated[int, typer.Option(
              "--partitions", help="Dask: customer partitions")] = 16,
          ) -> None:
    """Train on the database (or a ledger dir), log to MLflow, promote @champion only if better."""
    from model.registry import train_and_register
    from model.train import TrainConfig

    if engine not in ("pandas", "dask"):
        err.print(f"[bold red]--engine pandas|dask[/] : {engine!r}")
        raise typer.Exit(2)
    config = _fail_on_model_error(TrainConfig, learning_rate=learning_rate)
    if engine == "dask":
        from serving.commands.scale import train_dask

        with _step(_w("training")):
            registered, report = _fail_on_model_error(
                train_dask, ledger=ledger, scheduler=scheduler, partitions=partitions,
                recent=recent, config=config)
    else:
        frames = _frames(None if ledger is None else Path(ledger))
        with _step(_w("training")):
            registered, report = _fail_on_model_error(
                train_and_register, frames, recent_fraction=recent, config=config)
    table = Table(title=_w("metrics"))
    for column in ("", "auc", "pr_auc", "brier", "log_loss", "ece"):
        table.add_column(column, justify="right")
    table.add_row("LightGBM", *(_fmt(report.get(k)) for k in ("auc", "pr_auc", "brier",
                                                                "log_loss", "ece")))
    for name, found in report["baselines"].items():
        table.add_row(name, *(_fmt(found.get(k)) for k in ("auc", "pr_auc", "brier", "log_loss",
                                                             "ece")))
    console.print(table)
    console.print(_w("registered", name=registered.name, version=registered.version,
                     alias=registered.alias))
    if registered.champion_log_loss is not None:
        from model.registry import MARGIN

        console.print(_w("compared", n=registered.n_compared, margin=MARGIN,
                         new=_fmt(registered.candidate_log_loss),
                         old=_fmt(registered.champion_log_loss)))


def backtest(ledger: Annotated[Path, typer.Option("--ledger", help="Ledger directory")],
             split_date: Annotated[str, typer.Option("--split-date", help="ISO date D")],
             as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False
             ) -> None:
    """Train on invoices issued before D, test on those issued from D on."""
    from model.evaluate import backtest as run

    frames = _frames(ledger)
    with _step(_w("training")):
        report = _fail_on_model_error(run, frames, split_date=split_date)
    if as_json:
        print(json.dumps(report, default=str))
        return
    table = Table(title=f"Backtest {split_date} (n_train {report['n_train']}, "
                        f"n_test {report['n_test']}, base rate {report['base_rate']:.3f})")
    for column in ("", "auc", "pr_auc", "brier", "log_loss", "ece"):
        table.add_column(column, justify="right")
    rows = {"LightGBM": report, **report["baselines"]}
    if "oracle_auc" in report:
        rows["oracle (true_p_late)"] = {"auc": report["oracle_auc"]}
    for name, found in rows.items():
        table.add_row(name, *(_fmt(found.get(k)) for k in ("auc", "pr_auc", "brier", "log_loss",
                                                             "ece")))
    console.print(table)


def score(ledger: LedgerOption = None, model: ModelOption = None,
          as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
          top: Annotated[int, typer.Option(help="Customers shown")] = 20) -> None:
    """Score open invoices and customers (0–1000, grade A–E) with the champion model."""
    from model.score import score_ledger

    frames = _frames(ledger)
    predictor = _predictor(model)
    with _step(_w("scoring")):
        invoices, customers = _fail_on_model_error(score_ledger, frames, predictor)
    if ledger is None:
        _publish(customers, predictor.version)
    if as_json:
        print(json.dumps({"model_version": predictor.version,
                          "invoices": invoices.to_dict(orient="records"),
                          "customers": customers.to_dict(orient="records")}, default=str))
        return
    table = Table(title=f"{_w('customers')} — {predictor.version}")
    for column in ("customer_id", "score", "grade", "p_late", "p_severe", "expected_days_late",
                   "open_invoices", "open_amount"):
        table.add_column(column, justify="right")
    for row in customers.sort_values("score").head(top).itertuples():
        table.add_row(row.customer_id, str(row.score), row.grade, _fmt(row.p_late),
                      _fmt(row.p_severe), f"{row.expected_days_late:.1f}",
                      str(row.open_invoices), f"{row.open_amount:,.2f}")
    console.print(table)


def _publish(customers, version: str) -> None:
    """Keep the scores in the database; a grade that moves becomes `risk.grade_changed`."""
    import datetime as dt

    from ledger.db import get_engine, session_scope
    from ledger.scores import publish_scores

    with session_scope(get_engine()) as session:
        publish_scores(session=session, scores=customers.to_dict("records"), model_version=version,
                       scored_on=dt.date.today())


def drift(ledger: LedgerOption = None, model: ModelOption = None,
          out: Annotated[Path, typer.Option(help="Output directory")] = Path("out/drift")) -> None:
    """Drift (open invoices now against the training reference, same age mix) and whether
    calibration on invoices due since training calls for retraining (HTML + JSON)."""
    import pandas as pd

    from model.bundle import ModelBundle
    from model.drift import current_sample, drift_check, drift_report, same_age_mix

    frames = _frames(ledger)
    predictor = _predictor(model)
    as_of = frames.as_of + pd.Timedelta(days=1)
    with _step(_w("drift")):
        reference = _fail_on_model_error(ModelBundle.load_reference, predictor.path)
        current = _fail_on_model_error(current_sample, frames, predictor, as_of=as_of)
        summary = _fail_on_model_error(drift_report, reference=same_age_mix(reference, current),
                                       current=current, out_dir=out)
        check = _fail_on_model_error(drift_check, frames, predictor, reference, as_of=as_of)
    summary |= {k: check[k] for k in ("age_mix", "calibration", "retrain_recommended",
                                      "recommendation")}
    Path(summary["json"]).write_text(json.dumps({k: v for k, v in summary.items()
                                                 if k not in ("html", "json")}, indent=1))
    console.print(f"dataset_drift={summary['dataset_drift']} "
                  f"share={summary['share_of_drifted_features']:.2f} "
                  f"prediction_drift={summary['prediction_drift']}")
    language = "en" if get_settings().language == "en" else "fr"
    console.print(summary["recommendation"][language])
    console.print(_w("drift_written", path=summary["html"]))


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("backtest")(backtest)
    app.command("score")(score)
    app.command("drift")(drift)

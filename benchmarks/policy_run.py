"""Benchmark: the daily run with an active learned policy (docs/policy.md, "What activation does").

A simulator ledger (``features.simulator``) imported into SQLite; its learned candidate evaluated
and stored with its model, then marked active (whatever its lower bound: the timing is what is
measured here). Times dry runs over five business days with the policy active (features
computed per chunk, the stored model loaded and asked) beside the anchor: the same dry runs with
no policy active (the scenarios' rules). Ends with one JSON line.

    .venv/bin/python benchmarks/policy_run.py [--quick] [--customers 1000 --months 24]
"""
from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from sqlmodel import Session  # noqa: E402

from benchmarks._common import emit, parser, report  # noqa: E402
from features import simulator  # noqa: E402
from ledger.db import import_table_modules, make_engine, migrate  # noqa: E402
from ledger.importers import import_ledger_dir  # noqa: E402
from ledger.policies import save_evaluation  # noqa: E402
from model.policy_eval import evaluate  # noqa: E402
from model.policy_model import dump  # noqa: E402
from serving.dunning import run_dunning  # noqa: E402


def _runs(session: Session, days: list[dt.date]) -> tuple[float, int, int]:
    started, planned, by_policy = time.perf_counter(), 0, 0
    for day in days:
        result = run_dunning(session=session, run_date=day, dry_run=True, actor="bench", today=days[0])
        session.rollback()
        planned += len(result.actions)
        by_policy += sum(1 for a in result.actions if a.policy_id is not None)
    return time.perf_counter() - started, planned, by_policy


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--customers", type=int, default=1000)
    args.add_argument("--months", type=int, default=24)
    options = args.parse_args()
    customers, months = (120, 12) if options.quick else (options.customers, options.months)
    params = simulator.SimulationParams(customers=customers, months=months, seed=1)
    end = simulator.build_world(params).as_of
    first = dt.date(1970, 1, 1) + dt.timedelta(days=int(end) - 20)
    while first.weekday() != 0:
        first += dt.timedelta(days=1)
    days = [first + dt.timedelta(days=k) for k in range(5)]
    import_table_modules()
    with tempfile.TemporaryDirectory() as directory:
        ledger = Path(directory) / "ledger"
        simulator.write(params, ledger, as_of=(first - dt.timedelta(days=1)).isoformat())
        result = evaluate(ledger, "learned", resamples=50)
        engine = make_engine(f"sqlite:///{directory}/bench.db")
        migrate(engine)
        with Session(engine) as session:
            import_ledger_dir(session=session, directory=ledger, actor="bench", today=first)
            session.commit()
            rules_s, planned, _ = _runs(session, days)
            record = save_evaluation(session, result=result, definition={"kind": "learned"},
                                     ledger=None, created_by="bench", model=dump(result.policy))
            record.state = "active"
            session.add(record)
            session.commit()
            _runs(session, days[:1])  # the first load parses the boosters (cached by hash)
            policy_s, planned_policy, by_policy = _runs(session, days)
        engine.dispose()
    figures = {"customers": customers, "months": months, "days": len(days),
               "planned": planned_policy, "chosen_by_policy": by_policy,
               "policy_runs_s": round(policy_s, 3), "rules_runs_s": round(rules_s, 3),
               "planned_rules": planned}
    report("policy_run", [figures], title="Dry runs with an active learned policy", quick=options.quick)
    emit("policy_run", figures, quick=options.quick, ratios={"policy_ratio": ("policy_runs_s", "rules_runs_s")})


if __name__ == "__main__":
    main()

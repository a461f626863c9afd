"""Benchmark: the simulator where reminders matter, and an off-policy evaluation of the learned
policy on its ledger (docs/policy.md).

Times the simulation (``features.simulator.simulate`` with the exploring policy, decided a week at
a time), writing its ledger directory, and ``model.policy_eval.evaluate(…, "learned")`` (reading
the ledger, features, the T-learner, IPS/SNIPS/DR with 200 bootstrap resamples and the replay
from the same seed), beside the anchor: ``features.synth.generate`` for the same customers and
months (the default generator, no decisions). Writes benchmarks/results/policy.json (not with
--quick), prints a rich table on stderr and ends with one JSON line.

    .venv/bin/python benchmarks/policy.py [--quick] [--customers 1000 --months 24]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from benchmarks._common import emit, parser, report  # noqa: E402
from features import simulator, synth  # noqa: E402
from model.policy_eval import evaluate  # noqa: E402


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--customers", type=int, default=1000)
    args.add_argument("--months", type=int, default=24)
    options = args.parse_args()
    customers, months = (100, 12) if options.quick else (options.customers, options.months)
    params = simulator.SimulationParams(customers=customers, months=months, seed=1)

    started = time.perf_counter()
    synth.generate(customers=customers, months=months, seed=1)
    synth_s = time.perf_counter() - started

    started = time.perf_counter()
    world = simulator.build_world(params)
    logged = simulator.simulate(world, simulator.exploring_policy(params.exploration))
    simulate_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        simulator.write(params, directory)
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        result = evaluate(directory, "learned", resamples=200)
        evaluate_s = time.perf_counter() - started

    decisions = len(logged.decisions)
    figures = {"customers": customers, "months": months, "decisions": decisions,
               "synth_s": round(synth_s, 3), "simulate_s": round(simulate_s, 3),
               "write_s": round(write_s, 3), "evaluate_s": round(evaluate_s, 3),
               "decisions_per_s": round(decisions / simulate_s, 1), "evaluated": result.n}
    report("policy", [figures], title="Simulator and off-policy evaluation", quick=options.quick)
    emit("policy", figures, quick=options.quick,
         ratios={"simulate_ratio": ("simulate_s", "synth_s"), "evaluate_ratio": ("evaluate_s", "synth_s")})


if __name__ == "__main__":
    main()

"""Benchmark: the late-payment model on ~1,000,000 synthetic invoices.

Measures: point-in-time features and labels, training the three boosters (early stopping,
calibration, refit), loading a saved model, batch scoring (invoices/s) and reasons
(TreeSHAP contributions turned into sentences, rows/s). Writes benchmarks/results/model.json
and prints a rich table.

    .venv/bin/python benchmarks/model.py [--customers 18000 --months 36 --threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

# run as a script, this folder comes first on sys.path and model.py would shadow the package
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from features.synth import generate  # noqa: E402
from model.dataset import features_at_issue, labelled_rows  # noqa: E402
from model.predict import Predictor  # noqa: E402
from model.train import TrainConfig, fit_bundle  # noqa: E402

RESULTS = HERE / "results" / "model.json"


def _timed(call, *args, **kwargs):
    start = time.perf_counter()
    value = call(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=18_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--score-rows", type=int, default=200_000)
    parser.add_argument("--reason-rows", type=int, default=2_000)
    args = parser.parse_args()

    frames, t_synth = _timed(generate, customers=args.customers, months=args.months, seed=0)
    features, t_features = _timed(features_at_issue, frames)
    data, t_labels = _timed(labelled_rows, frames, features=features)
    bundle, t_train = _timed(fit_bundle, data, config=TrainConfig(num_threads=args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        bundle.save(Path(tmp) / "bundle")
        _, t_first_load = _timed(Predictor.load, Path(tmp) / "bundle")  # includes imports
        predictor, t_load = _timed(Predictor.load, Path(tmp) / "bundle")
    X = data.X.sample(min(args.score_rows, len(data)), random_state=0, replace=False)
    _, t_score = _timed(predictor.predict, X)
    few = X.head(args.reason_rows)
    _, t_reasons = _timed(predictor.explain, few, top=3)
    one = X.head(1)
    _, t_one = _timed(predictor.explain, one, top=3)

    results = {
        "invoices": int((frames.invoices["kind"] == "invoice").sum()),
        "training_rows": len(data), "customers": args.customers, "threads": args.threads,
        "best_iterations": bundle.meta["best_iterations"],
        "synth_s": round(t_synth, 2), "features_s": round(t_features, 2),
        "labels_s": round(t_labels, 2), "train_s": round(t_train, 2),
        "first_load_s": round(t_first_load, 3), "load_s": round(t_load, 3),
        "score_rows": len(X), "score_invoices_per_s": round(len(X) / t_score),
        "reason_rows": len(few), "reasons_per_s": round(len(few) / t_reasons),
        "reasons_one_invoice_ms": round(1000 * t_one, 2),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_1m": round(os.getloadavg()[0], 2)},
        "measured_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    table = Table(title=f"Model benchmark — {results['invoices']:,} invoices")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        if key not in ("machine", "best_iterations"):
            table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    table.add_row("best_iterations", json.dumps(results["best_iterations"]))
    table.add_row("machine", json.dumps(results["machine"]))
    Console().print(table)


if __name__ == "__main__":
    main()

"""Benchmark: the time-to-payment model, from a ledger directory to a served booster.

Measures, on one synthetic ledger written as a ledger directory (CSV):

- ``load_s``: `ledger.frames.load_ledger_dir` (reading, typing, settlement derived by the
  allocation rules), beside ``pyarrow_read_s``: pyarrow's CSV reader on the same files;
- ``features_s`` (features at issue), ``labels_s`` (time-to-payment rows at every scoring age,
  their features point in time);
- ``train_s``: `model.train.fit_bundle` (binned Dataset, early stopping, per-bin calibration,
  drift reference: all of training), beside ``lightgbm_train_s``: a plain `lightgbm.train` of
  the same rows, parameters and threads for 300 rounds (the anchor of issue #20);
- batch scoring (invoices/s) and reasons (rows/s).

Ends with one JSON line (benchmarks/_common.emit); a full-size run writes results/model.json.

    .venv/bin/python benchmarks/model.py [--quick] [--customers 4800 --months 36 --threads N]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

# run as a script, this folder comes first on sys.path and model.py would shadow the package
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import lightgbm as lgb  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402

from benchmarks._common import emit, machine, parser, uptime, write_results  # noqa: E402
from features.synth import generate  # noqa: E402
from ledger.frames import load_ledger_dir, write_ledger_dir  # noqa: E402
from model.dataset import features_at_issue, labelled_rows  # noqa: E402
from model.predict import Predictor  # noqa: E402
from model.train import TrainConfig, bin_base_logits, fit_bundle, landmark_weights  # noqa: E402

ANCHOR_ROUNDS = 300


def _timed(call, *args, **kwargs):
    start = time.perf_counter()
    value = call(*args, **kwargs)
    return value, time.perf_counter() - start


def _pyarrow_read(directory: Path) -> float:
    start = time.perf_counter()
    for path in sorted(directory.glob("*.csv")):
        pacsv.read_csv(path)
    return time.perf_counter() - start


def _plain_lightgbm(data, config: TrainConfig) -> float:
    """The anchor: lightgbm.train on the same rows, weights, init scores, parameters, threads."""
    features = list(config.features)
    base = bin_base_logits(data)
    params = config.params(len(data), features)
    start = time.perf_counter()
    dataset = lgb.Dataset(data.X[features], label=data.paid, weight=landmark_weights(data),
                          init_score=base[data.rows["bin"].to_numpy(int)])
    lgb.train(params, dataset, num_boost_round=ANCHOR_ROUNDS)
    return time.perf_counter() - start


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--customers", type=int, default=4_800)
    args.add_argument("--months", type=int, default=36)
    args.add_argument("--threads", type=int, default=None,
                      help="training threads (default: TrainConfig's, one per core)")
    args.add_argument("--score-rows", type=int, default=200_000)
    args.add_argument("--reason-rows", type=int, default=2_000)
    args = args.parse_args()
    if args.quick:
        args.customers, args.months, args.score_rows, args.reason_rows = 600, 24, 20_000, 200

    frames, t_synth = _timed(generate, customers=args.customers, months=args.months, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ledger"
        write_ledger_dir(frames, directory)
        t_pyarrow = _pyarrow_read(directory)
        loaded, t_load = _timed(load_ledger_dir, directory, as_of=frames.as_of)
    features, t_features = _timed(features_at_issue, loaded)
    data, t_labels = _timed(labelled_rows, loaded, features=features)
    config = TrainConfig(num_threads=args.threads)
    bundle, t_train = _timed(fit_bundle, data, config=config)
    t_lightgbm = _plain_lightgbm(data, config)
    with tempfile.TemporaryDirectory() as tmp:
        bundle.save(Path(tmp) / "bundle")
        predictor, t_model_load = _timed(Predictor.load, Path(tmp) / "bundle")
    X = data.X.sample(min(args.score_rows, len(data)), random_state=0, replace=False)
    _, t_score = _timed(predictor.predict, X)
    few = X.head(args.reason_rows)
    _, t_reasons = _timed(predictor.explain, few, top=3)

    figures = {
        "invoices": int((loaded.invoices["kind"] == "invoice").sum()),
        "training_rows": len(data), "threads": config.threads,
        "rounds": bundle.meta["best_iterations"]["hazard"],
        "synth_s": round(t_synth, 2), "load_s": round(t_load, 2),
        "pyarrow_read_s": round(t_pyarrow, 3), "features_s": round(t_features, 2),
        "labels_s": round(t_labels, 2), "train_s": round(t_train, 2),
        "lightgbm_train_s": round(t_lightgbm, 2),
        "pipeline_s": round(t_load + t_features + t_labels + t_train, 2),
        "model_load_s": round(t_model_load, 3),
        "score_invoices_per_s": round(len(X) / t_score), "reasons_per_s": round(len(few) / t_reasons),
    }
    ratios = {"train_ratio": ("train_s", "lightgbm_train_s"), "load_ratio": ("load_s", "pyarrow_read_s")}
    line = emit("model", figures, quick=args.quick, ratios=ratios)
    write_results("model", {**line, "machine": machine(), "uptime": uptime()}, quick=args.quick)


if __name__ == "__main__":
    main()

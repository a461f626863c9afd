"""Features + training + scoring on 1, 5 and 20 million synthetic invoices, pandas vs Dask.

    .venv/bin/python benchmarks/scale.py                       # 1M, 5M, 20M, 45 min cap per run
    .venv/bin/python benchmarks/scale.py --sizes 1000000 --max-seconds 900

The ledger of each size is generated customer chunk by customer chunk (``features.synth`` with a
seed and an id prefix per chunk) and written as a Parquet ledger directory whose tables are
folders of one file per chunk: the whole ledger is never in memory. Each (size, engine) run is a
child process with a time cap:

- pandas: read the Parquet ledger into one ``LedgerFrames``; features at issue date; temporal
  split (last 20 % of invoices); ``fit_bundle``; ``Predictor.predict`` on the open invoices.
  Peak memory is the child's max RSS.
- dask: a LocalCluster of 2 worker processes (1 thread each); the same steps with
  ``features.distributed`` and ``model.distributed``. Peak memory is sampled on each worker
  (RSS every 0.5 s) and for the driver.

A pandas run is skipped when the previous size's peak, scaled linearly, exceeds the memory
limit (``--memory-gb``); the extrapolation is written instead. Results go to
benchmarks/results/scale.json (not with --quick) and a rich table on stderr; the last line of
standard output is one JSON line: `pandas_total_s`, `dask_total_s` (largest size) and
`dask_ratio` = dask / pandas (the pandas run of the same ledger is Dask's anchor).

    .venv/bin/python benchmarks/scale.py --quick                # 5,000 invoices, both engines
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import emit, parser, write_results  # noqa: E402

MONTHS = 24
INVOICES_PER_CUSTOMER = 37.6  # measured on features.synth over 24 months
CHUNK_CUSTOMERS = 10_000
ID_COLUMNS = ["customer_id", "invoice_id", "payment_id", "dispute_id", "reminder_id",
              "promise_id", "applies_to"]


# ------------------------------------------------------------------------------ the ledger


def generate_ledger(directory: Path, invoices: int) -> dict:
    """A Parquet ledger of about ``invoices`` invoices, written chunk by chunk."""
    from features.synth import generate
    from ledger.frames import LEDGER_FILES

    done = directory / "DONE.json"
    if done.exists():
        return json.loads(done.read_text())
    customers = max(1, round(invoices / INVOICES_PER_CUSTOMER))
    started, counts = time.perf_counter(), dict.fromkeys(LEDGER_FILES, 0)
    for chunk, first in enumerate(range(0, customers, CHUNK_CUSTOMERS)):
        frames = generate(customers=min(CHUNK_CUSTOMERS, customers - first), months=MONTHS,
                          seed=1000 + chunk)
        for name in LEDGER_FILES:
            frame = getattr(frames, name).copy()
            for column in ID_COLUMNS:  # ids unique across chunks: prefix with the chunk
                if column in frame:
                    frame[column] = frame[column].where(frame[column].isna(),
                                                        f"K{chunk:03d}" + frame[column].astype(str))
            (directory / name).mkdir(parents=True, exist_ok=True)
            frame.to_parquet(directory / name / f"chunk-{chunk:04d}.parquet", index=False)
            counts[name] += len(frame)
        del frames
    summary = {"customers": customers, "rows": counts,
               "generate_s": round(time.perf_counter() - started, 1)}
    done.write_text(json.dumps(summary))
    return summary


# --------------------------------------------------------------------------------- pandas


def stage(times: dict, **extra: object) -> None:
    """Print the figures so far: a run stopped by the time cap still reports its stages."""
    print("STAGE " + json.dumps({**times, **extra}, default=str), flush=True)


def run_pandas(directory: Path) -> dict:
    import pandas as pd

    from features.distributed import _typed
    from features.pipeline import build_features
    from ledger.frames import LEDGER_FILES, LedgerFrames
    from model.dataset import features_at_issue, recent_split_date, temporal_split
    from model.predict import Predictor
    from model.train import fit_bundle

    times, t = {}, time.perf_counter()
    tables = {name: _typed(pd.read_parquet(directory / name), name) for name in LEDGER_FILES
              if (directory / name).exists()}
    as_of = max(tables["invoices"]["issue_date"].max(), tables["payments"]["paid_on"].max())
    frames = LedgerFrames(as_of=as_of, **tables)
    times["read_s"] = time.perf_counter() - t
    stage(times, **_peaks())
    t = time.perf_counter()
    features = features_at_issue(frames)
    split = recent_split_date(frames)
    train, test = temporal_split(frames, split_date=split, features=features)
    times["features_s"] = time.perf_counter() - t
    stage(times, **_peaks())
    t = time.perf_counter()
    bundle = fit_bundle(train, train_cutoff=split)
    times["train_s"] = time.perf_counter() - t
    stage(times, **_peaks())
    t = time.perf_counter()
    open_features = build_features(frames, as_of=as_of + pd.Timedelta(days=1))
    scored = Predictor(bundle).predict(open_features)
    times["score_s"] = time.perf_counter() - t
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(test.late, Predictor(bundle).predict(test.X)["p_late"])
    return {**times, "n_train": len(train), "n_test": len(test), "n_scored": len(scored),
            "auc": auc, "best_iterations": bundle.meta["best_iterations"],
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def _peaks() -> dict:
    return {"peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


# ----------------------------------------------------------------------------------- dask


def run_dask(directory: Path, partitions: int, workers: int, worker_gb: float) -> dict:
    import logging

    import pandas as pd
    import psutil
    from distributed import Client, LocalCluster
    from sklearn.metrics import roc_auc_score

    from features.distributed import build_features_dask, read_parquet_ledger
    from model.distributed import fit_bundle_dask, predict_dask, recent_split_date_dask, split_rows_dask
    from model.predict import Predictor

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           memory_limit=f"{worker_gb}GB", dashboard_address=None)
    client = Client(cluster)
    peaks: dict[str, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                for worker, rss in client.run(lambda: psutil.Process().memory_info().rss).items():
                    peaks[worker] = max(peaks.get(worker, 0), rss / 1e9)
            except Exception:  # a worker restarting: sample again next time
                pass
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    def _peaks() -> dict:  # noqa: F811 (the workers' peaks, not this process's)
        return {"peak_gb_per_worker": sorted(round(v, 2) for v in peaks.values())}

    times, t = {}, time.perf_counter()
    ledger = read_parquet_ledger(str(directory), npartitions=partitions).persist()
    split = recent_split_date_dask(ledger)
    times["read_s"] = time.perf_counter() - t
    stage(times, **_peaks())
    t = time.perf_counter()
    rows = split_rows_dask(ledger, split_date=split).persist()
    n_rows = len(rows)
    times["features_s"] = time.perf_counter() - t
    stage(times, **_peaks())
    t = time.perf_counter()
    train = rows[rows["window"] == "train"]
    bundle = fit_bundle_dask(train, train_cutoff=split)
    times["train_s"] = time.perf_counter() - t
    stage(times, **_peaks())
    t = time.perf_counter()
    predictor = Predictor(bundle)
    scored = predict_dask(predictor, build_features_dask(ledger, as_of=ledger.as_of
                                                         + pd.Timedelta(days=1)))
    n_scored = len(scored)
    times["score_s"] = time.perf_counter() - t
    test = rows[rows["window"] == "test"]
    predicted = test[["invoice_id", "late"]].merge(
        predict_dask(predictor, test)[["invoice_id", "p_late"]], on="invoice_id").compute()
    stop.set()
    sampler.join()
    client.close()
    cluster.close()
    return {**times, "n_rows": n_rows, "n_train": bundle.meta["n_train"],
            "n_test": len(predicted), "n_scored": n_scored,
            "auc": roc_auc_score(predicted["late"].astype(int), predicted["p_late"]),
            "best_iterations": bundle.meta["best_iterations"],
            "peak_gb_per_worker": sorted(round(v, 2) for v in peaks.values()),
            "driver_peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            "partitions": partitions, "workers": workers}


# ---------------------------------------------------------------------------------- runner


def child(args: argparse.Namespace) -> None:
    directory = Path(args.child_dir)
    result = run_pandas(directory) if args.child == "pandas" else run_dask(
        directory, args.partitions, args.workers, args.worker_gb)
    print("RESULT " + json.dumps(result, default=str))


def run_child(engine: str, directory: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", engine, "--child-dir", str(directory),
               "--partitions", str(args.partitions), "--workers", str(args.workers),
               "--worker-gb", str(args.worker_gb)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.max_seconds,
                              cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    except subprocess.TimeoutExpired as stopped:
        output = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else \
            (stopped.stdout or "")
        stages = [line for line in output.splitlines() if line.startswith("STAGE ")]
        partial = json.loads(stages[-1].removeprefix("STAGE ")) if stages else {}
        return {"status": "timeout", "wall_s": round(time.perf_counter() - started, 1),
                "note": f"stopped at the {args.max_seconds} s cap", **partial}
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return {"status": "failed", "returncode": done.returncode,
                "error": done.stderr.strip().splitlines()[-3:]}
    result = json.loads(lines[-1].removeprefix("RESULT "))
    result["total_s"] = round(sum(result[k] for k in ("read_s", "features_s", "train_s",
                                                       "score_s")), 1)
    return {"status": "ran", **{k: round(v, 3) if isinstance(v, float) else v
                                for k, v in result.items()}}


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    args_parser.add_argument("--engines", nargs="+", default=["pandas", "dask"])
    args_parser.add_argument("--data", type=Path, default=Path("/tmp/relance-scale"))
    args_parser.add_argument("--max-seconds", type=int, default=2700)
    args_parser.add_argument("--memory-gb", type=float, default=20.0,
                        help="memory the pandas path may use on this machine")
    args_parser.add_argument("--partitions", type=int, default=16)
    args_parser.add_argument("--workers", type=int, default=2)
    args_parser.add_argument("--worker-gb", type=float, default=6.0)
    args_parser.add_argument("--child")
    args_parser.add_argument("--child-dir")
    args = args_parser.parse_args()
    if args.quick:
        args.sizes, args.partitions, args.max_seconds = [5_000], 2, 45
        args.data = args.data.with_name(args.data.name + "-quick")
    if args.child:
        child(args)
        return

    from rich.console import Console
    from rich.table import Table

    results: list[dict] = []
    pandas_peak_per_invoice: float | None = None
    for size in args.sizes:
        directory = args.data / f"invoices-{size}"
        ledger = generate_ledger(directory, size)
        for engine in args.engines:
            if engine == "pandas" and pandas_peak_per_invoice is not None \
                    and pandas_peak_per_invoice * ledger["rows"]["invoices"] > args.memory_gb:
                estimate = pandas_peak_per_invoice * ledger["rows"]["invoices"]
                result = {"status": "skipped", "note": f"extrapolated peak {estimate:.1f} GB "
                                                       f"> {args.memory_gb} GB"}
            else:
                result = run_child(engine, directory, args)
            if engine == "pandas" and result.get("status") == "ran":
                pandas_peak_per_invoice = result["peak_gb"] / ledger["rows"]["invoices"]
            results.append({"size": size, "invoices": ledger["rows"]["invoices"],
                            "customers": ledger["customers"], "engine": engine,
                            "generate_s": ledger["generate_s"], **result})
            Console(stderr=True).print(results[-1])
            write_results("scale", _document(results, args), quick=args.quick)
    table = Table(title="Scale: features + training + scoring (2 cores, 24 GB)")
    for column in ("invoices", "engine", "status", "read s", "features s", "train s", "score s",
                   "total s", "peak GB (worker / process)", "AUC"):
        table.add_column(column, justify="right")
    for r in results:
        peak = r.get("peak_gb_per_worker") or r.get("peak_gb")
        table.add_row(f"{r['invoices']:,}", r["engine"], r["status"],
                      *(f"{r[k]:.1f}" if k in r else "—" for k in
                        ("read_s", "features_s", "train_s", "score_s", "total_s")),
                      str(peak) if peak is not None else r.get("note", "—"),
                      f"{r['auc']:.4f}" if "auc" in r else "—")
    Console(stderr=True, width=160).print(table)
    largest = [r for r in results if r["size"] == max(args.sizes)]
    total = {r["engine"]: r.get("total_s") for r in largest}
    emit("scale", {"invoices": largest[0]["invoices"] if largest else None,
                   "pandas_total_s": total.get("pandas"), "dask_total_s": total.get("dask"),
                   "status": {r["engine"]: r["status"] for r in largest}},
         quick=args.quick, ratios={"dask_ratio": ("dask_total_s", "pandas_total_s")})


def _document(results: list[dict], args: argparse.Namespace) -> dict:
    return {"runs": results, "machine": {"cpus": os.cpu_count(),
                                         "load_avg_1m": round(os.getloadavg()[0], 2),
                                         "memory_gb": round(os.sysconf("SC_PAGE_SIZE")
                                                            * os.sysconf("SC_PHYS_PAGES") / 1e9)},
            "settings": {"partitions": args.partitions, "workers": args.workers,
                         "worker_memory_gb": args.worker_gb, "max_seconds": args.max_seconds,
                         "months": MONTHS},
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


if __name__ == "__main__":
    main()

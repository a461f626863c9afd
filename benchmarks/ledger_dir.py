"""Loading a ledger directory: `ledger.frames.load_ledger_dir` (reading, typing, settlement derived
by the allocation rules) beside the anchor, pyarrow's CSV reader on the same files (issue #20: the
load within 3× the raw read). The directory is written from the synthetic ledger
(`features.synth.generate`, seed 0): full size 6,000 customers × 36 months (345,549 invoices and
credit notes, 344,716 payments), `--quick` 600 × 24.

    .venv/bin/python benchmarks/ledger_dir.py [--quick] [--customers 6000 --months 36 --rounds 3]

Each round times the pyarrow read and then the load, alternated; the figures are the medians.
JSON: `invoices`, `load_s`, `load_cpu_s` (this process's CPU seconds for the load: the loader is
single-threaded, pyarrow's reader is not), `pyarrow_read_s` (and `pyarrow_read_cpu_s`, all its threads), `load_ratio` = load_s /
pyarrow_read_s, `cpu_ratio` = load_cpu_s / pyarrow_read_cpu_s. A full-size run writes results/ledger_dir.json.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pyarrow.csv as pacsv  # noqa: E402

from benchmarks._common import emit, load, machine, parser, uptime, write_results  # noqa: E402
from features.synth import generate  # noqa: E402
from ledger.frames import load_ledger_dir, write_ledger_dir  # noqa: E402


def pyarrow_read(directory: Path) -> tuple[float, float]:
    """The anchor: pyarrow's CSV reader (its defaults: threads, inferred types) on every file;
    wall and CPU seconds (all threads)."""
    start, cpu0 = time.perf_counter(), time.process_time()
    for path in sorted(directory.glob("*.csv")):
        pacsv.read_csv(path)
    return time.perf_counter() - start, time.process_time() - cpu0


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--customers", type=int, default=6_000)
    args.add_argument("--months", type=int, default=36)
    args.add_argument("--rounds", type=int, default=3)
    args.add_argument("--profile", action="store_true", help="print a cProfile of one more load")
    args = args.parse_args()
    if args.quick:
        args.customers, args.months = 600, 24
    frames = generate(customers=args.customers, months=args.months, seed=0)
    reads, read_cpus, loads, cpus = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "ledger"
        write_ledger_dir(frames, directory)
        for _ in range(args.rounds):
            read_s, read_cpu = pyarrow_read(directory)
            reads.append(read_s)
            read_cpus.append(read_cpu)
            started, cpu0 = time.perf_counter(), time.process_time()
            loaded = load_ledger_dir(directory, as_of=frames.as_of)
            loads.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu0)
        if args.profile:
            import cProfile
            import pstats
            profiler = cProfile.Profile()
            profiler.runcall(load_ledger_dir, directory, as_of=frames.as_of)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    figures = {
        "invoices": len(loaded.invoices), "payments": len(loaded.payments),
        "load_s": round(statistics.median(loads), 3), "load_cpu_s": round(statistics.median(cpus), 3),
        "pyarrow_read_s": round(statistics.median(reads), 3),
        "pyarrow_read_cpu_s": round(statistics.median(read_cpus), 3),
        "load_rounds_s": [round(x, 3) for x in loads], "pyarrow_rounds_s": [round(x, 3) for x in reads],
        "load_1m_start": load()[0],
    }
    line = emit("ledger_dir", figures, quick=args.quick, ratios={"load_ratio": ("load_s", "pyarrow_read_s"),
                                                                 "cpu_ratio": ("load_cpu_s", "pyarrow_read_cpu_s")})
    write_results("ledger_dir", {**line, "machine": machine(), "uptime": uptime()}, quick=args.quick)


if __name__ == "__main__":
    main()

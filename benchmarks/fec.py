"""Benchmark: importing a FEC of 1,000,000 lines into the ledger (SQLite, and PostgreSQL if asked).

Writes a synthetic FEC to a temporary directory: opening balances (AN), sales entries (411
debit, 706 and 44571 credits), bank entries (512 debit, 411 credit, lettered with their invoice,
one group in ten joining two invoices and two receipts) and purchase entries (607, 44566, 401)
that the import must read and validate but not keep. Then, in a fresh process per backend (so the
peak RSS is the import's own), runs `ledger.fec.import_fec` on an empty, migrated database and
commits. Reports seconds per phase and peak memory; writes benchmarks/results/fec.json (not with
--quick), prints a table on stderr and, last on stdout, one JSON line with the figures:
`import_s` (PostgreSQL when given, else SQLite), `read_csv_s` (the anchor, in the same run: pyarrow
reading the same file, every column as text) and `import_ratio` = import_s / read_csv_s.

    .venv/bin/python benchmarks/fec.py [--quick] [--lines 1000000] [--postgres postgresql://…] [--sqlite]
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks._common import DEFAULT_PG, emit, parser, write_results  # noqa: E402
from ledger.fec.reading import FEC_COLUMNS  # noqa: E402


def read_csv_seconds(path: Path) -> float:
    """The anchor: the same file read by pyarrow's CSV reader, every column as text."""
    from pyarrow import csv

    started = time.perf_counter()
    csv.read_csv(path, parse_options=csv.ParseOptions(delimiter="\t", quote_char=False),
                 convert_options=csv.ConvertOptions(column_types=dict.fromkeys(FEC_COLUMNS, "string")))
    return time.perf_counter() - started


def write_fec(path: Path, *, lines: int, customers: int, seed: int = 0) -> dict[str, int]:
    """A balanced FEC of about `lines` lines: 48 % sales, 28 % bank, 24 % purchase lines."""
    rng = np.random.default_rng(seed)
    n_inv = int(lines * 0.48) // 3
    n_pay = int(lines * 0.28) // 2
    n_pur = (lines - 3 * n_inv - 2 * n_pay) // 3
    start = np.datetime64("2023-01-01")
    issue = start + rng.integers(0, 700, n_inv).astype("timedelta64[D]")
    issue.sort()
    customer = rng.integers(1, customers + 1, n_inv)
    ht = rng.integers(5_000, 2_000_000, n_inv)               # cents
    tva = (ht * 20 + 50) // 100
    ttc = ht + tva
    paid = issue[:n_pay] + rng.integers(10, 90, n_pay).astype("timedelta64[D]")
    aux = np.char.add("C", np.char.zfill(customer.astype(str), 6))
    names = np.char.add("Client ", aux)
    inv_id = np.char.add("F", np.char.zfill(np.arange(1, n_inv + 1).astype(str), 8))
    letters = np.array([""] * n_inv, dtype=object)
    letters[:n_pay] = [f"L{i:07d}" for i in range(n_pay)]
    # every tenth pair shares its neighbour's code: groups of two invoices and two receipts (n ↔ m)
    letters[1:n_pay:10] = letters[0:n_pay - 1:10][:len(letters[1:n_pay:10])]
    let_date = np.full(n_inv, "", dtype=object)
    let_date[:n_pay] = pd.DatetimeIndex(paid).strftime("%Y%m%d")

    def block(journal, lib, number, date, account, account_lib, aux_num, aux_lib, piece, label,
              debit, credit, let="", datelet=""):
        d = pd.DatetimeIndex(date).strftime("%Y%m%d")
        return pd.DataFrame({
            "JournalCode": journal, "JournalLib": lib, "EcritureNum": number, "EcritureDate": d,
            "CompteNum": account, "CompteLib": account_lib, "CompAuxNum": aux_num, "CompAuxLib": aux_lib,
            "PieceRef": piece, "PieceDate": d, "EcritureLib": label, "Debit": _amount(debit),
            "Credit": _amount(credit), "EcritureLet": let, "DateLet": datelet, "ValidDate": d,
            "Montantdevise": "", "Idevise": ""})

    zero_i, zero_p = np.zeros(n_inv, dtype=np.int64), np.zeros(n_pay, dtype=np.int64)
    vt_num = np.arange(1, n_inv + 1).astype(str)
    bq_num = np.arange(1, n_pay + 1).astype(str)
    pay_id = np.char.add("R", np.char.zfill(np.arange(1, n_pay + 1).astype(str), 8))
    sales = [block("VT", "Ventes", vt_num, issue, "411000", "Clients", aux, names, inv_id, "Facture",
                   ttc, zero_i, letters, let_date),
             block("VT", "Ventes", vt_num, issue, "706000", "Ventes", "", "", inv_id, "Facture", zero_i, ht),
             block("VT", "Ventes", vt_num, issue, "445710", "TVA collectée", "", "", inv_id, "Facture", zero_i, tva)]
    bank = [block("BQ", "Banque", bq_num, paid, "512000", "Banque", "", "", pay_id, "Virement",
                  ttc[:n_pay], zero_p),
            block("BQ", "Banque", bq_num, paid, "411000", "Clients", aux[:n_pay], names[:n_pay], pay_id,
                  "Virement", zero_p, ttc[:n_pay], letters[:n_pay], let_date[:n_pay])]
    pur_date = start + rng.integers(0, 700, n_pur).astype("timedelta64[D]")
    pur_ht = rng.integers(1_000, 500_000, n_pur)
    pur_tva = (pur_ht * 20 + 50) // 100
    zero_u = np.zeros(n_pur, dtype=np.int64)
    ha_num = np.arange(1, n_pur + 1).astype(str)
    supplier = np.char.add("S", np.char.zfill(rng.integers(1, 500, n_pur).astype(str), 4))
    purchases = [block("HA", "Achats", ha_num, pur_date, "607000", "Achats", "", "", ha_num, "Achat", pur_ht, zero_u),
                 block("HA", "Achats", ha_num, pur_date, "445660", "TVA déductible", "", "", ha_num, "Achat", pur_tva, zero_u),
                 block("HA", "Achats", ha_num, pur_date, "401000", "Fournisseurs", supplier, supplier, ha_num,
                       "Achat", zero_u, pur_ht + pur_tva)]
    # opening balances ("à-nouveaux"): 1 % of the lines, open invoices of the previous year
    n_an = max(lines // 200, 1)
    an_day = np.full(n_an, start - np.timedelta64(1, "D"))
    an_customer = np.char.add("C", np.char.zfill(rng.integers(1, customers + 1, n_an).astype(str), 6))
    an_amount = rng.integers(5_000, 500_000, n_an)
    an_piece = np.char.add("AN", np.char.zfill(np.arange(1, n_an + 1).astype(str), 7))
    an_num = np.arange(1, n_an + 1).astype(str)
    zero_a = np.zeros(n_an, dtype=np.int64)
    openings = [block("AN", "A nouveaux", an_num, an_day, "411000", "Clients", an_customer,
                      np.char.add("Client ", an_customer), an_piece, "Report", an_amount, zero_a),
                block("AN", "A nouveaux", an_num, an_day, "890000", "Bilan", "", "", an_piece, "Report",
                      zero_a, an_amount)]
    frame = pd.concat(openings + sales + bank + purchases, ignore_index=True)[list(FEC_COLUMNS)]
    frame.to_csv(path, sep="\t", index=False, lineterminator="\n", encoding="utf-8")
    return {"lines": len(frame), "invoices": n_inv, "payments": n_pay, "purchases": n_pur, "opening": n_an}


def _amount(cents) -> np.ndarray:
    cents = np.asarray(cents, dtype=np.int64)
    return np.char.add(np.char.add((cents // 100).astype(str), ","), np.char.zfill((cents % 100).astype(str), 2))


def run_import(path: str, url: str, schema: str | None, queue) -> None:
    """In a child process: migrate an empty database, import, commit; report timings and RSS."""
    from sqlmodel import Session

    import ledger.fec.importer as importer
    from ledger.db import make_engine, migrate

    # time each phase by wrapping the importer's own steps (same code path as the CLI)
    phases: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - began
        return wrapper

    importer.parse_fec = timed("parse_validate", importer.parse_fec)
    importer.letter = timed("lettering", importer.letter)
    importer.build_batch = timed("records", importer.build_batch)
    importer.ingest_and_apply = timed("ingest", importer.ingest_and_apply)

    engine = make_engine(url, schema=schema)
    migrate(engine)
    began = time.perf_counter()
    with Session(engine) as session:
        report = importer.import_fec(session=session, source=Path(path), actor="bench", name="bench",
                                     today=dt.date.today())
        session.commit()
    seconds = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_mb = usage.ru_maxrss / 1024
    engine.dispose()
    # CPU seconds of this process (not PostgreSQL's): robust to a busy machine, unlike wall time
    queue.put({"seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2), **{f"{k}_seconds": round(v, 2) for k, v in phases.items()},
               "other_seconds": round(seconds - sum(phases.values()), 2),
               "peak_rss_mb": round(rss_mb, 1), "lines": report.lines,
               "invoices": report.result.invoices["created"], "payments": report.result.payments["created"],
               "customers": report.result.customers["created"], "lettered": report.lettered_payments,
               "links": report.links, "opening_items": report.opening_items,
               "unbalanced_groups": len(report.unbalanced_groups), "unplaced": len(report.unplaced)})


def measure(path: Path, url: str, schema: str | None = None) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=run_import, args=(str(path), url, schema, queue))
    child.start()
    result = queue.get()
    child.join()
    result["lines_per_second"] = round(result["lines"] / result["seconds"])
    return result


def _pg_schema(url: str) -> str:
    from sqlalchemy import text

    from ledger.db import make_engine

    schema = f"bench_fec_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema


def _drop_pg_schema(url: str, schema: str) -> None:
    from sqlalchemy import text

    from ledger.db import make_engine

    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--lines", type=int, default=1_000_000)
    args_parser.add_argument("--customers", type=int, default=5_000)
    args_parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_PG),
                        help="PostgreSQL to import into (default: $TEST_DATABASE_URL, else the local one; '' to skip)")
    args_parser.add_argument("--sqlite", action="store_true", help="also import into SQLite")
    args = args_parser.parse_args()
    if args.quick:
        args.lines, args.customers = 50_000, 500
    console = Console(width=150, stderr=True)
    results: dict = {"quick": args.quick}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "FEC.txt"
        began = time.perf_counter()
        with console.status(f"writing a FEC of {args.lines:,} lines…"):
            results["file"] = write_fec(path, lines=args.lines, customers=args.customers)
        results["file"]["megabytes"] = round(path.stat().st_size / 1e6, 1)
        results["file"]["write_seconds"] = round(time.perf_counter() - began, 2)
        results["read_csv_seconds"] = round(read_csv_seconds(path), 2)
        if args.sqlite or not args.postgres:
            with console.status("SQLite import…"):
                results["sqlite"] = measure(path, f"sqlite:///{Path(tmp) / 'bench.db'}")
        if args.postgres:
            schema = _pg_schema(args.postgres)
            try:
                with console.status("PostgreSQL import…"):
                    results["postgresql"] = measure(path, args.postgres, schema)
            finally:
                _drop_pg_schema(args.postgres, schema)
    # a shared machine: the load says how much of the two cores the run had
    results |= {"target_seconds": 60, "target_rss_mb": 2048, "cpus": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 1),
                "python": platform.python_version(), "pandas": pd.__version__}
    write_results("fec", results, quick=args.quick)

    table = Table(title=f"FEC import — {results['file']['lines']:,} lines ({results['file']['megabytes']} MB)")
    columns = ("backend", "seconds", "parse+validate s", "lettering s", "records s", "ingest s", "other s",
               "lines/s", "peak RSS MB", "invoices", "payments", "links", "< 60 s")
    for column in columns:
        table.add_column(column, justify="left" if column == "backend" else "right")
    for backend in ("sqlite", "postgresql"):
        if backend in results:
            r = results[backend]
            table.add_row(backend, f"{r['seconds']:.1f}", f"{r.get('parse_validate_seconds', 0):.1f}",
                          f"{r.get('lettering_seconds', 0):.1f}", f"{r.get('records_seconds', 0):.1f}",
                          f"{r.get('ingest_seconds', 0):.1f}", f"{r['other_seconds']:.1f}",
                          f"{r['lines_per_second']:,}", f"{r['peak_rss_mb']:,.0f}", f"{r['invoices']:,}",
                          f"{r['payments']:,}", f"{r['links']:,}", "yes" if r["seconds"] < 60 else "NO")
    console.print(table)
    main_backend = results.get("postgresql") or results["sqlite"]
    emit("fec", {"lines": results["file"]["lines"], "backend": "postgresql" if "postgresql" in results else "sqlite",
                 "import_s": main_backend["seconds"], "cpu_s": main_backend["cpu_seconds"],
                 "peak_rss_mb": main_backend["peak_rss_mb"], "read_csv_s": results["read_csv_seconds"],
                 "sqlite_import_s": results.get("sqlite", {}).get("seconds")},
         quick=args.quick, ratios={"import_ratio": ("import_s", "read_csv_s")})


if __name__ == "__main__":
    main()

"""API latency and throughput on a real server (uvicorn on loopback, SQLite; as many worker
processes as `relance serve` starts by default: one per core, at most 4; `--workers 1` for one).

With 16 concurrent clients: `GET /health` (the anchor: the same server, app and client doing no
work), `GET /customers/{id}/risk` (stored answers, three reasons told on demand, and without
reasons), `GET /invoices/{id}/next-action`; one client: the reasons' latency alone; and
`POST /predictions` on the open invoices (up to 10,000 per batch, no reasons) beside its anchor,
the raw booster predict on the same invoices' matrix in this process (one thread, as served).
The stored answers are refreshed first, as the nightly run and each ingest do (`refresh_s`).

    .venv/bin/python benchmarks/api.py [--quick] [--customers 300 --months 24 --requests 2000]
                                       [--workers N]

Writes benchmarks/results/api.json (not with --quick) and ends with one JSON line.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks._common import emit, parser, report  # noqa: E402
from tests.server import free_port  # noqa: E402


def prepare(tmp: Path, customers: int, months: int, rounds: int) -> dict:
    """A ledger in SQLite, a trained bundle, an admin key, the stored answers refreshed."""
    from sqlmodel import Session, select

    from features.synth import generate, months_ending
    from ledger.db import make_engine, migrate
    from ledger.frames import write_ledger_dir
    from ledger.importers import import_ledger_dir
    from ledger.tables import Invoice
    from model.dataset import labelled_rows
    from model.train import TrainConfig, fit_bundle
    from serving.auth import create_key
    from serving.risk import RiskService
    from serving.stored_risk import refresh_all

    start = months_ending(dt.date.today(), months + 1)
    frames = generate(customers=customers, months=months, seed=11, start=start.isoformat())
    write_ledger_dir(frames, tmp / "ledger")
    url = f"sqlite:///{tmp / 'api.db'}"
    engine = make_engine(url)
    migrate(engine)
    with Session(engine) as session:
        import_ledger_dir(session=session, directory=tmp / "ledger", actor="bench", today=dt.date.today())
        key = create_key(session=session, role="admin", name="bench")
        session.commit()
        open_ids = list(session.exec(select(Invoice.invoice_id).where(
            Invoice.settled_on.is_(None), Invoice.kind == "invoice", Invoice.issue_date <= dt.date.today())))
    bundle = fit_bundle(labelled_rows(frames), config=TrainConfig(num_boost_round=rounds))
    bundle_dir = bundle.save(tmp / "bundle")
    service = RiskService(str(bundle_dir))
    service.reload()
    t0 = time.perf_counter()
    refreshed = refresh_all(service, engine, dt.date.today())
    refresh_s = time.perf_counter() - t0
    return {"url": url, "bundle": str(bundle_dir), "key": key, "open_ids": open_ids,
            "customers": list(frames.customers["customer_id"]), "engine": engine,
            "service": service, "refresh_s": refresh_s, "refreshed": refreshed}


async def hammer(base: str, key: str, paths: list[str], clients: int) -> dict:
    latencies: list[float] = []
    queue = list(paths)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            path = queue.pop()
            t0 = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - t0)
            response.raise_for_status()

    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"},
                                 timeout=60, limits=httpx.Limits(max_connections=clients)) as client:
        for path in paths[:clients]:  # warm up: connections open, code paths imported
            (await client.get(path)).raise_for_status()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "req_per_s": len(ms) / elapsed}


# wrk (Debian's `wrk`), when installed: a C load generator in its own process, so the figures are
# the server's and not this Python client's (httpx costs about a millisecond of CPU a request,
# on the same two cores as the server); each request takes the next path of a list
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk(base: str, key: str, paths: list[str], clients: int, seconds: int, tmp: Path) -> dict:
    (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
    (tmp / "paths.lua").write_text(WRK_SCRIPT)
    done = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "-s",
                           str(tmp / "paths.lua"), "-H", f"Authorization: Bearer {key}", base],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "WRK_PATHS": str(tmp / "paths.txt")})
    text = done.stdout
    latency = {m[0]: float(m[1]) * UNITS[m[2]]
               # wrk pads the unit to two characters: "1.25s " (a p99 over a second was lost)
               for m in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: .*", text)
    return {"req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1]),
            # a run with too few answers prints no percentile: NaN, not a crash at the end
            "p50_ms": latency.get("50", float("nan")), "p99_ms": latency.get("99", float("nan")),
            "non_2xx": int(failed[1]) if failed else 0, "socket_errors": errors[0] if errors else None}


def _ms(value: float) -> float | None:
    """Milliseconds to 2 decimals; None (JSON null, not NaN) when wrk printed no such line."""
    return None if value != value else round(value, 2)


def measure_wrk(base: str, prepared: dict, clients: int, seconds: int, tmp: Path) -> dict:
    key, rng = prepared["key"], np.random.default_rng(1)
    risk = [f"/api/v1/customers/{c}/risk" for c in rng.choice(prepared["customers"], 2000)]
    actions = [f"/api/v1/invoices/{i}/next-action" for i in rng.choice(prepared["open_ids"], 2000)]
    return {"health": wrk(base, key, ["/health"], clients, seconds, tmp),
            "risk": wrk(base, key, risk, clients, seconds, tmp),
            "risk_no_reasons": wrk(base, key, [p + "?reasons=0" for p in risk], clients, seconds, tmp),
            "next_action": wrk(base, key, actions, clients, seconds, tmp)}


def raw_predict(prepared: dict, invoice_ids: list[str]) -> tuple[float, int]:
    """The anchor: the booster alone on the (invoices × bins) matrix of these invoices."""
    import pandas as pd
    from sqlmodel import Session

    from features.pipeline import build_features
    from ledger.store import read_frames
    from model.predict import THREADS
    from serving.risk import _stored_invoices

    predictor = prepared["service"].state.predictor
    with Session(prepared["engine"]) as session:
        targets = _stored_invoices(session, invoice_ids)
        frames = read_frames(session=session, as_of=dt.date.today(), customer_ids=sorted(set(targets["customer_id"])))
    features = build_features(frames, invoices=targets.drop(columns=["settled_on"]),
                              as_of=pd.Timestamp(dt.date.today()) + pd.Timedelta(days=1))
    matrix = predictor.matrix(features)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        predictor.bundle.hazard.predict(matrix, raw_score=True, num_threads=THREADS)
        best = min(best, time.perf_counter() - t0)
    return len(features) / best, len(features)


def measure(base: str, prepared: dict, requests: int, clients: int) -> dict:
    key, rng = prepared["key"], np.random.default_rng(0)
    customers, open_ids = prepared["customers"], prepared["open_ids"]
    out = {"health": asyncio.run(hammer(base, key, ["/health"] * requests, clients))}
    risk = [f"/api/v1/customers/{c}/risk" for c in rng.choice(customers, requests)]
    out["risk"] = asyncio.run(hammer(base, key, risk, clients))
    out["risk_no_reasons"] = asyncio.run(hammer(base, key, [p + "?reasons=0" for p in risk], clients))
    out["reasons_alone"] = asyncio.run(hammer(base, key, risk[:max(50, requests // 10)], 1))
    actions = [f"/api/v1/invoices/{i}/next-action" for i in rng.choice(open_ids, requests)]
    out["next_action"] = asyncio.run(hammer(base, key, actions, clients))
    batch = [str(i) for i in rng.choice(open_ids, min(10_000, len(open_ids)), replace=False)]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300) as client:
        client.post("/api/v1/predictions", json={"invoice_ids": batch[:100]}).raise_for_status()
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            client.post("/api/v1/predictions", json={"invoice_ids": batch}).raise_for_status()
            best = min(best, time.perf_counter() - t0)
    out["predictions"] = {"invoices": len(batch), "seconds": best, "per_s": len(batch) / best}
    out["raw_predict_per_s"], _ = raw_predict(prepared, batch)
    return out


def serve(prepared: dict, tmp: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": prepared["url"], "MODEL_URI": prepared["bundle"],
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
           "RELANCE_RATE_LIMIT": "1000000/minute"}  # the benchmark is one key hammering
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory",
                               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                               # a loaded machine can leave a client's connection idle past
                               # uvicorn's 5 s default: closed under it, a read error, no answer
                               "--timeout-keep-alive", "60", "--workers", str(workers)],
                              cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900  # a loaded shared machine starts a server slowly
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.terminate()
                raise
            time.sleep(0.3)


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0])
    args_parser.add_argument("--customers", type=int, default=300)
    args_parser.add_argument("--months", type=int, default=24)
    args_parser.add_argument("--requests", type=int, default=2000)
    args_parser.add_argument("--clients", type=int, default=16)
    args_parser.add_argument("--workers", type=int, default=None,
                             help="server processes (default: as `relance serve`)")
    args = args_parser.parse_args()
    if args.workers is None:
        from serving.app import default_workers

        args.workers = default_workers()
    if args.quick:
        args.customers, args.months, args.requests = 60, 12, 200
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        prepared = prepare(tmp, args.customers, args.months, 40 if args.quick else 300)
        server, base = serve(prepared, tmp, args.workers)
        try:
            out = measure(base, prepared, args.requests, args.clients)
            if shutil.which("wrk"):
                out["wrk"] = measure_wrk(base, prepared, args.clients, 5 if args.quick else 15, tmp)
        finally:
            server.terminate()
            server.wait(timeout=30)
    rows = [{"endpoint": name, **{k: round(v, 2) for k, v in figures.items()}}
            for name, figures in out.items() if isinstance(figures, dict) and "p99_ms" in figures]
    prediction = out["predictions"]
    rows.append({"endpoint": f"POST /predictions ({prediction['invoices']:,} invoices)", "requests": 3,
                 "p50_ms": prediction["seconds"] * 1000, "p99_ms": prediction["seconds"] * 1000,
                 "req_per_s": prediction["per_s"]})
    figures = {
        "customers": args.customers, "workers": args.workers, "open_invoices": len(prepared["open_ids"]),
        "refresh_s": round(prepared["refresh_s"], 2),
        "refresh_customers_per_s": round(prepared["refreshed"] / prepared["refresh_s"]),
        "health_rps": round(out["health"]["req_per_s"]),
        "health_p99_ms": round(out["health"]["p99_ms"], 1),
        "risk_rps": round(out["risk"]["req_per_s"]),
        "risk_p50_ms": round(out["risk"]["p50_ms"], 1), "risk_p99_ms": round(out["risk"]["p99_ms"], 1),
        "risk_no_reasons_rps": round(out["risk_no_reasons"]["req_per_s"]),
        "risk_no_reasons_p99_ms": round(out["risk_no_reasons"]["p99_ms"], 1),
        "reasons_p50_ms": round(out["reasons_alone"]["p50_ms"], 1),
        "reasons_p99_ms": round(out["reasons_alone"]["p99_ms"], 1),
        "next_action_rps": round(out["next_action"]["req_per_s"]),
        "next_action_p50_ms": round(out["next_action"]["p50_ms"], 1),
        "next_action_p99_ms": round(out["next_action"]["p99_ms"], 1),
        "predictions_per_s": round(prediction["per_s"]),
        "raw_predict_per_s": round(out["raw_predict_per_s"]),
    }
    ratios = {}
    if "wrk" in out:  # the server's own figures (see WRK_SCRIPT), beside /health measured alike
        for name, figures_of in out["wrk"].items():
            figures[f"wrk_{name}_rps"] = round(figures_of["req_per_s"])
            figures[f"wrk_{name}_p50_ms"] = _ms(figures_of["p50_ms"])
            figures[f"wrk_{name}_p99_ms"] = _ms(figures_of["p99_ms"])
            figures[f"wrk_{name}_non_2xx"] = figures_of["non_2xx"]
            if name != "health":
                ratios[f"wrk_{name}_ratio"] = (f"wrk_{name}_rps", "wrk_health_rps")
        rows.extend({"endpoint": f"wrk {name}", "requests": "—", "p50_ms": round(f["p50_ms"], 2),
                     "p99_ms": round(f["p99_ms"], 2), "req_per_s": round(f["req_per_s"], 1)}
                    for name, f in out["wrk"].items())
    # one table, one results file: the Python client's rows, then wrk's ("wrk …") when installed
    report("api", rows, title=f"API on a real server ({args.workers} worker(s)), {args.clients} concurrent clients, "
                              f"{args.customers:,} customers", quick=args.quick)
    emit("api", figures, quick=args.quick, ratios={
        **ratios,
        "risk_ratio": ("risk_rps", "health_rps"),
        "risk_no_reasons_ratio": ("risk_no_reasons_rps", "health_rps"),
        "next_action_ratio": ("next_action_rps", "health_rps"),
        "predictions_ratio": ("predictions_per_s", "raw_predict_per_s")})


if __name__ == "__main__":
    main()

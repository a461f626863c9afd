"""API latency and throughput on a real server (uvicorn on loopback, its own process).

For `/customers/{id}/risk` and `/invoices/{id}/next-action`: p50/p99 latency and requests/s with
16 concurrent clients; for `/predictions`: invoices/s on 10,000-invoice batches (no reasons).
Writes benchmarks/results/api.json.

    .venv/bin/python benchmarks/api.py [--customers 2000 --months 24 --requests 800]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks._common import report  # noqa: E402
from tests.server import free_port  # noqa: E402


def prepare(tmp: Path, customers: int, months: int) -> tuple[str, str, list[str], list[str]]:
    """A ledger in SQLite, a trained bundle, an analyst key; returns ids to query."""
    from sqlmodel import Session, select

    from features.synth import generate, months_ending
    from ledger.db import make_engine, migrate
    from ledger.frames import write_ledger_dir
    from ledger.importers import import_ledger_dir
    from ledger.tables import Invoice
    from model.dataset import labelled_rows
    from model.train import TrainConfig, fit_bundle
    from serving.auth import create_key

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
        open_ids = list(session.exec(select(Invoice.invoice_id).where(Invoice.settled_on.is_(None),
                                                                       Invoice.kind == "invoice")))
    bundle = fit_bundle(labelled_rows(frames), config=TrainConfig(num_boost_round=300))
    bundle_dir = bundle.save(tmp / "bundle")
    return url, str(bundle_dir), key, open_ids, list(frames.customers["customer_id"])


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
        await client.get(paths[0])  # warm up
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "req_per_s": len(ms) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url, bundle, key, open_ids, customers = prepare(tmp, args.customers, args.months)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "MODEL_URI": bundle, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory",
                                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                  cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            rng = np.random.default_rng(0)
            rows = []
            risk_paths = [f"/api/v1/customers/{c}/risk" for c in rng.choice(customers, args.requests)]
            rows.append({"endpoint": "GET /customers/{id}/risk", **asyncio.run(hammer(base, key, risk_paths, args.clients))})
            action_paths = [f"/api/v1/invoices/{i}/next-action" for i in rng.choice(open_ids, args.requests)]
            rows.append({"endpoint": "GET /invoices/{id}/next-action", **asyncio.run(hammer(base, key, action_paths, args.clients))})
            batch = [str(i) for i in rng.choice(open_ids, min(10_000, len(open_ids)), replace=False)]
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300) as client:
                client.post("/api/v1/predictions", json={"invoice_ids": batch[:100]}).raise_for_status()
                t0 = time.perf_counter()
                for _ in range(3):
                    client.post("/api/v1/predictions", json={"invoice_ids": batch}).raise_for_status()
                elapsed = (time.perf_counter() - t0) / 3
            rows.append({"endpoint": f"POST /predictions ({len(batch):,} invoices)", "requests": 3,
                         "p50_ms": elapsed * 1000, "p99_ms": elapsed * 1000,
                         "req_per_s": len(batch) / elapsed})
        finally:
            server.terminate()
            server.wait(timeout=30)
    for row in rows:
        row["note"] = "invoices/s" if row["endpoint"].startswith("POST") else "requests/s"
    report("api", rows, title=f"API on a real server, {args.clients} concurrent clients, "
                              f"{args.customers:,} customers")


if __name__ == "__main__":
    main()

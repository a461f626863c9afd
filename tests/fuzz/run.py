"""Fuzz the whole HTTP API with schemathesis against a real server (CI: `make fuzz`).

For each backend (SQLite, and PostgreSQL when TEST_DATABASE_URL is set): a fresh database with a
small seeded ledger (customers, invoices, payments, a dispute, a promise, a dunning run, a
webhook subscriber), one admin key and one agent key (its portfolio is a few customers), uvicorn
on a free loopback port, then `schemathesis run` over every operation of the OpenAPI document,
once per key. The run fails on any 5xx and on any response that does not match the documented
status codes, content types and schemas. The ids of the seeded ledger are written into the
document as examples, so routes taking an id reach data and not only 404s.

    python -m tests.fuzz.run [--backend sqlite|postgresql|all] [--max-examples N]

The exit code is non-zero when any run found a failure (or could not run).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")
SEED = 20261127


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", 8)))
    parser.add_argument("--report-dir", type=Path, default=ROOT / "fuzz-report")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    pg_url = os.environ.get("TEST_DATABASE_URL")
    if "postgresql" in backends and not pg_url:
        if args.backend == "postgresql" or os.environ.get("RELANCE_REQUIRE_PG") == "1":
            print("fuzz: TEST_DATABASE_URL is not set but PostgreSQL is required", file=sys.stderr)
            return 2
        print("fuzz: PostgreSQL skipped (set TEST_DATABASE_URL)")
        backends.remove("postgresql")
    failed = 0
    for backend in backends:
        failed += fuzz_backend(backend, pg_url, args.max_examples, args.report_dir / backend)
    print(f"fuzz: {'FAILED' if failed else 'passed'} ({failed} failing run(s))")
    return 1 if failed else 0


def fuzz_backend(backend: str, pg_url: str | None, max_examples: int, report_dir: Path) -> int:
    from ledger.db import make_engine, migrate
    from serving.app import create_app
    from serving.risk import RiskService
    from tests.server import running

    report_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if backend == "sqlite":
            engine = make_engine(f"sqlite:///{tmp}/fuzz.db")
        else:
            schema = f"relance_fuzz_{uuid.uuid4().hex[:8]}"
            admin = make_engine(pg_url)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            admin.dispose()
            engine = make_engine(pg_url, schema=schema)
        try:
            migrate(engine)
            keys, examples = seed(engine)
            from ledger.config import Settings

            # the outbox talks to a closed port: every e-mail fails fast and is logged, as it must
            settings = Settings(smtp_port=_closed_port())
            app = create_app(engine=engine, settings=settings, risk=RiskService())
            failures = 0
            with running(app) as base:
                document = httpx.get(f"{base}/openapi.json", timeout=30).json()
                add_examples(document, examples)
                spec = Path(tmp) / "openapi.json"
                spec.write_text(json.dumps(document))
                # the admin key walks every phase; the agent key (mostly 403s and its portfolio's
                # 404s) skips the coverage phase, whose boundary values the admin run already sends
                for role, phases in (("admin", "examples,coverage,fuzzing"), ("agent", "examples,fuzzing")):
                    failures += run_schemathesis(spec, base, keys[role], max_examples, phases,
                                                 report_dir / role, label=f"{backend}/{role}")
            return failures
        finally:
            engine.dispose()
            if schema is not None:
                admin = make_engine(pg_url)
                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()


def _closed_port() -> int:
    from tests.server import free_port

    return free_port()


def seed(engine) -> tuple[dict[str, str], dict[str, str]]:
    """A small ledger ending today; returns the keys by role and an example id per parameter."""
    from features.synth import generate
    from ledger import disputes as dispute_log
    from ledger import portfolio as portfolios
    from ledger import promises as promise_log
    from ledger.frames import write_ledger_dir
    from ledger.importers import import_ledger_dir
    from ledger.webhooks import create_subscriber
    from serving.auth import create_key
    from serving.dunning import run_and_commit

    today = dt.date.today()
    with tempfile.TemporaryDirectory() as tmp:
        frames = generate(customers=12, months=6, seed=7,
                          start=(today.replace(day=1) - dt.timedelta(days=150)).replace(day=1),
                          as_of=today)
        write_ledger_dir(frames, tmp)
        with Session(engine, expire_on_commit=False) as session:
            import_ledger_dir(session=session, directory=tmp, actor="fuzz", today=dt.date.today())
            session.commit()
    customers = sorted(frames.customers["customer_id"])
    with Session(engine, expire_on_commit=False) as session:
        keys = {"admin": create_key(session=session, role="admin", name="fuzz-admin"),
                "agent": create_key(session=session, role="agent", name="fuzz-agent")}
        portfolios.assign_customers(session=session, agent="fuzz-agent", customer_ids=customers[:4],
                             actor="fuzz")
        open_invoices = [i for i in session.execute(text(
            "SELECT invoice_id FROM invoice WHERE settled_on IS NULL AND kind = 'invoice' "
            "AND customer_id = :c ORDER BY invoice_id"), {"c": customers[0]}).scalars()]
        dispute = dispute_log.open_dispute(session=session, data=dispute_log.DisputeCreate(
            dispute_id="DSP-FUZZ", invoices=[{"invoice_id": open_invoices[0]}], reason="price"),
            actor="fuzz", today=today)
        promise = promise_log.create_promise(session=session, data=promise_log.PromiseCreate(
            promise_id="PRM-FUZZ", customer_id=customers[0], amount="100.00",
            promised_date=today + dt.timedelta(days=10)), actor="fuzz", today=today)
        subscriber = create_subscriber(session=session, url="http://93.184.215.14/hook",
                                       events=["dispute.opened"], check_address=False)
        session.commit()
    run_and_commit(engine=engine, run_date=today, dry_run=False, actor="fuzz", today=today)
    with engine.connect() as connection:
        action_id = connection.execute(text("SELECT min(id) FROM dunningaction")).scalar()
        reminder_id = connection.execute(text(
            "SELECT min(reminder_id) FROM dunningaction WHERE reminder_id IS NOT NULL")).scalar()
    examples = {"customer_id": customers[0], "invoice_id": open_invoices[-1],
                "dispute_id": dispute.dispute_id, "promise_id": promise.promise_id,
                "subscriber_id": subscriber.id, "action_id": action_id,
                "reminder_id": reminder_id, "name": "email_firm.fr.j2"}
    return keys, {k: v for k, v in examples.items() if v is not None}


def add_examples(document: dict, examples: dict) -> None:
    """Give every path parameter named like a seeded id that id as its example."""
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                name = parameter.get("name")
                if parameter.get("in") == "path" and name in examples:
                    value = examples[name]
                    if name == "name" and "scenarios" in path:
                        value = "standard"
                    parameter["example"] = value


def run_schemathesis(spec: Path, base: str, key: str, max_examples: int, phases: str,
                     report_dir: Path, *, label: str) -> int:
    command = [str(Path(sys.executable).with_name("schemathesis")), "run", str(spec), "--url", base,
               "--header", f"Authorization: Bearer {key}", "--checks", CHECKS,
               "--max-examples", str(max_examples), "--seed", str(SEED),
               # one worker: hypothesis parses source in threads, and CPython 3.11's ast is not
               # thread-safe ("AST constructor recursion depth mismatch" as a runtime error)
               "--workers", "1",
               "--phases", phases, "--request-timeout", "60",
               "--suppress-health-check", "all", "--no-shrink",
               "--report", "junit", "--report-dir", str(report_dir)]
    print(f"fuzz {label}: {' '.join(command[:3])} … --max-examples {max_examples}", flush=True)
    completed = subprocess.run(command, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"})
    print(f"fuzz {label}: exit {completed.returncode}", flush=True)
    return 0 if completed.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""`relance serve --workers 2`: several server processes on one database (SQLite file, and
PostgreSQL when TEST_DATABASE_URL is set), migrated once before they start; each answers with its
own engine, and a key created before the start is honoured by every process."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from ledger.db import make_engine, migrate
from serving.auth import create_key
from tests.conftest import BACKENDS, PG_URL, ROOT
from tests.server import free_port


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'relance.db'}"
        return
    schema = f"serve_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_two_workers_answer_on_one_database(database, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database, "RELANCE_SCHEDULE": "false",
           "MODEL_URI": str(tmp_path / "no-model"), "RELANCE_RATE_LIMIT": "10/minute",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    server = subprocess.Popen([sys.executable, "-m", "serving.cli", "serve", "--port", str(port),
                               "--workers", "2"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # two processes importing the app on a loaded machine
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:] if server.stderr else ""
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        # the database was migrated by `serve` itself: a key can be written at once
        engine = make_engine(database)
        migrate(engine)  # a no-op at head
        with Session(engine) as session:
            key = create_key(session=session, role="analyst", name="workers")
            session.commit()
        engine.dispose()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            # new connections land on either process: each reads the key and the ledger itself
            answers = [httpx.get(f"{base}/api/v1/customers/nobody/risk", headers=headers,
                                 timeout=30).status_code for _ in range(30)]
            # each process allows half of the limit: the server as a whole at most 10 of 30
            assert set(answers) <= {404, 429}
            assert 5 <= answers.count(404) <= 10, answers
            assert client.get("/api/v1/customers/nobody/risk",
                              headers={"Authorization": "Bearer rl_00000000_nope"}).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert server.returncode in (0, -15), server.stderr.read().decode()[-2000:] if server.stderr else ""

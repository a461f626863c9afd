"""API keys can be listed, revoked and expire (API and CLI), never showing a secret; expensive
routes are rate-limited per key (429 + Retry-After); the dashboard sends browser hardening headers."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session
from typer.testing import CliRunner

from ledger.config import Settings
from ledger.tables import ApiKey, utcnow
from serving.auth import create_key

API = "/api/v1"


def _key(db, role="analyst", name="temp", expires_at=None) -> tuple[str, dict]:
    with Session(db) as session:
        key = create_key(session=session, role=role, name=name, expires_at=expires_at)
        session.commit()
    return key, {"Authorization": f"Bearer {key}"}


def test_admins_list_keys_without_any_secret(client, keys, db):
    key, _ = _key(db)
    listing = client.get(f"{API}/keys", headers=keys["admin"])
    assert listing.status_code == 200
    with Session(db) as session:
        hashes = [k.key_hash for k in session.query(ApiKey).all()]
    assert all(h not in listing.text for h in hashes) and key not in listing.text
    assert key.split("_", 2)[2] not in listing.text
    rows = {k["name"]: k for k in listing.json()}
    assert rows["temp"]["prefix"] == key.split("_")[1] and rows["temp"]["status"] == "active"
    assert set(rows["temp"]) == {"prefix", "role", "name", "created_at", "expires_at", "revoked_at", "status"}
    for role in ("analyst", "agent", "billing"):
        assert client.get(f"{API}/keys", headers=keys[role]).status_code == 403


def test_a_revoked_key_is_refused_from_then_on(client, keys, db):
    key, headers = _key(db)
    assert client.get(f"{API}/me", headers=headers).status_code == 200
    prefix = key.split("_")[1]
    assert client.delete(f"{API}/keys/{prefix}", headers=keys["analyst"]).status_code == 403
    assert client.delete(f"{API}/keys/{prefix}", headers=keys["admin"]).status_code == 204
    assert client.get(f"{API}/me", headers=headers).status_code == 401
    assert client.delete(f"{API}/keys/nope", headers=keys["admin"]).status_code == 404
    status = {k["prefix"]: k["status"] for k in client.get(f"{API}/keys", headers=keys["admin"]).json()}
    assert status[prefix] == "revoked"


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_lifetime(client, app, db):
    """A revocation the serving process did not make (the CLI, another server, the database)
    takes effect once the key's cached answer is older than KEY_CACHE_SECONDS; an expiry at once."""
    import time

    from serving.auth import KEY_CACHE_SECONDS, KeyCache

    assert KEY_CACHE_SECONDS <= 5  # "briefly": the documented bound
    app.state.key_cache = KeyCache(ttl=0.5)
    key, headers = _key(db, name="elsewhere")
    assert client.get(f"{API}/me", headers=headers).status_code == 200  # verified, cached
    with Session(db) as session:
        stored = session.query(ApiKey).filter(ApiKey.prefix == key.split("_")[1]).one()
        stored.revoked_at = utcnow()
        session.commit()
    time.sleep(0.6)
    assert client.get(f"{API}/me", headers=headers).status_code == 401
    # expiry is checked on the cached answer too: no waiting for the cache to age
    app.state.key_cache = KeyCache(ttl=3600)
    key, headers = _key(db, name="soon", expires_at=utcnow() + dt.timedelta(seconds=1))
    assert client.get(f"{API}/me", headers=headers).status_code == 200
    time.sleep(1.1)
    assert client.get(f"{API}/me", headers=headers).status_code == 401


def test_an_expired_key_gets_401(client, keys, db):
    _, later = _key(db, name="later", expires_at=utcnow() + dt.timedelta(days=1))
    assert client.get(f"{API}/me", headers=later).status_code == 200
    key, past = _key(db, name="past", expires_at=utcnow() + dt.timedelta(days=1))
    with Session(db) as session:  # a day goes by
        stored = session.query(ApiKey).filter(ApiKey.prefix == key.split("_")[1]).one()
        stored.expires_at = utcnow() - dt.timedelta(seconds=1)
        session.commit()
    response = client.get(f"{API}/me", headers=past)
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    status = {k["name"]: k["status"] for k in client.get(f"{API}/keys", headers=keys["admin"]).json()}
    assert status["past"] == "expired" and status["later"] == "active"


def test_admins_create_expiring_keys_through_the_api(client, keys):
    expires = (utcnow() + dt.timedelta(days=30)).replace(microsecond=0)
    created = client.post(f"{API}/keys", json={"role": "billing", "name": "erp",
                                               "expires_at": expires.isoformat()}, headers=keys["admin"])
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith(f"rl_{body['prefix']}_") and body["role"] == "billing"
    me = client.get(f"{API}/me", headers={"Authorization": f"Bearer {body['key']}"}).json()
    assert dt.datetime.fromisoformat(me["expires_at"].replace("Z", "+00:00")) == expires
    bad = client.post(f"{API}/keys", json={"role": "boss"}, headers=keys["admin"])
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "role"


def test_expensive_routes_answer_429_with_retry_after(db, keys):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.risk import RiskService

    app = create_app(engine=db, risk=RiskService(), settings=Settings(RELANCE_RATE_LIMIT="3/minute"))
    with TestClient(app) as client:
        codes = [client.get(f"{API}/reports/aging", headers=keys["analyst"]).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = client.get(f"{API}/reports/aging", headers=keys["analyst"])
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "retry in" in refused.json()["detail"]
        # per key: the admin still has its own allowance; cheap routes are not counted
        assert client.get(f"{API}/reports/aging", headers=keys["admin"]).status_code == 200
        assert client.get(f"{API}/me", headers=keys["analyst"]).status_code == 200
        assert client.post(f"{API}/model/reload", headers=keys["analyst"]).status_code == 429


def test_each_worker_process_allows_its_share_of_the_limit():
    from serving.ratelimit import RateLimiter

    # 10 a minute over 2 processes: 5 in each, so never more than 10 on the server as a whole
    shared = RateLimiter("10/minute;100/day", processes=2)
    assert [shared.hit("k") is None for _ in range(6)] == [True] * 5 + [False]
    assert shared.hit("other") is None  # per key
    # a limit below the number of processes still lets each allow one request
    assert [RateLimiter("3/minute", processes=8).hit("k") is None for _ in range(1)] == [True]
    alone = RateLimiter("10/minute")
    assert sum(alone.hit("k") is None for _ in range(12)) == 10


def test_the_default_limit_is_generous():
    assert Settings().rate_limit == "600/minute"


def test_dashboard_and_api_send_browser_hardening_headers(client, keys):
    for path in ("/", "/login", "/static/app.js", f"{API}/me"):
        response = client.get(path, headers=keys["agent"])
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # FastAPI's Swagger UI loads its scripts from a CDN: no CSP there, the other headers stay
    docs = client.get("/docs")
    assert "content-security-policy" not in docs.headers and docs.headers["x-frame-options"] == "DENY"


def _cli(monkeypatch, tmp_path, *args):
    from ledger.config import get_settings
    from ledger.db import get_engine
    from serving.cli import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'keys.db'}")
    get_settings.cache_clear(), get_engine.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear(), get_engine.cache_clear()


def test_cli_keys_list_revoke_and_expiry(monkeypatch, tmp_path):
    created = _cli(monkeypatch, tmp_path, "keys", "create", "--role", "agent", "--name", "julie",
                   "--expires", "90d")
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    prefix = key.split("_")[1]
    assert "expire le" in created.output
    listing = _cli(monkeypatch, tmp_path, "keys", "list")
    assert listing.exit_code == 0 and prefix in listing.output and "julie" in listing.output
    assert key.split("_", 2)[2][:12] not in listing.output and "active" in listing.output
    revoked = _cli(monkeypatch, tmp_path, "keys", "revoke", prefix)
    assert revoked.exit_code == 0 and "révoquée" in revoked.output
    assert "révoquée" in _cli(monkeypatch, tmp_path, "keys", "list").output
    missing = _cli(monkeypatch, tmp_path, "keys", "revoke", "nope")
    assert missing.exit_code == 2 and "nope" in missing.output
    for bad in ("tomorrow", "2001-01-01"):
        refused = _cli(monkeypatch, tmp_path, "keys", "create", "--role", "agent", "--expires", bad)
        assert refused.exit_code == 2 and bad in refused.output

"""The pages' session (a key exchanged once for an HttpOnly cookie, CSRF double submit) and the
server-side formatting the pages show (`POST /formats`, serving/money.py), without a browser."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from sqlmodel import Session

from serving import money
from serving.web.session import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, SESSION_HOURS


def _key(keys, role: str) -> str:
    return keys[role]["Authorization"].split(" ", 1)[1]


def _sign_in(client, keys, role: str = "agent"):
    answer = client.post("/session", json={"api_key": _key(keys, role)})
    assert answer.status_code == 200, answer.text
    return answer


def test_sign_in_sets_an_httponly_strict_cookie_that_expires(client, keys):
    answer = _sign_in(client, keys)
    assert answer.json() == {"name": "test-agent", "role": "agent", "hours": SESSION_HOURS}
    cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
    session, csrf = cookies[SESSION_COOKIE], cookies[CSRF_COOKIE]
    for cookie in (session, csrf):
        assert "samesite=strict" in cookie and f"max-age={SESSION_HOURS * 3600}" in cookie and "path=/" in cookie
    assert "httponly" in session and "httponly" not in csrf  # the page reads the CSRF token only
    # the cookie holds no key: its prefix, an expiry and a signature
    token = client.cookies[SESSION_COOKIE]
    assert _key(keys, "agent") not in token and token.split(".")[0] == _key(keys, "agent").split("_")[1]
    # the cookie alone authenticates a read
    assert client.get("/api/v1/me").json()["name"] == "test-agent"


def test_a_bad_key_opens_no_session(client, keys):
    answer = client.post("/session", json={"api_key": "rl_00000000_nope"})
    assert answer.status_code == 401 and SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert client.post("/session", json={}).status_code == 422
    assert client.get("/api/v1/me").status_code == 401


def test_a_change_needs_the_csrf_token(client, keys):
    _sign_in(client, keys, "analyst")
    body = {"agent": "someone", "customer_ids": []}
    refused = client.post("/api/v1/worklist/assignments", json=body)
    assert refused.status_code == 403 and CSRF_HEADER in refused.json()["detail"]
    wrong = client.post("/api/v1/worklist/assignments", json=body, headers={CSRF_HEADER: "guess"})
    assert wrong.status_code == 403
    # with the token the request reaches the route (which judges the body itself)
    right = client.post("/api/v1/worklist/assignments", json=body,
                        headers={CSRF_HEADER: client.cookies[CSRF_COOKIE]})
    assert right.status_code not in (401, 403), right.text


def test_a_forged_expired_or_revoked_session_is_refused(client, keys, db):
    _sign_in(client, keys)
    prefix, expires, signature = client.cookies[SESSION_COOKIE].split(".")
    for forged in (f"{prefix}.{int(expires) + 3600}.{signature}",     # a longer life, same signature
                   f"{prefix}.{int(time.time()) - 1}.{signature}",      # expired
                   f"{prefix}.{expires}.{'0' * 64}", "garbage", f"{prefix}.x.{signature}"):
        client.cookies.set(SESSION_COOKIE, forged)
        assert client.get("/api/v1/me").status_code == 401, forged
    client.cookies.set(SESSION_COOKIE, f"{prefix}.{expires}.{signature}")
    assert client.get("/api/v1/me").status_code == 200
    from serving.auth import revoke_key

    with Session(db) as session:
        revoke_key(session=session, prefix=prefix, actor="test")
        session.commit()
    assert client.get("/api/v1/me").status_code == 401  # the key's revocation ends its sessions


def test_logout_clears_both_cookies(client, keys):
    _sign_in(client, keys)
    assert client.post("/session/logout").status_code == 403  # another site cannot sign you out
    answer = client.post("/session/logout", headers={CSRF_HEADER: client.cookies[CSRF_COOKIE]})
    assert answer.status_code == 204
    cleared = [c.lower() for c in answer.headers.get_list("set-cookie")]
    assert len(cleared) == 2 and all("max-age=0" in c for c in cleared)
    assert client.get("/api/v1/me").status_code == 401


def test_a_bearer_key_still_wins_over_the_cookie(client, keys):
    _sign_in(client, keys, "agent")
    assert client.get("/api/v1/me", headers=keys["analyst"]).json()["role"] == "analyst"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_formats_are_serving_money_s(client, keys, lang):
    amounts = [("1234.5", "EUR"), ("191810", "GBP"), ("-90551.01", "USD"), ("0", "CHF"), ("1000", "MAD"),
               ("0.005", "EUR"), ("12345.675", "EUR")]
    days = ["2024-12-31", "2026-01-02"]
    assert client.post("/formats", json={"dates": ["2024-12-31"]}).status_code == 401  # signed-in users only
    answer = client.post("/formats", headers=keys["agent"], json={"lang": lang, "money": [{"amount": a, "currency": c} for a, c in amounts],
                                           "whole_money": [{"amount": "2011525.71", "currency": "EUR"},
                                                           {"amount": "-1500.50", "currency": "USD"}],
                                           "dates": days, "numbers": ["59.43", "0.8123", "1234567"],
                                           "percents": [0.8367, 0, 1]})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["money"] == [money.money(Decimal(a), c, lang) for a, c in amounts]
    assert got["dates"] == [money.date(dt.date.fromisoformat(d), lang) for d in days]
    assert got["percents"] == [money.percent(p, lang) for p in (0.8367, 0, 1)]
    assert got["whole_money"] == [money.whole_money(Decimal("2011525.71"), "EUR", lang),
                                  money.whole_money(Decimal("-1500.50"), "USD", lang)]
    if lang == "fr":
        assert got["money"][:2] == ["1\u202f234,50\xa0€", "191\u202f810,00\xa0£GB"]
        assert got["whole_money"] == ["2\u202f011\u202f526\xa0€", "-1\u202f501\xa0$US"]  # half up
        assert got["numbers"] == ["59,4", "0,812", "1\u202f234\u202f567"] and got["dates"][0] == "31/12/2024"
    else:
        assert got["whole_money"] == ["€2,011,526", "-US$1,501"]
        assert got["money"][:2] == ["€1,234.50", "£191,810.00"] and got["numbers"] == ["59.4", "0.812", "1,234,567"]


@pytest.mark.parametrize("body", [
    {"money": [{"amount": "NaN", "currency": "EUR"}]}, {"money": [{"amount": "1", "currency": "eur"}]},
    {"money": [{"amount": "1e30", "currency": "EUR"}]}, {"dates": ["2024-02-30"]}, {"lang": "de"},
    {"numbers": ["1"] * 5001}])
def test_formats_refuse_what_they_cannot_write(client, keys, body):
    answer = client.post("/formats", json=body, headers=keys["agent"])
    assert answer.status_code == 422 and answer.json()["errors"], answer.text

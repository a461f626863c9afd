"""Item 8 of issue 13: webhooks go only to public addresses (checked at creation and at each
delivery, connecting to the address checked), keep status codes not bodies, and sign the
timestamp with the body so receivers can refuse replays."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, select

from ledger.errors import LedgerValidationError
from ledger.webhooks import (
    AddressRefused,
    Delivery,
    create_subscriber,
    deliver_pending,
    public_address,
    sign,
    verify,
)
from tests.integrations.test_webhooks import SECRET, T0, emit, receiving

REAL_GETADDRINFO = socket.getaddrinfo


def _dns(monkeypatch, answers: dict[str, str]) -> None:
    """Answer these names with these addresses; any other name as the system would."""

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/hook", "http://localhost:8080/hook", "http://[::1]/hook",
    "http://10.0.0.5/hook", "http://192.168.1.1/hook", "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://100.100.100.200/",
    "http://0.0.0.0/", "http://224.0.0.1/", "http://240.0.0.1/", "http://[::ffff:127.0.0.1]/",
    "http://2130706433/", "http://user:pw@93.184.215.14/"])
def test_creation_refuses_non_public_addresses(db, url):
    with Session(db) as session, pytest.raises(LedgerValidationError) as raised:
        create_subscriber(session=session, url=url, events=["invoice.late"])
    assert [e.field for e in raised.value.errors] == ["url"]


def test_a_name_resolving_to_a_private_address_is_refused(db, monkeypatch):
    _dns(monkeypatch, {"hooks.customer.test": "10.1.2.3"})
    with Session(db) as session, pytest.raises(LedgerValidationError, match="10.1.2.3"):
        create_subscriber(session=session, url="https://hooks.customer.test/x", events=["invoice.late"])


def test_the_api_answers_422_naming_the_url(client, keys):
    response = client.post("/api/v1/webhooks", headers=keys["admin"],
                           json={"url": "http://169.254.169.254/latest/", "events": ["invoice.late"]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "url"
    assert "public addresses" in response.json()["errors"][0]["message"]


def test_loopback_only_through_the_setting(loopback_webhooks):
    assert public_address("127.0.0.1", 80) == "127.0.0.1"
    with pytest.raises(AddressRefused):
        public_address("10.0.0.1", 80)  # private stays refused even then


def test_delivery_checks_again_and_a_rebound_name_gets_nothing(db, monkeypatch):
    """Public at creation, loopback at delivery (DNS rebinding): refused, nothing sent."""
    with receiving() as receiver:
        port = receiver.server.server_address[1]
        _dns(monkeypatch, {"rebind.test": "93.184.215.14"})
        with Session(db) as session:
            create_subscriber(session=session, url=f"http://rebind.test:{port}/hook",
                              events=["invoice.late"], secret=SECRET)
            session.commit()
        _dns(monkeypatch, {"rebind.test": "127.0.0.1"})
        emit(db, "invoice.late")
        report = deliver_pending(engine=db, now=T0)
    assert receiver.requests == [] and report.retrying == 1
    with Session(db) as session:
        assert "refused" in session.exec(select(Delivery)).first().error


def test_delivery_connects_to_the_checked_address_with_the_name_in_host(db, monkeypatch,
                                                                      loopback_webhooks):
    """`receiver.test` exists only in our resolver: the request reaches the receiver because
    the client connects to the address checked, not to a name it would resolve again."""
    with receiving() as receiver:
        port = receiver.server.server_address[1]
        _dns(monkeypatch, {"receiver.test": "127.0.0.1"})
        with Session(db) as session:
            create_subscriber(session=session, url=f"http://receiver.test:{port}/hook",
                              events=["invoice.late"], secret=SECRET)
            session.commit()
        emit(db, "invoice.late")
        assert deliver_pending(engine=db, now=T0).delivered == 1
    headers, _ = receiver.requests[0]
    assert headers["Host"] == f"receiver.test:{port}"


class _Leaky(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        secret = b'{"internal": "db-password=hunter2"}'
        self.send_response(500)
        self.send_header("Content-Length", str(len(secret)))
        self.end_headers()
        self.wfile.write(secret)

    def log_message(self, *args):
        pass


def test_the_log_keeps_the_status_code_not_the_body(db, loopback_webhooks):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Leaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Session(db) as session:
            create_subscriber(session=session, url=f"http://127.0.0.1:{server.server_address[1]}/",
                              events=["invoice.late"], secret=SECRET)
            session.commit()
        emit(db, "invoice.late")
        deliver_pending(engine=db, now=T0)
    finally:
        server.shutdown()
        server.server_close()
    with Session(db) as session:
        delivery = session.exec(select(Delivery)).first()
    assert (delivery.response_code, delivery.error) == (500, "HTTP 500")


def test_the_signature_covers_the_timestamp_and_old_requests_are_refused():
    body = b'{"id":1}'
    now = int(time.time())
    signature = sign(SECRET, body, now)
    assert verify(SECRET, body, signature, str(now))
    assert not verify(SECRET, body, signature, str(now + 1))  # the timestamp is signed
    assert not verify(SECRET, body + b" ", signature, str(now))
    stale = now - 3600
    assert not verify(SECRET, body, sign(SECRET, body, stale), str(stale))  # a replay an hour later
    assert verify(SECRET, body, sign(SECRET, body, stale), str(stale), now=stale + 10)
    assert not verify(SECRET, body, signature, None)

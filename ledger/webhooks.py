"""Webhooks: domain events from the outbox (`Event`), pushed to subscribers over HTTP.

- a subscriber has a URL (http or https), the event types it wants and a secret;
- `deliver_pending` fans every new event out to the active subscribers of its type (each
  subscriber keeps a cursor, the last event id it has been given), then POSTs what is due;
- each POST carries `X-Relance-Timestamp: <unix seconds>` and `X-Relance-Signature:
  sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<raw body>` with the subscriber's secret: the
  receiver checks who sent it, that nothing changed, and that it is recent (`verify` refuses a
  timestamp more than 5 minutes away, so a captured request cannot be replayed later);
- the subscriber's host is resolved and every address it resolves to must be public: loopback,
  private, link-local (cloud metadata), multicast, reserved and unspecified addresses are
  refused, at creation and again at each delivery, and the request goes to the address that
  was checked (the URL's name only travels in `Host` and TLS SNI), so a DNS answer that
  changes between the check and the connection cannot redirect it. `WEBHOOKS_ALLOW_LOOPBACK=1`
  lets loopback through, for tests and a developer's machine only;
- the log keeps the receiver's status code, never its body (an internal service's answer is
  nobody's business here);
- one `Delivery` row per attempt is the delivery log: a failed attempt schedules the next one
  at now + base × 2^attempt, and after `max_attempts` the delivery is given up (`failed`);
- an event is delivered once per subscriber on success: a delivered row is never retried.

HTTP runs outside database transactions; a due attempt is claimed first (pending → sending), so
two runs at once never send the same attempt twice.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ledger.config import get_settings
from ledger.errors import FieldError, LedgerValidationError, NotFoundError
from ledger.tables import Delivery, Event, Subscriber, utcnow

EVENT_TYPES = ("action.planned", "action.sent", "invoice.late", "dispute.opened", "promise.broken",
               "risk.grade_changed", "credit.limit_exceeded")
SIGNATURE_HEADER = "X-Relance-Signature"
EVENT_HEADER = "X-Relance-Event"
TIMESTAMP_HEADER = "X-Relance-Timestamp"
DELIVERY_HEADER = "X-Relance-Delivery"
BASE_DELAY = dt.timedelta(seconds=30)
TIMEOUT = 10.0
BATCH = 500
TOLERANCE_SECONDS = 300


class AddressRefused(Exception):
    """The subscriber's host is not (only) public addresses, or does not resolve."""


@dataclass
class DeliveryReport:
    fanned_out: int = 0
    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


# --- subscribers -------------------------------------------------------------------------------

def validate_subscriber(*, url: str, events: Iterable[str], check_address: bool = True,
                        allow_loopback: bool | None = None) -> list[str]:
    """The event list, checked; a LedgerValidationError names the bad field otherwise."""
    errors: list[FieldError] = []
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        errors.append(FieldError("url", f"{url!r} is not an http(s) URL"))
    elif parts.username or parts.password:
        errors.append(FieldError("url", "the URL carries credentials: use the signing secret instead"))
    elif check_address:
        try:
            public_address(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                           allow_loopback=allow_loopback)
        except AddressRefused as exc:
            errors.append(FieldError("url", str(exc)))
    events = list(dict.fromkeys(events))
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        errors.append(FieldError("events", f"unknown event type(s) {', '.join(unknown)}; "
                                           f"known: {', '.join(EVENT_TYPES)}"))
    if not events:
        errors.append(FieldError("events", "at least one event type is needed"))
    if errors:
        raise LedgerValidationError(errors)
    return events


def create_subscriber(*, session: Session, url: str, events: Iterable[str], secret: str | None = None,
                      active: bool = True, check_address: bool = True,
                      allow_loopback: bool | None = None) -> Subscriber:
    """A new subscriber; it receives the events recorded from now on (secret generated if none).

    `check_address=False` skips resolving the host now (a seeded database offline); delivery
    checks it all the same."""
    checked = validate_subscriber(url=url, events=events, check_address=check_address,
                                  allow_loopback=allow_loopback)
    if secret is not None and len(secret) < 16:
        raise LedgerValidationError([FieldError("secret", "at least 16 characters")])
    last = session.execute(select(func.max(Event.id))).scalar() or 0
    subscriber = Subscriber(url=url, events=checked, secret=secret or secrets.token_urlsafe(32),
                            active=active, last_event_id=last)
    session.add(subscriber)
    session.flush()
    return subscriber


def list_subscribers(*, session: Session) -> list[Subscriber]:
    return list(session.exec(select(Subscriber).order_by(Subscriber.id)))


def deactivate_subscriber(*, session: Session, subscriber_id: int) -> Subscriber:
    """Stop sending to a subscriber; its log stays, its pending attempts are cancelled."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFoundError("webhook subscriber", str(subscriber_id))
    subscriber.active = False
    session.execute(update(Delivery).where(Delivery.subscriber_id == subscriber_id)
                    .where(Delivery.status == "pending").values(status="cancelled"))
    session.flush()
    return subscriber


def list_deliveries(*, session: Session, subscriber_id: int | None = None, status: str | None = None,
                    limit: int = 100, offset: int = 0) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.id.desc())
    if subscriber_id is not None:
        query = query.where(Delivery.subscriber_id == subscriber_id)
    if status is not None:
        query = query.where(Delivery.status == status)
    return list(session.exec(query.offset(offset).limit(limit)))


# --- addresses -----------------------------------------------------------------------------------

def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    if allow_loopback and address.is_loopback:
        return True
    # is_global is False for private, loopback, link-local (169.254.169.254: cloud metadata),
    # shared (100.64/10), reserved, documentation and unspecified ranges
    return address.is_global and not address.is_multicast


def public_address(host: str, port: int, *, allow_loopback: bool | None = None) -> str:
    """The address to connect to for `host`, once every address it resolves to is allowed."""
    if allow_loopback is None:
        allow_loopback = get_settings().webhooks_allow_loopback
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [literal]
    except ValueError:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise AddressRefused(f"the host {host!r} does not resolve ({exc})") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0])
                                       for info in found))
    if not addresses:
        raise AddressRefused(f"the host {host!r} does not resolve")
    refused = [str(a) for a in addresses if not _allowed(a, allow_loopback)]
    if refused:
        raise AddressRefused(f"the host {host!r} resolves to {', '.join(refused)}: webhooks go only "
                             "to public addresses (not loopback, private, link-local, multicast "
                             "or reserved ones)")
    return str(addresses[0])


def _pinned_request(url: str, allow_loopback: bool | None) -> tuple[str, str, str]:
    """(URL with the checked address in place of the name, Host header, TLS server name)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = public_address(host, port, allow_loopback=allow_loopback)
    shown = f"[{address}]" if ":" in address else address
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    host_header = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl(), host_header, host


# --- signing -----------------------------------------------------------------------------------

def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """The signature header's value: HMAC-SHA256 of `<timestamp>.<body>`."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str, timestamp: str | None, *,
           tolerance: int = TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """What a receiver does: the timestamp is recent, and the signature of `<timestamp>.<body>`
    matches (constant-time comparison)."""
    if not timestamp or not str(timestamp).isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), signature or "")


def event_body(event: Event) -> bytes:
    created = event.created_at
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=dt.UTC)
    return json.dumps({"id": event.id, "type": event.type, "created_at": created.isoformat(),
                       "data": event.payload or {}}, default=str, separators=(",", ":"),
                      ensure_ascii=False).encode()


# --- delivery ----------------------------------------------------------------------------------

def deliver_pending(*, engine: Engine | None = None, session_factory: Callable[[], Session] | None = None,
                    now: dt.datetime | None = None, max_attempts: int = 5,
                    base_delay: dt.timedelta = BASE_DELAY, client: httpx.Client | None = None,
                    allow_loopback: bool | None = None) -> DeliveryReport:
    """Fan new events out, then make every attempt due at `now`; see the module docstring."""
    if (engine is None) == (session_factory is None):
        raise ValueError("pass exactly one of engine= or session_factory=")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    factory = session_factory or (lambda: Session(engine, expire_on_commit=False))
    now = now or utcnow()
    report = DeliveryReport()
    report.fanned_out = fan_out(session_factory=factory, now=now)
    own_client = client is None
    client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
    try:
        for delivery_id in _due(factory, now):
            _attempt(factory, client, delivery_id, now=now, max_attempts=max_attempts,
                     base_delay=base_delay, report=report, allow_loopback=allow_loopback)
    finally:
        if own_client:
            client.close()
    return report


def fan_out(*, session_factory: Callable[[], Session], now: dt.datetime) -> int:
    """One pending first attempt per (new event, active subscriber of its type)."""
    created = 0
    with session_factory() as session:
        for subscriber in session.exec(select(Subscriber).where(Subscriber.active)).all():
            events = session.exec(select(Event).where(Event.id > subscriber.last_event_id)
                                  .order_by(Event.id)).all()
            wanted = set(subscriber.events)
            for event in events:
                if event.type in wanted:
                    session.add(Delivery(subscriber_id=subscriber.id, event_id=event.id, attempt=1,
                                         next_attempt_at=now))
                    created += 1
            if events:
                subscriber.last_event_id = events[-1].id
                session.add(subscriber)
        session.commit()
    return created


def _due(factory: Callable[[], Session], now: dt.datetime) -> list[int]:
    with factory() as session:
        return list(session.exec(select(Delivery.id).where(Delivery.status == "pending")
                                 .where(Delivery.next_attempt_at <= now)
                                 .order_by(Delivery.next_attempt_at, Delivery.id)))


def _attempt(factory: Callable[[], Session], client: httpx.Client, delivery_id: int, *,
             now: dt.datetime, max_attempts: int, base_delay: dt.timedelta,
             report: DeliveryReport, allow_loopback: bool | None) -> None:
    with factory() as session:
        claimed = session.execute(update(Delivery).where(Delivery.id == delivery_id)
                                  .where(Delivery.status == "pending")
                                  .values(status="sending", attempted_at=utcnow()))
        session.commit()
        if claimed.rowcount != 1:
            return  # another run took it
        delivery = session.get(Delivery, delivery_id)
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        event = session.get(Event, delivery.event_id)
        body = event_body(event)
        # signed when sent (each retry anew): the receiver measures its age against its clock
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", EVENT_HEADER: event.type,
                   DELIVERY_HEADER: str(delivery.id), TIMESTAMP_HEADER: stamp,
                   SIGNATURE_HEADER: sign(subscriber.secret, body, stamp),
                   "User-Agent": "Relance-Webhooks/1"}
        url = subscriber.url

    report.attempted += 1
    try:
        target, host_header, server_name = _pinned_request(url, allow_loopback)
    except AddressRefused as exc:
        code, error = None, f"refused: {exc}"
    else:
        code, error = _post(client, target, body, {**headers, "Host": host_header}, server_name)

    with factory() as session:
        delivery = session.get(Delivery, delivery_id)
        delivery.response_code = code
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", utcnow()
            report.delivered += 1
        elif delivery.attempt >= max_attempts:
            delivery.status, delivery.error = "failed", error[:500]
            report.failed += 1
            report.errors.append(f"{url}: {error}")
        else:
            delivery.status, delivery.error = "error", error[:500]
            session.add(Delivery(subscriber_id=delivery.subscriber_id, event_id=delivery.event_id,
                                 attempt=delivery.attempt + 1,
                                 next_attempt_at=now + base_delay * 2 ** delivery.attempt))
            report.retrying += 1
        session.add(delivery)
        session.commit()


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str],
          server_name: str) -> tuple[int | None, str | None]:
    """(status code, error or None); any 2xx is a success, anything else is retried. The body
    of the answer is never read into the log: only its status code is kept."""
    try:
        response = client.post(url, content=body, headers=headers,
                               extensions={"sni_hostname": server_name})
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"

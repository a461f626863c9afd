"""Tables of dunning beside the core `DunningAction`: consolidated reminders, and the scenarios
and templates analysts edit."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from ledger.tables.records import utcnow


class ScenarioRecord(SQLModel, table=True):
    """A scenario edited by an analyst; shipped defaults apply for names without a record."""

    name: str = Field(primary_key=True, max_length=64)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_by: str | None = Field(default=None, max_length=100)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class TemplateRecord(SQLModel, table=True):
    """A reminder template edited by an analyst (`email_firm.fr.j2`), replacing the shipped file."""

    name: str = Field(primary_key=True, max_length=64)
    source: str = Field(sa_column=Column(Text, nullable=False))
    updated_by: str | None = Field(default=None, max_length=100)
    updated_at: dt.datetime = Field(default_factory=utcnow)


class Reminder(SQLModel, table=True):
    """One consolidated message to a customer on one channel, grouping the actions sharing its id.

    The text is rendered when the reminder is sent and kept, so what was sent can be read back.
    """

    reminder_id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customer.customer_id", index=True, max_length=64)
    run_date: dt.date = Field(index=True)
    send_on: dt.date
    channel: str = Field(max_length=16)
    tone: str = Field(max_length=16)
    template: str | None = Field(default=None, max_length=64)
    language: str = Field(default="fr", max_length=2)
    claim_penalties: bool = False
    subject: str | None = None
    body_text: str | None = Field(default=None, sa_column=Column(Text))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    rendered_at: dt.datetime | None = None
    # letters and formal notices: posted (registered-letter number for a recommandé avec AR),
    # then delivered (the date on the acknowledgement of receipt)
    posted_on: dt.date | None = None
    registered_number: str | None = Field(default=None, max_length=64)
    delivered_on: dt.date | None = None
    created_at: dt.datetime = Field(default_factory=utcnow)



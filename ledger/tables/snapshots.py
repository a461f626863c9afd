"""Month-end receivable snapshots (`ledger/snapshots.py` keeps them; migration 0018 adds the
table and the triggers that forget them)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlmodel import Field, SQLModel


class ReceivableSnapshot(SQLModel, table=True):
    __tablename__ = "receivablesnapshot"
    on_date: dt.date = Field(primary_key=True)
    # "*" every customer, else "segment:<name>"; daily sales behind "sales:" (migration 0024)
    scope: str = Field(primary_key=True, max_length=96)
    bucket: str = Field(primary_key=True, max_length=8)     # "" on the marker row
    currency: str = Field(primary_key=True, max_length=3)   # "" on the marker row
    invoices: int
    amount: Decimal = Field(max_digits=18, decimal_places=2)


class DunningSnapshot(SQLModel, table=True):
    """Dunning effectiveness of the reminders sent in one closed month (`ledger.kpis`; migration
    0028 adds the table and the triggers that forget it): per step, channel, tone and currency,
    the reminders counted and those settled within 7, 14 and 30 days."""

    __tablename__ = "dunningsnapshot"
    month_end: dt.date = Field(primary_key=True)
    scope: str = Field(primary_key=True, max_length=96)    # "*" or "segment:<name>"
    step: str = Field(primary_key=True, max_length=64)     # "" for none
    channel: str = Field(primary_key=True, max_length=16)
    tone: str = Field(primary_key=True, max_length=16)     # "" for none
    currency: str = Field(primary_key=True, max_length=3)  # "" on the marker row
    sent: int
    settled_7: int
    settled_14: int
    settled_30: int

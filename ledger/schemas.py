"""What the billing system sends: validated input records (API bodies and ledger files alike).

Each validator says what is wrong in a sentence; the API turns the location into a field name
such as `invoices[3].due_date`.

The bounds of every business date and every string a client sends live here, once:
`BusinessDate` (1900-01-01 … 2199-12-31, inside what pandas and the database can hold),
`promise_horizon` (a promise at most one year ahead), and `check_text` (no NUL, no control
character, no lone surrogate: PostgreSQL refuses the first and no encoder takes the last).
"""
from __future__ import annotations

import copy
import datetime as dt
import re
import unicodedata
from decimal import Decimal
from operator import attrgetter
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import SchemaValidator, core_schema

from ledger.config import get_settings
from ledger.gc_pause import paused_gc
from ledger.workflow import DisputeStatus

MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2199, 12, 31)
# the database CHECK constraints (migration 0011) repeat these bounds as SQL
DATE_RANGE_SQL = (MIN_DATE.isoformat(), MAX_DATE.isoformat())
LINE_BREAKS = frozenset("\t\n\r")


def check_date(value: dt.date) -> dt.date:
    """A business date within 1900-01-01 … 2199-12-31, or a ValueError saying so."""
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"{value.isoformat()} is outside the accepted dates "
                         f"{MIN_DATE.isoformat()} … {MAX_DATE.isoformat()}")
    return value


def in_date_range(value: dt.date | None) -> bool:
    """Whether a stored date is one readers can work with (rows from before the bounds may not)."""
    return value is None or MIN_DATE <= value <= MAX_DATE


def dates_in_range(row, *columns: str) -> bool:
    """Whether every named date of a stored row (a mapping or an object) is in range."""
    get = row.get if isinstance(row, dict) else (lambda name: getattr(row, name))
    for column in columns:  # a plain loop: bulk routes ask it for every invoice of a batch
        value = get(column)
        if type(value) is not dt.date:
            value = _as_date(value)
        if value is not None and not MIN_DATE <= value <= MAX_DATE:
            return False
    return True


def _as_date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:  # SQLite hands raw text back where no column type applies
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return dt.date.min


def promise_horizon(today: dt.date) -> dt.date:
    """The latest date a promise to pay may name: one year after `today`."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)


# every character of Unicode category Cc (C0, DEL, C1) or Cs (surrogates): one regex search finds
# the first in C, so a clean string (nearly all of a 100,000-record batch) costs no Python loop
_UNFIT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNFIT_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """What makes `value` unfit to store (a NUL, a control character, a lone surrogate), or None."""
    if (_UNFIT_MULTILINE if multiline else _UNFIT).search(value) is None:
        return None
    for position, char in enumerate(value):
        if multiline and char in LINE_BREAKS:
            continue
        category = unicodedata.category(char)
        if category == "Cc":
            return f"contains the control character U+{ord(char):04X} at position {position}"
        if category == "Cs":
            return f"contains an unpaired surrogate U+{ord(char):04X} at position {position}"
    return None


def check_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def check_multiline(value: str) -> str:
    problem = text_problem(value, multiline=True)
    if problem:
        raise ValueError(problem)
    return value


BusinessDate = Annotated[dt.date, AfterValidator(check_date)]


def Line(max_length: int, *, min_length: int = 0):  # noqa: N802  (a type, spelt like one)
    """One line of text: stripped, at most `max_length` characters, no control character."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,
                                            max_length=max_length), AfterValidator(check_text)]


def Paragraphs(max_length: int, *, min_length: int = 1):  # noqa: N802
    """Free text (notes, comments, templates): line breaks and tabs allowed, other controls not."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,
                                            max_length=max_length), AfterValidator(check_multiline)]


Id = Line(64, min_length=1)
AgentName = Line(64, min_length=1)  # an agent a record is assigned to
NoteText = Paragraphs(5000)  # a note, a comment on a dispute, a promise's note
Email = Annotated[EmailStr, StringConstraints(max_length=200)]
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=2, allow_inf_nan=False)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3,
                                            max_length=3)]


def _known_currency(value: str | None) -> str | None:
    if value is not None and value not in get_settings().currency_codes:
        raise ValueError(f"unknown currency code {value!r} (ISO 4217, e.g. EUR)")
    return value


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class CustomerIn(_Record):
    customer_id: Id
    name: Line(200) | None = None
    country: Annotated[str, StringConstraints(to_upper=True, pattern=r"^[A-Z]{2}$")] | None = None
    language: Literal["fr", "en"] = "fr"
    segment: Line(64) | None = None
    # one address, validated (no display name lists, no CR/LF: it becomes an e-mail header)
    email: Email | None = None
    phone: Line(40) | None = None
    payment_terms_days: int | None = Field(default=None, ge=0, le=365)
    credit_limit: Money | None = Field(default=None, ge=0)
    currency: Currency = "EUR"
    # must name a stored scenario, or a key of its segment → scenario table (checked by ingest)
    dunning_scenario: Line(64) | None = None
    # the postal address letters and formal notices are sent to
    address: Line(300) | None = None
    postal_code: Line(16) | None = None
    city: Line(100) | None = None
    # statuses (ledger.statuses): sent only when set, so a batch never clears them by omission
    customer_type: Literal["business", "consumer", "public_sector"] = "business"
    on_hold: bool = False
    on_hold_reason: Line(200) | None = None
    on_hold_until: Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))] | None = None
    insolvency_date: Annotated[dt.date, Field(ge=dt.date(1990, 1, 1), le=dt.date(2100, 12, 31))] | None = None

    _currency = field_validator("currency")(_known_currency)

    @model_validator(mode="after")
    def _hold_until_needs_hold(self) -> CustomerIn:
        # "on hold until D" sent without on_hold means on hold; on_hold=false with a date is a
        # contradiction the sender must resolve
        if self.on_hold_until is not None and "on_hold" not in self.model_fields_set:
            self.on_hold = True
        elif self.on_hold_until is not None and not self.on_hold:
            raise ValueError("on_hold_until is set but on_hold is false: send on_hold true, or no date")
        return self


class InvoiceIn(_Record):
    invoice_id: Id
    customer_id: Id
    issue_date: BusinessDate
    due_date: BusinessDate
    amount: Money = Field(gt=0)
    currency: Currency = "EUR"
    kind: Literal["invoice", "credit_note"] = "invoice"
    applies_to: Id | None = None

    _currency = field_validator("currency")(_known_currency)

    @field_validator("applies_to")
    @classmethod
    def _only_credit_notes(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind") != "credit_note":
            raise ValueError("only a credit note can apply to an invoice")
        return value

    @field_validator("due_date")
    @classmethod
    def _due_after_issue(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        issue = info.data.get("issue_date")
        if issue is not None and value < issue:
            raise ValueError(f"the due date {value} is before the issue date {issue}")
        return value


class PaymentIn(_Record):
    payment_id: Id
    customer_id: Id
    paid_on: BusinessDate
    amount: Money = Field(gt=0)
    currency: Currency = "EUR"
    invoice_id: Id | None = None

    _currency = field_validator("currency")(_known_currency)


class DisputeIn(_Record):
    dispute_id: Id
    invoice_id: Id
    opened_on: BusinessDate
    reason: Line(64) | None = None
    # a status of the workflow (`ledger.workflow`): anything else is refused, naming the field
    status: DisputeStatus = DisputeStatus.OPEN  # a StrEnum: stored and serialised as its value
    resolved_on: BusinessDate | None = None
    amount: Money | None = Field(default=None, gt=0)


# --- a large batch, a column at a time --------------------------------------------------------
# Validating 100,000 invoices record by record calls back into Python about six times a record
# (the checks above: ids, dates, currency, due date, applies_to). A large batch's invoices and
# payments go instead through validators built from the same schemas' core schemas with those
# checks left out (parsing, stripping, lengths, decimals, literals, defaults stay pydantic's),
# then the left-out checks run once per column on the validated values. They only accept or
# refuse (each returns its value unchanged), so a batch passing both is exactly what the plain
# schemas give; on any error the whole batch goes through the plain schemas, whose 422 (field
# and sentence, every error) is the answer. tests/ledger/test_batch_columns.py checks both.

COLUMNS_MIN = 1_000  # invoices + payments below which the plain schemas are as quick
_COLUMN_CHECKED = frozenset({"check_text", "check_date", "_known_currency", "_due_after_issue",
                             "_only_credit_notes"})


def _strip_checks(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_checks(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "function-after":
        function = node["function"]["function"]
        if getattr(getattr(function, "__func__", function), "__name__", "") in _COLUMN_CHECKED:
            return _strip_checks(node["schema"])
    return {key: value if key in ("function", "config", "metadata", "cls") else _strip_checks(value)
            for key, value in node.items()}


def _lenient(schema: type[BaseModel]) -> SchemaValidator:
    """A validator of `list[schema]` from the schema's own core schema, `_COLUMN_CHECKED` left
    out (any other Python validator stays in). pydantic-core reuses a complete model's own
    validator wherever its schema appears: the class is marked incomplete while this is built."""
    stripped = _strip_checks(copy.deepcopy(schema.__pydantic_core_schema__))
    complete = schema.__dict__["__pydantic_complete__"]
    type.__setattr__(schema, "__pydantic_complete__", False)
    try:
        return SchemaValidator(core_schema.list_schema(stripped))
    finally:
        type.__setattr__(schema, "__pydantic_complete__", complete)


_LENIENT = {InvoiceIn: _lenient(InvoiceIn), PaymentIn: _lenient(PaymentIn)}


class _Refused(Exception):
    """A left-out check refuses a value: the plain schemas say how."""


def column_records(schema: type[InvoiceIn] | type[PaymentIn], rows: Any) -> list[Any]:
    """`rows` as `schema` records, equal to the plain schema's; raises `ValidationError` or
    `_Refused` (not the plain schema's report) when a value is refused."""
    records: list[Any] = _LENIENT[schema].validate_python(rows)
    if not records:
        return records
    fields = schema.model_fields
    for name in ("invoice_id", "payment_id", "customer_id", "applies_to"):
        if name in fields:
            values = [v for v in map(attrgetter(name), records) if v is not None]
            if values and _UNFIT.search(" ".join(values)):  # check_text
                raise _Refused
    for name in ("issue_date", "due_date", "paid_on"):
        if name in fields:
            dates = list(map(attrgetter(name), records))
            if min(dates) < MIN_DATE or max(dates) > MAX_DATE:  # check_date
                raise _Refused
    if not set(map(attrgetter("currency"), records)) <= get_settings().currency_codes:  # _known_currency
        raise _Refused
    if schema is InvoiceIn:
        if any(map(dt.date.__lt__, map(attrgetter("due_date"), records), map(attrgetter("issue_date"), records))):
            raise _Refused  # _due_after_issue
        if any(r.applies_to is not None and r.kind != "credit_note" for r in records):  # _only_credit_notes
            raise _Refused
    return records


class IngestBatch(_Record):
    customers: list[CustomerIn] = Field(default_factory=list)
    invoices: list[InvoiceIn] = Field(default_factory=list)
    payments: list[PaymentIn] = Field(default_factory=list)
    disputes: list[DisputeIn] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _by_columns(cls, data: Any, handler: ModelWrapValidatorHandler[IngestBatch]) -> IngestBatch:
        invoices = data.get("invoices", []) if isinstance(data, dict) else None
        payments = data.get("payments", []) if isinstance(data, dict) else None
        if not (isinstance(invoices, list) and isinstance(payments, list)
                and len(invoices) + len(payments) >= COLUMNS_MIN):
            return handler(data)
        with paused_gc(len(invoices) + len(payments)):
            try:
                fast = {"invoices": column_records(InvoiceIn, invoices),
                        "payments": column_records(PaymentIn, payments)}
                batch = handler({name: data[name] for name in ("customers", "disputes") if name in data})
            except (ValidationError, _Refused):
                return handler(data)  # the plain schemas' answer, every error of the batch in it
        batch.__dict__.update(fast)
        batch.__pydantic_fields_set__.update(name for name in fast if name in data)
        return batch


class IngestChanges(BaseModel):
    """What an ingestion changed that matters downstream (`ledger.effects` acts on it)."""

    customers: list[str] = []           # every customer the batch touched
    paid_invoices: list[str] = []       # open amount went down: paid or credited
    disputed_invoices: list[str] = []   # named by an active dispute of the batch
    promise_customers: list[str] = []   # their promises are re-evaluated (the batch paid)
    stopped_customers: list[str] = []   # sent on hold or insolvent: their reminders stop
    reallocated_customers: list[str] = []  # allocations replayed: records moved between invoices


class IngestResult(BaseModel):
    customers: dict[str, int]
    invoices: dict[str, int]
    payments: dict[str, int]
    disputes: dict[str, int]
    customers_reallocated: int
    # for the caller, not the client: left out of the answer and of the audit row
    changes: IngestChanges = Field(default_factory=IngestChanges, exclude=True)

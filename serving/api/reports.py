"""Reports: KPIs, ageing, DSO, dunning effectiveness, disputes, cash-in forecast (JSON or CSV).

Every report is computed as of `as_of` (default today) from events dated on or before it, for the
whole ledger or one customer segment, and answers twice over: in the reporting currency (each
currency converted at the rates in force on `as_of`; `rates`, `rate_date`, and `unconverted` for a
currency with no rate, which is then left out of the totals) and `by_currency` (one entry per
currency of the ledger, in that currency). `?format=csv` returns the report's main table, French
Excel by default (`&dialect=excel-en` for the other), one row set per scope and currency.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from ledger import forecast as forecasting
from ledger import kpis
from ledger.config import get_settings
from ledger.kpis import Lens
from serving.deps import Analyst, SessionDep, TodayDep, cash_provider
from serving.exports import Dialect, csv_response
from serving.inputs import AsOfDate as AsOf
from serving.ratelimit import RateLimited

# reports are for analysts and admins (the README's role table), and count against the key's rate limit
router = APIRouter(prefix="/api/v1", tags=["reports"], dependencies=[RateLimited])

Segment = Annotated[str | None, Query(max_length=64, description="customer segment")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
CsvDialect = Annotated[Dialect, Query(description="CSV: excel-fr (default: `;`, decimal comma, BOM) or excel-en")]
Currency = Annotated[str | None, Query(pattern="^[A-Za-z]{3}$",
                                       description="currency of the totals, default the REPORTING_CURRENCY setting")]
Days = Annotated[int, Query(ge=1, le=730, description="window N of the DSO and period KPIs, in days")]
Months = Annotated[int, Query(ge=1, le=36, description="months of DSO trend / CEI")]
# `?format=csv` answers the report's main table as CSV: the document says so
CSV_TOO = {200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}}
REPORTS = ("kpis", "aging", "dso", "dunning-effectiveness", "disputes", "cash-forecast")
Table = tuple[list[str], list[list]]


# --- currencies ----------------------------------------------------------------------------------

def _lenses(session: Session, as_of: dt.date, segment: str | None, currency: str | None) -> tuple[Lens, list[Lens]]:
    """The reporting-currency lens and one lens per currency of the ledger, sharing one cache."""
    to = (currency or get_settings().reporting_currency).upper()
    if to not in get_settings().currency_codes:
        raise kpis.ReportError("currency", f"{to!r} is not a configured currency "
                                           f"({', '.join(sorted(get_settings().currency_codes))})")
    cache: dict = {}
    codes = kpis.ledger_currencies(session=session, segment=segment)
    headline = Lens.reporting(session=session, as_of=as_of, currencies=codes, to=to, cache=cache)
    return headline, [Lens.only(code, cache) for code in codes]


@dataclass(frozen=True)
class _Query:
    """What every report route is asked: the date, the segment, the currency and the format."""

    session: Session
    as_of: dt.date
    segment: str | None
    currency: str | None
    format: str
    dialect: Dialect


def _query(session: SessionDep, today: TodayDep, as_of: AsOf = None, segment: Segment = None, format: Format = "json",
           dialect: CsvDialect = "excel-fr", currency: Currency = None) -> _Query:
    return _Query(session=session, as_of=as_of or today, segment=segment, currency=currency,
                  format=format, dialect=dialect)


ReportQuery = Annotated[_Query, Depends(_query)]


def _currency_header(lens: Lens) -> dict[str, Any]:
    days = get_settings().fx_max_age_days
    return {
        "reporting_currency": lens.currency,
        "rate_date": lens.rate_date,
        "rates": [{"currency": code, "rate": lens.rates[code], "rate_date": lens.rate_dates.get(code)}
                  for code in sorted(lens.rates) if code != lens.currency],
        "unconverted": [{"currency": code,
                         "reason": f"no {code}/{lens.currency} rate dated within {days} days before as_of: "
                                   f"left out of the totals, shown in by_currency"}
                        for code in lens.unconverted],
    }


def _encode(value: Any) -> Any:
    # money stays exact: Decimal as a string, as everywhere else in the API
    return jsonable_encoder(value, custom_encoder={Decimal: str})


def _report(build: Callable[[Lens], Any], query: _Query, name: str, table: Callable[[Any], Table],
            extra: dict | None = None) -> Response:
    """Build the report through every lens; answer JSON (headline + by_currency) or CSV."""
    headline, per = _lenses(query.session, query.as_of, query.segment, query.currency)
    fmt, dialect = query.format, query.dialect
    main = build(headline)
    others = [(lens, build(lens)) for lens in per]
    if fmt == "csv":
        return _csv(name, table, [(headline, "total", main)] + [(lens, "currency", r) for lens, r in others], dialect)
    body = _as_dict(main) | (extra or {}) | _currency_header(headline)
    body["by_currency"] = [{"currency": lens.currency, **_as_dict(report)} for lens, report in others]
    return JSONResponse(_encode(body))


def _as_dict(report: Any) -> dict:
    if isinstance(report, list):
        return {"rows": [asdict(item) for item in report]}
    return asdict(report)


def _csv(name: str, table: Callable[[Any], Table], parts: list[tuple[Lens, str, Any]], dialect: Dialect) -> Response:
    header: list[str] = []
    rows: list[list] = []
    for lens, scope, report in parts:
        header, body = table(report)
        rows += [[scope, lens.currency, *row] for row in body]
    return csv_response(["scope", "currency", *header], rows, name, dialect)


def _records(items: Sequence[Any], columns: Sequence[str]) -> Table:
    return list(columns), [[getattr(item, c) for c in columns] for item in items]


# --- main tables for CSV -------------------------------------------------------------------------

def _kpi_table(report: kpis.KpiReport) -> Table:
    d, a, p = report.dso, report.aging, report.period
    rows = [["dso", d.dso], ["count_back_dso", d.count_back_dso],
            ["best_possible_dso", d.best_possible_dso],
            ["average_days_delinquent", d.average_days_delinquent],
            ["receivables", a.total], ["overdue", a.overdue], ["overdue_rate", a.overdue_rate],
            ["average_days_late_paid", p.average_days_late_paid],
            ["share_paid_late", p.share_paid_late], ["recovery_rate", p.recovery_rate],
            ["cei_last_month", report.cei[-1].cei if report.cei else None]]
    return ["kpi", "value"], rows


def _dunning_table(rows: list[kpis.DunningEffect]) -> Table:
    header = ["step", "channel", "tone", "sent"]
    for w in kpis.WINDOWS:
        header += [f"eligible_{w}d", f"settled_{w}d", f"share_{w}d"]
    table = []
    for r in rows:
        line: list[Any] = [r.step, r.channel, r.tone, r.sent]
        for w in kpis.WINDOWS:
            line += [r.eligible[w], r.settled[w], r.share[w]]
        table.append(line)
    return header, table


def _dso_table(report: kpis.DsoReport) -> Table:
    return _records(report.trend, ["on", "to_date", "receivables", "current_receivables", "sales", "dso",
                                   "count_back_dso", "best_possible_dso", "average_days_delinquent"])


def _aging_by_table(rows: list[kpis.AgingRow]) -> Table:
    header = ["key", "name", "agent", "count", "total", "overdue", *kpis.BUCKETS]
    return header, [[r.key, r.name, r.agent, r.count, r.total, r.overdue, *(r.buckets[b] for b in kpis.BUCKETS)]
                    for r in rows]


# --- routes --------------------------------------------------------------------------------------

@router.get("/reports/kpis", responses=CSV_TOO)
def kpi_report(q: ReportQuery, _: Analyst, days: Days = 90, months: Months = 3) -> Response:
    """Headline KPIs: DSO, best possible DSO, ADD, ageing, overdue rate, CEI, recovery, top debtors."""
    return _report(lambda lens: kpis.kpis(session=q.session, as_of=q.as_of, segment=q.segment, days=days,
                                          months=months, lens=lens), q, "kpis", _kpi_table)


@router.get("/reports/aging", responses=CSV_TOO)
def aging_report(q: ReportQuery, principal: Analyst,
                 by: Annotated[Literal["bucket", "customer", "agent"],
                               Query(description="bucket (default), customer or agent")] = "bucket",
                 ) -> Response:
    """Ageing balance (balance âgée) by days past due; `by=customer` or `by=agent` per row."""
    if by == "bucket":
        return _report(lambda lens: kpis.aging(session=q.session, as_of=q.as_of, segment=q.segment, lens=lens),
                       q, "aging", lambda r: _records(r.buckets, ["bucket", "count", "amount", "share"]))
    agent = None  # reports are not for agents (analysts and admins see every customer)
    return _report(lambda lens: kpis.aging_by(session=q.session, as_of=q.as_of, by=by, segment=q.segment,
                                              agent=agent, lens=lens),
                   q, f"aging-by-{by}", _aging_by_table, extra={"as_of": q.as_of, "segment": q.segment, "by": by})


@router.get("/reports/dso", responses=CSV_TOO)
def dso_report(q: ReportQuery, _: Analyst, days: Days = 90, months: Months = 12) -> Response:
    """DSO (standard and count-back), best possible DSO and ADD: month ends, then as_of (to date)."""
    return _report(lambda lens: kpis.dso(session=q.session, as_of=q.as_of, segment=q.segment, days=days,
                                         months=months, lens=lens), q, "dso", _dso_table)


@router.get("/reports/dunning-effectiveness", responses=CSV_TOO)
def dunning_report(q: ReportQuery, _: Analyst,
                   days: Annotated[int, Query(ge=1, le=3660, description="reminders sent in the last N days")] = 365,
                   ) -> Response:
    """Share of reminded invoices settled within 7/14/30 days, per step, channel and tone."""
    return _report(lambda lens: kpis.dunning_effectiveness(session=q.session, as_of=q.as_of, segment=q.segment,
                                                           days=days, lens=lens),
                   q, "dunning-effectiveness", _dunning_table, extra={"as_of": q.as_of, "segment": q.segment})


@router.get("/reports/disputes", responses=CSV_TOO)
def dispute_report(q: ReportQuery, _: Analyst) -> Response:
    """Disputes (litiges) by reason: opened, open, resolved, open amount, ages."""
    columns = ["reason", "opened", "open", "resolved", "open_amount", "average_open_age_days",
               "average_resolution_days"]
    return _report(lambda lens: kpis.disputes(session=q.session, as_of=q.as_of, segment=q.segment, lens=lens),
                   q, "disputes", lambda r: _records(r, columns), extra={"as_of": q.as_of, "segment": q.segment})


@router.get("/reports/cash-forecast", responses=CSV_TOO)
def cash_forecast_report(request: Request, q: ReportQuery, _: Analyst) -> Response:
    """Expected cash-in per week for the next 13 weeks, with a low–high range."""
    provider = cash_provider(request)
    predicted = provider(q.session, q.as_of) if provider is not None else None
    return _report(lambda lens: forecasting.cash_forecast(session=q.session, as_of=q.as_of, predicted=predicted,
                                                          segment=q.segment, lens=lens),
                   q, "cash-forecast", lambda r: _records(r.weeks, ["week", "start", "end", "expected", "low", "high"]))


@router.get("/reports/{name}", include_in_schema=False)
def unknown_report(name: str, _: Analyst) -> Response:
    """Any other report name: 404 with the list of reports."""
    raise HTTPException(404, f"unknown report {name!r}: one of {', '.join(REPORTS)}")

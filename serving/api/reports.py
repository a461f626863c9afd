"""Reports: KPIs, ageing, DSO, dunning effectiveness, disputes, cash-in forecast (JSON or CSV).

Every report is computed as of `as_of` (default today) from events dated on or before it, for the
whole ledger or one customer segment. `?format=csv` returns the report's main table.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from ledger import forecast as forecasting
from ledger import kpis
from serving.deps import Reader, SessionDep, cash_provider
from serving.inputs import AsOfDate as AsOf

router = APIRouter(prefix="/api/v1", tags=["reports"])

Segment = Annotated[str | None, Query(max_length=64, description="customer segment")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
Days = Annotated[int, Query(ge=1, le=730, description="window N of the DSO and period KPIs, in days")]
Months = Annotated[int, Query(ge=1, le=36, description="months of DSO trend / CEI")]
# `?format=csv` answers the report's main table as CSV: the document says so
CSV_TOO = {200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}}
REPORTS = ("kpis", "aging", "dso", "dunning-effectiveness", "disputes", "cash-forecast")


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})


def _answer(report: Any, fmt: str, name: str, table: Callable[[Any], tuple[list[str], list[list]]]) -> Response:
    if fmt == "csv":
        header, rows = table(report)
        return _csv(header, rows, name)
    return JSONResponse(_encode(asdict(report)))


def _encode(value: Any) -> Any:
    # money stays exact: Decimal as a string, as everywhere else in the API
    return jsonable_encoder(value, custom_encoder={Decimal: str})


def _records(items: Sequence[Any], columns: Sequence[str]) -> tuple[list[str], list[list]]:
    return list(columns), [[getattr(item, c) for c in columns] for item in items]


# --- main tables for CSV -------------------------------------------------------------------------

def _kpi_table(report: kpis.KpiReport) -> tuple[list[str], list[list]]:
    d, a, p = report.dso, report.aging, report.period
    rows = [["dso", d.dso], ["count_back_dso", d.count_back_dso],
            ["best_possible_dso", d.best_possible_dso],
            ["average_days_delinquent", d.average_days_delinquent],
            ["receivables", a.total], ["overdue", a.overdue], ["overdue_rate", a.overdue_rate],
            ["average_days_late_paid", p.average_days_late_paid],
            ["share_paid_late", p.share_paid_late], ["recovery_rate", p.recovery_rate],
            ["cei_last_month", report.cei[-1].cei if report.cei else None]]
    return ["kpi", "value"], rows


def _dunning_table(rows: list[kpis.DunningEffect]) -> tuple[list[str], list[list]]:
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


def _dso_table(report: kpis.DsoReport) -> tuple[list[str], list[list]]:
    return _records(report.trend, ["on", "receivables", "current_receivables", "sales", "dso",
                                   "count_back_dso", "best_possible_dso", "average_days_delinquent"])


@router.get("/reports/kpis", responses=CSV_TOO)
def kpi_report(session: SessionDep, _: Reader, as_of: AsOf = None, segment: Segment = None,
               format: Format = "json", days: Days = 90, months: Months = 3) -> Response:
    """Headline KPIs: DSO, best possible DSO, ADD, ageing, overdue rate, CEI, recovery, top debtors."""
    report = kpis.kpis(session=session, as_of=as_of or dt.date.today(), segment=segment,
                       days=days, months=months)
    return _answer(report, format, "kpis", _kpi_table)


@router.get("/reports/aging", responses=CSV_TOO)
def aging_report(session: SessionDep, _: Reader, as_of: AsOf = None, segment: Segment = None,
                 format: Format = "json") -> Response:
    """Ageing balance (balance âgée) by days past due, with counts and amounts."""
    report = kpis.aging(session=session, as_of=as_of or dt.date.today(), segment=segment)
    return _answer(report, format, "aging",
                   lambda r: _records(r.buckets, ["bucket", "count", "amount", "share"]))


@router.get("/reports/dso", responses=CSV_TOO)
def dso_report(session: SessionDep, _: Reader, as_of: AsOf = None, segment: Segment = None,
               format: Format = "json", days: Days = 90, months: Months = 12) -> Response:
    """DSO (standard and count-back), best possible DSO and ADD, with a monthly trend."""
    report = kpis.dso(session=session, as_of=as_of or dt.date.today(), segment=segment,
                      days=days, months=months)
    return _answer(report, format, "dso", _dso_table)


def _list_answer(items: list, fmt: str, name: str, as_of: dt.date, segment: str | None,
                 table: Callable[[list], tuple[list[str], list[list]]]) -> Response:
    if fmt == "csv":
        header, rows = table(items)
        return _csv(header, rows, name)
    return JSONResponse(_encode({"as_of": as_of, "segment": segment,
                                 "rows": [asdict(item) for item in items]}))


@router.get("/reports/dunning-effectiveness", responses=CSV_TOO)
def dunning_report(session: SessionDep, _: Reader, as_of: AsOf = None, segment: Segment = None,
                   format: Format = "json",
                   days: Annotated[int, Query(ge=1, le=3660, description="reminders sent in the last N days")] = 365,
                   ) -> Response:
    """Share of reminded invoices settled within 7/14/30 days, per step, channel and tone."""
    as_of = as_of or dt.date.today()
    rows = kpis.dunning_effectiveness(session=session, as_of=as_of, segment=segment, days=days)
    return _list_answer(rows, format, "dunning-effectiveness", as_of, segment, _dunning_table)


@router.get("/reports/disputes", responses=CSV_TOO)
def dispute_report(session: SessionDep, _: Reader, as_of: AsOf = None, segment: Segment = None,
                   format: Format = "json") -> Response:
    """Disputes (litiges) by reason: opened, open, resolved, open amount, ages."""
    as_of = as_of or dt.date.today()
    rows = kpis.disputes(session=session, as_of=as_of, segment=segment)
    columns = ["reason", "opened", "open", "resolved", "open_amount", "average_open_age_days",
               "average_resolution_days"]
    return _list_answer(rows, format, "disputes", as_of, segment, lambda r: _records(r, columns))


@router.get("/reports/cash-forecast", responses=CSV_TOO)
def cash_forecast_report(request: Request, session: SessionDep, _: Reader, as_of: AsOf = None,
                         segment: Segment = None, format: Format = "json") -> Response:
    """Expected cash-in per week for the next 13 weeks, with a low–high range."""
    as_of = as_of or dt.date.today()
    provider = cash_provider(request)
    predicted = provider(session, as_of) if provider is not None else None
    report = forecasting.cash_forecast(session=session, as_of=as_of, predicted=predicted,
                                       segment=segment)
    return _answer(report, format, "cash-forecast",
                   lambda r: _records(r.weeks, ["week", "start", "end", "expected", "low", "high"]))


@router.get("/reports/{name}", include_in_schema=False)
def unknown_report(name: str, _: Reader) -> Response:
    """Any other report name: 404 with the list of reports."""
    raise HTTPException(404, f"unknown report {name!r}: one of {', '.join(REPORTS)}")

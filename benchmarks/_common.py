"""Shared bits of the benchmark scripts: the `--quick` flag, the machine and its load, peak memory,
the results file, a table, and the one JSON line every script ends with.

The JSON line (the last line of standard output) holds the script's figures, flat, with units in
their names (`_s`, `_ms`, `_per_s`), and for each figure that has one, the anchor measured in the
same run and their ratio (figure / anchor): on a shared machine absolute times move with the load,
the ratio to work done beside it much less. `make bench` runs every script with `--quick`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with `--quick`: smaller sizes, under a minute, results file untouched."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, under 60 s; prints the JSON line, leaves results/ alone")
    return parser


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def load() -> list[float]:
    """The 1, 5 and 15-minute load averages: the machine is shared, figures are read beside them."""
    return [round(x, 2) for x in os.getloadavg()]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return f"load average: {', '.join(map(str, load()))}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ratio(figure: float | None, anchor: float | None) -> float | None:
    if figure is None or not anchor:
        return None
    return round(figure / anchor, 3)


def emit(benchmark: str, figures: dict, *, quick: bool, ratios: dict[str, tuple[str, str]] | None = None,
         **extra) -> dict:
    """Print the one JSON line: `figures`, then each `ratios` name = figures[a] / figures[b]
    (the figure and its same-run anchor), the anchors named, the load and the machine."""
    line: dict = {"benchmark": benchmark, "quick": quick, **figures}
    anchors = {}
    for name, (figure, anchor) in (ratios or {}).items():
        line[name] = ratio(figures.get(figure), figures.get(anchor))
        anchors[figure] = anchor
    line |= {"anchors": anchors, "load": load(), "cpus": os.cpu_count(), **extra}
    print(json.dumps(line, separators=(",", ":"), default=str), flush=True)
    return line


def write_results(name: str, document: dict, *, quick: bool) -> None:
    """benchmarks/results/<name>.json keeps the full-size figures: a quick run leaves it alone."""
    if quick:
        return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2, default=str) + "\n")


def report(name: str, rows: list[dict], *, title: str, quick: bool = False) -> None:
    write_results(name, {"machine": machine(), "load": load(), "results": rows}, quick=quick)
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row.values()))
    Console(stderr=True, width=160).print(table)

"""The benchmark's one table: each line the median of the runs, with min-max, and notes."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.e2e_run import RunOutcome


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (inf values count: a lost sample is slower than any)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Line:
    """One printed line of a row: a figure key of its runs, and how to show it."""

    label: str
    key: str
    unit: str


@dataclass
class Row:
    """A row of the table: its lines and the outcome of each run."""

    number: str
    title: str
    lines: list[Line]
    outcomes: list[RunOutcome] = field(default_factory=list)
    notes: bool = True
    stopped: bool = False
    """True after a run failed slowly: the row's later runs are not made."""
    """False: the notes are another row's (the CPU rows share the throughput rows' runs)."""


def _fmt(value: float, unit: str) -> str:
    if math.isinf(value):
        return "inf"
    if unit == "ms":
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{value:.0f}"


def _cells(row: Row, line: Line, first: bool) -> tuple[str, str]:
    values = [o.figures[line.key] for o in row.outcomes if line.key in o.figures]
    if not values:
        if not first:
            return "n/a", ""
        errors = sorted({o.error for o in row.outcomes if o.error}) or ["no run made"]
        return f"n/a ({'; '.join(errors)})", ""
    median = statistics.median(values)
    spread = f"{_fmt(min(values), line.unit)}-{_fmt(max(values), line.unit)}"
    return f"{_fmt(median, line.unit)} {line.unit}", spread if len(values) > 1 else ""


def _notes(row: Row) -> str:
    said = [
        "; ".join([*o.notes, *([f"FAILED: {o.error}"] if o.error else [])]) for o in row.outcomes
    ]
    if not any(said):
        return ""
    if len(set(said)) == 1:
        return said[0]
    return " | ".join(f"run {i}: {text or '-'}" for i, text in enumerate(said, 1))


def render(rows: Sequence[Row]) -> str:
    """The table, then the notes of each row (numbered as the table's last column)."""
    header = ("#", "measure", "median", "min-max", "runs", "note")
    body: list[tuple[str, ...]] = []
    notes: list[str] = []
    for row in rows:
        text = _notes(row) if row.notes else ""
        ref = ""
        if text:
            notes.append(text)
            ref = f"[{len(notes)}]"
        ok = sum(1 for o in row.outcomes if not o.error)
        for i, line in enumerate(row.lines):
            first = i == 0
            median, spread = _cells(row, line, first)
            body.append(
                (
                    row.number if first else "",
                    f"{row.title}: {line.label}" if first else f"  {line.label}",
                    median,
                    spread,
                    f"{ok}/{len(row.outcomes)}" if first else "",
                    ref if first else "",
                )
            )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def show(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [show(header), "  ".join("-" * w for w in widths)]
    out += [show(r) for r in body]
    if notes:
        out.append("")
        out += [f"[{i}] {text}" for i, text in enumerate(notes, 1)]
    return "\n".join(out)
